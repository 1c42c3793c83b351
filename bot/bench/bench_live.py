"""`gridbot run` in live mode against the local exchange on 127.0.0.1: start -> ready, steady RSS and its
growth over a simulated week of 5-minute candles, CPU per cycle, and the idle CPU share at a 5 s poll.

Goals (amd64): ready <= 1 s, RSS <= 60 MB with growth ~0. The exchange's clock is driven (`--speed 0` +
/admin/step), one candle per bot decision, so a week takes minutes. Prints figures only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gridbot_exchange.testing import Admin, start

# the tests' own readers of a bot's endpoints
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from endpoints import free_port, get

WEEK_5M = 7 * 24 * 12
TICK = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def bot(tmp: Path, base: str, cycle_seconds: float) -> tuple[subprocess.Popen, int]:
    port = free_port()
    (tmp / "cred").write_text("GRIDBOT_API_KEY=bench\nGRIDBOT_API_SECRET=bench-secret\n")
    exchange = {"api_url": base, "credentials_file": str(tmp / "cred"), "throttle": False}
    cfg = {"mode": "live", "exchange": exchange,
           "run": {"data": "exchange", "cycle_seconds": cycle_seconds, "state_dir": str(tmp / "data"),
                   "heartbeat_file": str(tmp / "beat"), "http_port": port},
           "risk": {"max_price_age": "30d"}}  # fmt: skip
    (tmp / "bot.yml").write_text(json.dumps(cfg))
    proc = subprocess.Popen([sys.executable, "-m", "gridbot.cli", "run", "-c", str(tmp / "bot.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return proc, port


def candles(port: int) -> int:
    try:
        return int(json.loads(get(port, "/status")[1]).get("candles", 0))
    except (OSError, ValueError):
        return 0


def step(admin: Admin, port: int, first: int, last: int) -> None:
    """Candles first..last, each once the bot has decided on the one before."""
    for k in range(first, last + 1):
        admin.step(candles=1)
        while candles(port) < k:
            time.sleep(0.002)


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        ex, base = start("--speed", "0", "--account", "bench:bench-secret", "--balance", "USDT=1000")
        admin = Admin(base)
        tmp = Path(d)
        try:
            proc, port = bot(tmp, base, 0.02)
            t0 = time.monotonic()
            while True:
                try:
                    if get(port, "/readyz")[0] == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.005)
            ready = time.monotonic() - t0
            # Candle by candle (a fresh bot takes only the newest of several new candles): an hour in, the
            # grid is placed and the loop has run its paths once; then the rest of the week.
            step(admin, port, 1, 12)
            rss0, cpu0, t1 = rss_mb(proc.pid), cpu_s(proc.pid), time.monotonic()
            peak = rss0
            for day in range(7):
                step(admin, port, max(13, day * 288 + 1), (day + 1) * 288)
                peak = max(peak, rss_mb(proc.pid))
            week_s, week_cpu = time.monotonic() - t1, cpu_s(proc.pid) - cpu0
            rss1 = rss_mb(proc.pid)
            status = json.loads(get(port, "/status")[1])
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            print(f"live start -> ready (markets loaded, reconciled): {ready:.2f} s (goal <= 1 s)")
            print(f"live RSS after an hour {rss0:.1f} MB, after a week {rss1:.1f} MB (peak {peak:.1f}), "
                  f"growth {rss1 - rss0:+.1f} MB (goal <= 60 MB, ~0)")  # fmt: skip
            cycles = WEEK_5M - 12
            print(f"live week: {cycles} candles in {week_s:.0f} s, {status['round_trips']} round trips, "
                  f"{len(admin.call('GET', 'orders?key=bench'))} orders; "  # type: ignore[arg-type]
                  f"CPU {week_cpu / cycles * 1000:.1f} ms per candle cycle")  # fmt: skip

            # Idle: a 5 s poll with no new candle (the exchange's clock stands), over 6 cycles.
            proc, port = bot(tmp, base, 5.0)
            while candles(port) < WEEK_5M:
                time.sleep(0.05)
            time.sleep(1)
            cpu0, t1 = cpu_s(proc.pid), time.monotonic()
            time.sleep(30)
            share = (cpu_s(proc.pid) - cpu0) / (time.monotonic() - t1)
            print(f"live idle at a 5 s poll: {share * 100:.2f} % of a core, "
                  f"{share * 5 * 1000:.1f} ms CPU per cycle, RSS {rss_mb(proc.pid):.1f} MB")  # fmt: skip
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        finally:
            ex.kill()
            ex.communicate(timeout=10)


if __name__ == "__main__":
    main()
