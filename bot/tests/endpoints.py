"""Reading a running bot's HTTP endpoints from a test: its port, a GET, one Prometheus sample."""

from __future__ import annotations

import random
import socket
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range: a port the kernel hands out (bind to 0) can be
    taken as the source port of any outgoing connection before the bot binds it, and on a busy machine (make
    test's lanes: VMs, containers, Ansible) one was."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(max(1024, low - 12000), low), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in the 12000 below {low}")


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def sample(text: str, name: str, labels: str = "") -> float:
    """One sample of a Prometheus exposition, e.g. sample(t, 'gridbot_open_orders', 'side="buy"')."""
    want = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no sample {want} in /metrics")
