"""Full-engine backtest throughput over a year of 1-minute candles (goal >= 200,000 candles/s, < 3 s)."""

import time

from gridbot.config.model import parse_config
from gridbot.core.candles import CHUNK
from gridbot.core.engine import GridEngine
from gridbot.core.synthetic import generate

YEAR_1M = 365 * 24 * 60


def main() -> None:
    candles = generate(YEAR_1M, timeframe_ms=60_000)
    for mode in ("off", "ema", "adx", "both"):
        cfg = parse_config({"filters": {"trend": {"mode": mode}, "rsi": {"enabled": mode == "both"}}})
        engine = GridEngine(cfg)
        start = time.perf_counter()
        for i in range(0, len(candles), CHUNK):
            engine.run_chunk(candles.slice(i, i + CHUNK))
        took = time.perf_counter() - start
        s = engine.summary()
        print(
            f"backtest  trend={mode:<4} rsi={'on' if mode == 'both' else 'off'}  {YEAR_1M} in {took:.2f} s"
            f"  = {YEAR_1M / took:,.0f} candles/s  ({s['round_trips']} round trips, {s['regrids']} regrids)"
        )


if __name__ == "__main__":
    main()
