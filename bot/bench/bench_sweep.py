"""`gridbot sweep` of 27 configs (3 x 3 x 3 --set values) over a year of 1-minute candles on every core (goal:
under a minute on 2 cores), spawned workers and the candles' hand-over included."""

import os
import time

from gridbot.core.synthetic import generate
from gridbot.ops import sweep as sw

YEAR_1M = 365 * 24 * 60
AXES = [
    sw.Axis("grid.levels", (10, 20, 30)),
    sw.Axis("grid.width_pct", (12.0, 24.0, 48.0)),
    sw.Axis("filters.trend.mode", ("off", "ema", "adx")),
]


def main() -> None:
    candles = generate(YEAR_1M, timeframe_ms=60_000)
    combos = sw.combinations(None, AXES)
    jobs = os.cpu_count() or 1
    start = time.perf_counter()
    outcome = sw.run_sweep(combos, candles, jobs)
    took = time.perf_counter() - start
    assert len(outcome.results) == len(combos)
    best = sw.ranked(outcome.results, "return_pct")[0]
    print(
        f"sweep     {len(combos)} configs x {YEAR_1M} candles on {jobs} workers in {took:.1f} s (goal < 60 s "
        f"on 2 cores) = {len(combos) * YEAR_1M / took:,.0f} candles/s; "
        f"best {sw.describe(AXES, best.combo.values)}"
    )


if __name__ == "__main__":
    main()
