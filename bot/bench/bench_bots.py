"""Eight live bots on one host (#63), as the gridbot role runs them: each its own process, store and account
on one exchange (the local one, on 127.0.0.1, in real time), polling every 5 s, each pacing its calls to its
share of the IP's request weight (`exchange.bots_per_ip: 8`, as the role sets it for a host's bots).

Figures over a minute after the bots have loaded: each bot's resident memory (now and its peak), their CPU
together as a share of one core, and their request weight together a minute, from their own metrics
(`gridbot_api_requests_total` times Binance's weight of each method), against the share the config allows
(`weight_limit_1m * weight_share_pct`). On this controller's amd64; a Pi's arm64 cores are slower, its
memory the same. Prints figures only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gridbot_exchange.testing import start

from gridbot.config.model import ExchangeConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_weight import requests_by_method, weight
from endpoints import free_port

BOTS = 8
POLL_S = 5.0
SECONDS = 60.0
TICKS = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def cpu_s(pid: int) -> float:
    """User and system CPU seconds of the process so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    after = stat[stat.rindex(")") + 2 :].split()
    return (int(after[11]) + int(after[12])) / TICKS


def main() -> None:
    accounts = [f"bench{i}:bench-secret-{i}" for i in range(BOTS)]
    ex, base = start(
        "--speed", "1", *(a for acc in accounts for a in ("--account", acc)), "--balance", "USDT=1000"
    )
    bots: list[tuple[subprocess.Popen[bytes], int]] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        try:
            for i, acc in enumerate(accounts):
                key, secret = acc.split(":")
                (tmp / f"cred{i}").write_text(f"GRIDBOT_API_KEY={key}\nGRIDBOT_API_SECRET={secret}\n")
                port = free_port()
                cfg = {
                    "mode": "live",
                    "exchange": {"api_url": base, "credentials_file": str(tmp / f"cred{i}"),
                                 "bots_per_ip": BOTS},
                    "run": {"data": "exchange", "state_dir": str(tmp / f"data{i}"), "bot_id": f"bench{i}",
                            "heartbeat_file": str(tmp / f"beat{i}"), "http_port": port,
                            "cycle_seconds": POLL_S},
                    "risk": {"max_price_age": "30d"},
                }  # fmt: skip
                (tmp / f"bot{i}.yml").write_text(json.dumps(cfg))
                argv = [sys.executable, "-m", "gridbot.cli", "run", "-c", str(tmp / f"bot{i}.yml")]
                proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                bots.append((proc, port))
            for proc, port in bots:
                while True:
                    assert proc.poll() is None, f"a bot exited ({proc.returncode}) before it loaded"
                    try:
                        if requests_by_method(port).get("candles"):
                            break
                    except OSError:
                        pass
                    time.sleep(0.5)
            time.sleep(3 * POLL_S)  # past the start's loading and first placements
            before = [(requests_by_method(port), cpu_s(proc.pid)) for proc, port in bots]
            t0 = time.monotonic()
            time.sleep(SECONDS)
            after = [(requests_by_method(port), cpu_s(proc.pid)) for proc, port in bots]
            took = time.monotonic() - t0
            memory = [rss_mb(proc.pid) for proc, _ in bots]
        finally:
            for proc, _ in bots:
                proc.terminate()
            for proc, _ in bots:
                proc.wait(timeout=30)
            ex.kill()
            ex.communicate(timeout=10)
    cpu_pct = sum(a[1] - b[1] for a, b in zip(after, before, strict=True)) * 100 / took
    per_min = sum(weight(a[0]) - weight(b[0]) for a, b in zip(after, before, strict=True)) * 60 / took
    limits = ExchangeConfig(bots_per_ip=BOTS).weight_budget_1m
    assert limits is not None
    print(
        f"bench_bots: {BOTS} live bots on one host, a {POLL_S:.0f} s poll, each on its own account (amd64):"
    )
    print(f"  RSS per bot      {min(m[0] for m in memory):.1f}-{max(m[0] for m in memory):.1f} MB now, "
          f"peak {max(m[1] for m in memory):.1f} MB (goal <= 60 each)")  # fmt: skip
    print(f"  CPU together     {cpu_pct:.1f} % of one core (goal <= 5)")
    print(f"  weight together  {per_min:.0f} a minute (the share they pace to: {limits[1]:.0f}; "
          f"each {limits[0]:.0f})")  # fmt: skip


if __name__ == "__main__":
    main()
