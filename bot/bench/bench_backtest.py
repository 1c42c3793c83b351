"""Full-engine backtest throughput over a year of 1-minute candles in every filter mode (goal >= 200,000
candles/s in each, the slowest within 3x of the fastest), with each mode's ratio to the default (off)."""

import time

from gridbot.config.model import parse_config
from gridbot.core.candles import CHUNK
from gridbot.core.engine import GridEngine
from gridbot.core.synthetic import generate

YEAR_1M = 365 * 24 * 60
MODES = ("off", "ema", "adx", "both")
REPEAT = 2  # best of: the figures are for a shared, loaded box


CANDLES = generate(YEAR_1M, timeframe_ms=60_000)


def run(mode: str) -> tuple[float, dict[str, float | int | str]]:
    cfg = parse_config({"filters": {"trend": {"mode": mode}, "rsi": {"enabled": mode == "both"}}})
    engine = GridEngine(cfg)
    start = time.perf_counter()
    for i in range(0, len(CANDLES), CHUNK):
        engine.run_chunk(CANDLES.slice(i, i + CHUNK))
    return time.perf_counter() - start, engine.summary()


def main() -> None:
    took: dict[str, float] = {}
    summaries: dict[str, dict[str, float | int | str]] = {}
    for _ in range(REPEAT):
        for mode in MODES:
            t, summaries[mode] = run(mode)
            took[mode] = min(t, took.get(mode, t))
    for mode in MODES:
        s = summaries[mode]
        print(
            f"backtest  trend={mode:<4} rsi={'on' if mode == 'both' else 'off'}  "
            f"{YEAR_1M} in {took[mode]:.2f} s"
            f"  = {YEAR_1M / took[mode]:,.0f} candles/s  ({took[mode] / took['off']:.2f}x the time of off; "
            f"{s['round_trips']} round trips, {s['regrids']} regrids)"
        )
    slowest, fastest = max(took.values()), min(took.values())
    print(f"backtest  slowest mode / fastest: {slowest / fastest:.2f}x (goal <= 3x); best of {REPEAT} runs")


if __name__ == "__main__":
    main()
