"""`gridbot run` in live mode against the local exchange on 127.0.0.1: start -> ready, steady RSS and its
growth over a simulated week of 5-minute candles, CPU per cycle, the idle CPU share at a 5 s poll, and the
size and time of an online backup of the week's store.

Goals: ready <= 1 s, RSS <= 60 MB with growth ~0. The week runs twice: the bot as a process of this venv, and
as PID 1 of the amd64 image in the container the deploy role runs (its hardening flags and limits, the image's
own Python and libraries) when that image is built (`make image ARCH=amd64`). The exchange's clock is driven
(`--speed 0` + /admin/step), one candle per bot decision, so a week takes minutes. Prints figures only.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gridbot_exchange.testing import Admin, start

from gridbot import contract
from gridbot.ops import backup

# the tests' own readers of a bot's endpoints and the deploy role's docker flags
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from endpoints import free_port, get
from hardened import HARDENED

WEEK_5M = 7 * 24 * 12
TICK = os.sysconf("SC_CLK_TCK")
IMAGE = "gridbot:latest-amd64"


def rss_mb(pid: int) -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


class Bot:
    """One `gridbot run` against the exchange at `base`: a process of this venv, or the image's PID 1."""

    def __init__(self, tmp: Path, base: str, cycle_seconds: float, image: str | None = None) -> None:
        self.port, self.image = free_port(), image
        (tmp / "cred").write_text("GRIDBOT_API_KEY=bench\nGRIDBOT_API_SECRET=bench-secret\n")
        run = {"data": "exchange", "cycle_seconds": cycle_seconds, "http_port": self.port}
        exchange = {"api_url": base, "throttle": False}
        if image is None:
            exchange["credentials_file"] = str(tmp / "cred")
            run |= {"state_dir": str(tmp / "data"), "heartbeat_file": str(tmp / "beat")}
        cfg = {"mode": "live", "exchange": exchange, "run": run, "risk": {"max_price_age": "30d"}}
        (tmp / "bot.yml").write_text(json.dumps(cfg))
        if image is None:
            argv = [sys.executable, "-m", "gridbot.cli", "run", "-c", str(tmp / "bot.yml")]
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.pid = self.proc.pid
            return
        for f in ("bot.yml", "cred"):
            (tmp / f).chmod(0o644)
        self.name = f"gridbot-bench-live-{os.getpid()}"
        subprocess.run(["docker", "run", "-d", "--name", self.name, "--network", "host", *HARDENED,
                        "-v", f"{tmp / 'bot.yml'}:{contract.CONFIG_FILE}:ro",
                        "-v", f"{tmp / 'cred'}:{contract.CREDENTIALS_FILE}:ro",
                        image, "run", "-c", str(contract.CONFIG_FILE)],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        inspect = ["docker", "inspect", "-f", "{{.State.Pid}}", self.name]
        self.pid = int(subprocess.run(inspect, check=True, capture_output=True, text=True).stdout)

    def stop(self) -> None:
        if self.image is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        else:
            subprocess.run(["docker", "rm", "-f", "-v", self.name], check=True, stdout=subprocess.DEVNULL)


def image_built() -> bool:
    inspect = ["docker", "image", "inspect", IMAGE]
    return subprocess.run(inspect, check=False, capture_output=True).returncode == 0


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


def ready(bot: Bot) -> float:
    t0 = time.monotonic()
    while True:
        try:
            if get(bot.port, "/readyz")[0] == 200:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.005)


def week(label: str, image: str | None) -> None:
    with tempfile.TemporaryDirectory() as d:
        ex, base = start("--speed", "0", "--account", "bench:bench-secret", "--balance", "USDT=1000")
        admin = Admin(base)
        tmp = Path(d)
        try:
            bot = Bot(tmp, base, 0.02, image)
            try:
                took = ready(bot)
                # Candle by candle (a fresh bot takes only the newest of several new candles): an hour in,
                # the grid is placed and the loop has run its paths once; then the rest of the week.
                step(admin, bot.port, 1, 12)
                rss0, cpu0, t1 = rss_mb(bot.pid), cpu_s(bot.pid), time.monotonic()
                peak = rss0
                for day in range(7):
                    step(admin, bot.port, max(13, day * 288 + 1), (day + 1) * 288)
                    peak = max(peak, rss_mb(bot.pid))
                week_s, week_cpu = time.monotonic() - t1, cpu_s(bot.pid) - cpu0
                rss1 = rss_mb(bot.pid)
                status = json.loads(get(bot.port, "/status")[1])
                if image is None:
                    backed_up(tmp / "data", label)
            finally:
                bot.stop()
            print(f"live {label}: start -> ready (markets loaded, reconciled) {took:.2f} s (goal <= 1 s)")
            print(f"live {label}: RSS after an hour {rss0:.1f} MB, after a week {rss1:.1f} MB "
                  f"(peak {peak:.1f}), growth {rss1 - rss0:+.1f} MB (goal <= 60 MB, ~0)")  # fmt: skip
            cycles = WEEK_5M - 12
            print(f"live {label}: week of {cycles} candles in {week_s:.0f} s, {status['round_trips']} round "
                  f"trips, {len(admin.call('GET', 'orders?key=bench'))} orders; "  # type: ignore[arg-type]
                  f"CPU {week_cpu / cycles * 1000:.1f} ms per candle cycle")  # fmt: skip
            if image is None:
                idle(tmp, base)
        finally:
            ex.kill()
            ex.communicate(timeout=10)


def backed_up(state_dir: Path, label: str) -> None:
    """The week's store backed up while the bot runs (as the role's daily timer does): its size and time."""
    t0 = time.monotonic()
    b = backup.take_backup(state_dir, state_dir.parent / "backups", "gridbot", "BTC/USDT")
    took = time.monotonic() - t0
    con = sqlite3.connect(f"file:{b.path}?mode=ro", uri=True)
    try:
        fills, orders = (con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("fills", "orders"))
    finally:
        con.close()
    print(f"live {label}: the week's store ({fills} fills, {orders} orders) backed up online in "
          f"{took * 1000:.0f} ms: {b.size / 1024:.0f} KiB")  # fmt: skip


def idle(tmp: Path, base: str) -> None:
    """A 5 s poll with no new candle (the exchange's clock stands), over 6 cycles."""
    bot = Bot(tmp, base, 5.0)
    try:
        while candles(bot.port) < WEEK_5M:
            time.sleep(0.05)
        time.sleep(1)
        cpu0, t1 = cpu_s(bot.pid), time.monotonic()
        time.sleep(30)
        share = (cpu_s(bot.pid) - cpu0) / (time.monotonic() - t1)
        print(f"live idle at a 5 s poll: {share * 100:.2f} % of a core, "
              f"{share * 5 * 1000:.1f} ms CPU per cycle, RSS {rss_mb(bot.pid):.1f} MB")  # fmt: skip
    finally:
        bot.stop()


def main() -> None:
    week("(venv process)", None)
    if image_built():
        week(f"({IMAGE}, PID 1, hardened)", IMAGE)
    else:
        print(f"live ({IMAGE}): not built (make image ARCH=amd64)")


if __name__ == "__main__":
    main()
