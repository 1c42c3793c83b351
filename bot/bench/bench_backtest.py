"""Full-engine backtest throughput over a year of 1-minute candles in every filter mode (goal >= 200,000
candles/s in each, the slowest within 3x of the fastest), with each mode's ratio to the default (off)."""

import time

from gridbot.config.model import parse_config
from gridbot.core.candles import CHUNK
from gridbot.core.engine import GridEngine
from gridbot.core.synthetic import generate

YEAR_1M = 365 * 24 * 60
MODES = ("off", "ema", "adx", "both")
REPEAT = 3  # best of: the figures are for a shared, loaded box


CANDLES = generate(YEAR_1M, timeframe_ms=60_000)


def run(mode: str) -> tuple[float, float, dict[str, float | int | str]]:
    """Wall and CPU seconds (the CPU figure is the fairer one on a box other jobs load) and the summary."""
    cfg = parse_config({"filters": {"trend": {"mode": mode}, "rsi": {"enabled": mode == "both"}}})
    engine = GridEngine(cfg)
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(CANDLES), CHUNK):
        engine.run_chunk(CANDLES.slice(i, i + CHUNK))
    return time.perf_counter() - start, time.process_time() - cpu, engine.summary()


def main() -> None:
    took: dict[str, float] = {}
    cpu: dict[str, float] = {}
    summaries: dict[str, dict[str, float | int | str]] = {}
    for _ in range(REPEAT):
        for mode in MODES:
            t, c, summaries[mode] = run(mode)
            took[mode], cpu[mode] = min(t, took.get(mode, t)), min(c, cpu.get(mode, c))
    for mode in MODES:
        s = summaries[mode]
        print(
            f"backtest  trend={mode:<4} rsi={'on' if mode == 'both' else 'off'}  "
            f"{YEAR_1M} in {took[mode]:.2f} s = {YEAR_1M / took[mode]:,.0f} candles/s "
            f"(CPU {cpu[mode]:.2f} s = {YEAR_1M / cpu[mode]:,.0f}/s), {cpu[mode] / cpu['off']:.2f}x off's "
            f"CPU; {s['round_trips']} round trips, {s['regrids']} regrids"
        )
    for name, t in (("wall", took), ("CPU", cpu)):
        ratio = max(t.values()) / min(t.values())
        print(f"backtest  slowest mode / fastest ({name}): {ratio:.2f}x (goal <= 3x)")
    print(f"backtest  best of {REPEAT} runs each")


if __name__ == "__main__":
    main()
