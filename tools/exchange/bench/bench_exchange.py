"""Local exchange benchmark: requests/s an unmodified ccxt.binance client sustains (signed order placement,
open-order polls) and the server's RSS over a simulated week of grid trading, stepped through the admin API.

Prints figures; run by `make bench`. Loopback only."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import ccxt

SYMBOL = "BTC/USDT"
WEEK_CANDLES = 7 * 24 * 12  # 5-minute candles
LEVELS = 8
GAP = 0.002  # grid spacing, fraction of price


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def admin(base: str, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + "/admin/" + path, data=data, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def client(base: str) -> ccxt.binance:
    ex = ccxt.binance(
        {
            "apiKey": "bench",
            "secret": "bench-secret",
            "timeout": 10_000,
            # ccxt's own throttle (binance: 50 ms per request weight) would cap the figure at ~20 req/s:
            # measure the server, not the client's politeness.
            "enableRateLimit": False,
            "options": {"fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": ["spot"]}},
        }
    )
    ex.urls["api"] = {"public": base + "/api/v3", "private": base + "/api/v3"}
    ex.load_markets()
    return ex


def rate(n: int, fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - t0)


def throughput(base: str) -> None:
    ex = client(base)
    place = rate(150, lambda i: ex.create_order(SYMBOL, "limit", "buy", 0.001, 20000.0 + i))
    ex.private_delete_openorders({"symbol": "BTCUSDT"})
    for i in range(20):
        ex.create_order(SYMBOL, "limit", "sell", 0.001, 100000.0 + i)
    poll = rate(400, lambda _: ex.fetch_open_orders(SYMBOL))
    print(f"ccxt signed order placement: {place:7.0f} req/s  (limit orders, one client, keep-alive)")
    print(f"ccxt open-order polls:       {poll:7.0f} req/s  (20 open orders)")


def week(base: str, pid: int) -> None:
    """A grid bot's week: keep LEVELS buys and sells around the last price, re-place what filled."""
    admin(base, "POST", "reset")
    ex = client(base)
    rss0 = rss_mb(pid)
    t0 = time.perf_counter()
    day1 = 0.0
    for candle in range(WEEK_CANDLES):
        open_ = ex.fetch_open_orders(SYMBOL)
        if len(open_) < 2 * LEVELS:
            if open_:
                ex.private_delete_openorders({"symbol": "BTCUSDT"})
            last = float(ex.public_get_ticker_price({"symbol": "BTCUSDT"})["price"])
            for k in range(1, LEVELS + 1):
                ex.create_order(SYMBOL, "limit", "buy", 0.001, round(last * (1 - k * GAP), 2))
                ex.create_order(SYMBOL, "limit", "sell", 0.001, round(last * (1 + k * GAP), 2))
        admin(base, "POST", "step", {"candles": 1})
        if candle == 24 * 12:
            day1 = rss_mb(pid)
    state = admin(base, "GET", "state")
    print(
        f"simulated week ({WEEK_CANDLES} candles) in {time.perf_counter() - t0:.0f} s: "
        f"{state['orders_placed']} orders, {state['trades_total']} trades, "
        f"stored {state['orders_stored']} orders / {state['trades_stored']} trades (caps 2000/2000)"
    )
    print(f"server RSS: start {rss0:.1f} MB, after day 1 {day1:.1f} MB, after the week {rss_mb(pid):.1f} MB")


def main() -> int:
    exe = shutil.which("gridbot-exchange", path=str(Path(sys.executable).parent))
    if exe is None:
        print("gridbot-exchange is not installed (pip install -e tools/exchange)", file=sys.stderr)
        return 1
    proc = subprocess.Popen(
        [exe, "--port", "0", "--speed", "0", "--start-candle", "300", "--account", "bench:bench-secret",
         "--balance", "USDT=1000000", "--balance", "BTC=100", "--max-orders", "2000", "--max-trades", "2000",
         "--rate-limits", "off"],  # counted (the headers' cost is in the figures), never refused
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        base = line.split()[3]
        throughput(base)
        week(base, proc.pid)
    finally:
        proc.kill()
        proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
