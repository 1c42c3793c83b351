"""A live bot's request weight a minute at the default 1 s cycle, against the local exchange on 127.0.0.1 run
60 times faster than real time (a 5-minute candle closes every 5 s of wall time: a strict case, twelve times
as many candles a minute as live Binance gives).

The weight is counted from the bot's own metrics: each method's calls (`gridbot_api_requests_total`) times
Binance's documented weight of it (`live.weights.WEIGHTS`), so the figure reads alike on a bot from before the
weight metric existed. Binance allows 6,000 a minute per IP. Prints figures only.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from gridbot_exchange.testing import start

from gridbot.live.weights import weight_of

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from endpoints import free_port

SECONDS = 60.0


def requests_by_method(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, float] = {}
    for method, n in re.findall(
        r'^gridbot_api_requests_total\{[^}]*method="([a-z_]+)"[^}]*\} ([0-9.e+]+)$', text, re.M
    ):
        out[method] = out.get(method, 0.0) + float(n)
    return out


def weight(counts: dict[str, float]) -> float:
    return sum(weight_of(m) * n for m, n in counts.items())


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ex, base = start("--speed", "60", "--account", "bench:bench-secret", "--balance", "USDT=1000")
        port = free_port()
        (tmp / "cred").write_text("GRIDBOT_API_KEY=bench\nGRIDBOT_API_SECRET=bench-secret\n")
        cfg = {
            "mode": "live",
            "exchange": {"api_url": base, "credentials_file": str(tmp / "cred")},
            "run": {"data": "exchange", "state_dir": str(tmp / "data"), "heartbeat_file": str(tmp / "beat"),
                    "http_port": port},
            "risk": {"max_price_age": "30d"},
        }  # fmt: skip
        (tmp / "bot.yml").write_text(json.dumps(cfg))
        bot = subprocess.Popen([sys.executable, "-m", "gridbot.cli", "run", "-c", str(tmp / "bot.yml")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            while True:
                try:
                    first = requests_by_method(port)
                    if first.get("candles"):
                        break
                except OSError:
                    pass
                time.sleep(0.2)
            time.sleep(10)  # past the start's loading
            before, t0 = requests_by_method(port), time.monotonic()
            time.sleep(SECONDS)
            after, took = requests_by_method(port), time.monotonic() - t0
        finally:
            bot.terminate()
            bot.wait(timeout=30)
            ex.kill()
            ex.communicate(timeout=10)
    per_min = {m: (after.get(m, 0) - before.get(m, 0)) * weight_of(m) * 60 / took for m in after}
    total = weight(after) - weight(before)
    print(f"bench_weight: a live bot at a 1 s cycle, 5-minute candles closing every 5 s: "
          f"{total * 60 / took:.0f} weight a minute (Binance's limit: 6000 per IP)")  # fmt: skip
    for m, w in sorted(per_min.items(), key=lambda kv: -kv[1]):
        if w:
            print(f"  {m:14s} {w:7.0f} a minute")


if __name__ == "__main__":
    main()
