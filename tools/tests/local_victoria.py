"""Debian's VictoriaMetrics (tools/host/prom-tools.sh) run on a free loopback port for a test, with a store of
its own: the status table's queries (test_fleet_status.py) and the rules' replay (vm_replay.py) run against
it."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class VictoriaMetrics:
    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, path: str, data: bytes | None = None, **query: Any) -> bytes:
        url = f"{self.url}{path}?{urllib.parse.urlencode(query, doseq=True)}"
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as r:
            body: bytes = r.read()
        return body

    def flush(self) -> None:
        """What was imported, searchable at once."""
        self.call("/internal/force_flush")


@contextmanager
def victoria_metrics(binary: Path, data_dir: Path, *flags: str) -> Iterator[VictoriaMetrics]:
    """The server, once its /health answers OK; `flags` are VictoriaMetrics' own, added to the defaults."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, f"-storageDataPath={data_dir}", f"-httpListenAddr=127.0.0.1:{port}", "-loggerLevel=ERROR",
         *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    vm = VictoriaMetrics(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if vm.call("/health").strip() == b"OK":
                    break
            except OSError:
                said = (
                    proc.stderr.read().decode(errors="replace")
                    if proc.poll() is not None and proc.stderr
                    else ""
                )
                assert proc.poll() is None, f"victoria-metrics exited: {said}"
            assert time.monotonic() < deadline, "victoria-metrics did not answer /health within 30 s"
            time.sleep(0.1)
        yield vm
    finally:
        proc.terminate()
        proc.wait(timeout=30)
