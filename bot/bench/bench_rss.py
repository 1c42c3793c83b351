"""Peak RSS of `gridbot backtest` and of `gridbot run` (paper replay) on 1-minute candle CSVs, a quarter and
a year (goal <= 60 MB, flat)."""

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from gridbot.core.synthetic import generate

YEAR_1M = 365 * 24 * 60


def write_csv(path: Path, n: int) -> None:
    c = generate(n, timeframe_ms=60_000)
    rows = np.column_stack([c.time_ms, c.open, c.high, c.low, c.close, c.volume])
    np.savetxt(path, rows, fmt=["%d", "%.2f", "%.2f", "%.2f", "%.2f", "%.4f"], delimiter=",")


def peak_rss_mb(args: list[str], cwd: Path) -> float:
    code = (
        # VmHWM, not ru_maxrss: the latter is inherited from the forking parent on Linux.
        "import sys, runpy; sys.argv = ['gridbot', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('gridbot.cli', run_name='__main__')\n"
        "finally:\n    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "    print('RSS', hwm.split()[1], file=sys.stderr)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    line = [x for x in out.stderr.splitlines() if x.startswith("RSS ")][-1]
    return int(line.split()[1]) / 1024


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for label, n in (("quarter", YEAR_1M // 4), ("year", YEAR_1M)):
            path = d / f"{label}.csv"
            write_csv(path, n)
            mb = peak_rss_mb(["backtest", "--data", str(path), "--trades", str(d / "t.csv")], d)
            print(f"rss       gridbot backtest, {label} of 1m candles ({n}): peak RSS {mb:.1f} MB (goal 60)")
            cfg = d / "bot.yml"
            cfg.write_text(
                f"run:\n  cycle_seconds: 0.001\n  state_dir: {d / label}\n  heartbeat_file: {d / 'hb'}\n"
                "  http_port: null\n"
            )
            mb = peak_rss_mb(["run", "-c", str(cfg), "--data", str(path), "--max-cycles", "200"], d)
            print(
                f"rss       gridbot run (paper replay), {label} of 1m candles: peak RSS {mb:.1f} MB (goal 60)"
            )
        baseline = peak_rss_mb(["--version"], d)
        print(f"rss       python + gridbot import baseline: {baseline:.1f} MB")


if __name__ == "__main__":
    main()
