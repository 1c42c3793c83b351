"""`gridbot sweep`: a backtest per combination of --set values, ranked."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gridbot.cli.common import failed, in_results
from gridbot.config.model import BotConfig, ConfigError
from gridbot.ops.candle_files import EMBEDDED
from gridbot.ops.outputs import (
    refuse_overwriting_inputs,
    refuse_unknown_plot_format,
    refuse_unwritable_file,
)
from gridbot.ops.timerange import parse_timerange

if TYPE_CHECKING:
    from gridbot.core.candles import Candles
    from gridbot.ops.sweep import Axis, Combo, Outcome, Result, Summary


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sw = sub.add_parser("sweep", help="backtest every combination of --set values on all cores, ranked")
    sw.add_argument("-c", "--config", type=Path, help="YAML config the values are set in (default: defaults)")
    sw.add_argument("--data", default=None, help="'embedded' or a CSV of ccxt OHLCV rows (default: config)")
    sw.add_argument(
        "--set",
        dest="sets",
        action="append",
        required=True,
        metavar="KEY=V1,V2,...",
        help="a dotted config key and its values, like grid.levels=10,20,40 (repeatable)",
    )
    sw.add_argument("--by", default="return_pct", help="ranking column: return_pct (default), realized_pnl, "
                    "max_drawdown_pct, round_trips, time_in_market_pct or fees")  # fmt: skip
    sw.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: cores)")
    sw.add_argument("--results", type=Path, help="directory for the table (default: results/<config name>)")
    sw.add_argument("--out", type=Path, help="the ranked table as CSV (default: sweep.csv in --results)")
    sw.add_argument("--plot", type=Path, help="--by over the swept keys: a heatmap of the first two, or a "
                    "line over one (matplotlib)")  # fmt: skip
    sw.add_argument("--best-config", type=Path, help="write the winner as a bot.yml")
    sw.add_argument(
        "--timerange", help="the candles from START to END (YYYYMMDD-YYYYMMDD, UTC; either optional)"
    )
    sw.add_argument("--top", type=int, help="print the best N rows only (the CSV keeps every row)")
    sw.add_argument("--holdout", help="keep the data's last share (like 30%%) out of the choice, and show "
                    "each row's return and drawdown on it")  # fmt: skip


def sweep(args: argparse.Namespace, base: BotConfig | None) -> int:
    from gridbot.ops import sweep as sw  # noqa: PLC0415  (multiprocessing, yaml dump: only a sweep needs them)

    if args.by not in sw.METRICS:
        raise ConfigError(f"--by {args.by}: want one of {', '.join(sw.METRICS)}")
    axes = [sw.parse_axis(text) for text in args.sets]
    if args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs}: want at least 1 worker")
    if args.top is not None and args.top < 1:
        raise ConfigError(f"--top {args.top}: want at least 1 row")
    share = sw.parse_holdout(args.holdout) if args.holdout is not None else None
    skipped: list[str] = []
    combos = sw.combinations(base, axes, skipped)
    if skipped:  # said before the work, so a long sweep's count is no surprise at its end
        sys.stderr.write(f"gridbot: {len(skipped)} of {len(combos) + len(skipped)} combinations skipped as "
                         f"invalid, the first: {skipped[0]}\n")  # fmt: skip
    out = args.out or in_results(args, "sweep.csv")
    outputs = {"--out": out} | {k: v for k, v in (("--plot", args.plot), ("--best-config",
               args.best_config)) if v is not None}  # fmt: skip
    data = args.data or (base or BotConfig()).run.data
    inputs = {"config": args.config} if args.config else {}
    refuse_overwriting_inputs(inputs | ({"candle data": Path(data)} if data != EMBEDDED else {}), outputs)
    for flag, path in outputs.items():
        refuse_unwritable_file(path, flag)
    if args.plot is not None:
        refuse_unknown_plot_format(args.plot)
    candles = sw.load_candles(data, parse_timerange(args.timerange) if args.timerange else (None, None))
    held = None
    if share is not None:
        candles, held = sw.split_holdout(candles, share)
    outcome = _backtests(combos, candles, args.jobs)
    results = sw.ranked(outcome.results, args.by)
    if outcome.interrupted:
        _table(out, axes, results, None, args.top)
        return failed(f"interrupted: {len(results)} of {len(combos)} backtests done, written to {out}", 130)
    judged = None
    if held is not None:  # every row on the later data, ranked still by the data it was chosen on
        again = _backtests([r.combo for r in results], held, args.jobs)
        if again.interrupted:
            return failed("interrupted while judging the rows on the holdout: nothing written", 130)
        judged = {r.combo.index: r.summary for r in again.results}
    _table(out, axes, results, judged, args.top)
    if judged is not None and held is not None and results:
        won, there = results[0], judged[results[0].combo.index]
        print(f"holdout {sw.span_text(held)}: the winner returned {there['return_pct']}% (max drawdown "
              f"{there['max_drawdown_pct']}%), against {won.summary['return_pct']}% on "
              f"{sw.span_text(candles)}, where it was chosen")  # fmt: skip
    if args.best_config is not None and results:
        args.best_config.write_text(sw.best_config_yaml(base, axes, results[0]))
    if args.plot is not None:
        from gridbot.ops.sweep_plot import plot_sweep  # noqa: PLC0415  matplotlib is optional

        plot_sweep(axes, results, args.by, args.plot)
    return 0


def _backtests(combos: Sequence[Combo], candles: Candles, jobs: int) -> Outcome:
    """The sweep's backtests, with a progress bar on a terminal."""
    from gridbot.ops import sweep as sw  # noqa: PLC0415

    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        width = 40
        sys.stderr.write(f"\r[{'#' * (width * done // total):.<{width}}] {done}/{total} backtests")
        sys.stderr.flush()

    outcome = sw.run_sweep(combos, candles, jobs, progress if tty else None)
    if tty:
        sys.stderr.write("\n")
    return outcome


def _table(out: Path, axes: Sequence[Axis], results: Sequence[Result], judged: dict[int, Summary] | None,
           top: int | None) -> None:  # fmt: skip
    """The ranked table written whole to `out`, and its best `top` rows printed."""
    from gridbot.ops import sweep as sw  # noqa: PLC0415

    header, rows = sw.table_rows(axes, results, judged)
    sw.write_csv(out, header, rows)
    print(sw.format_table(header, rows[:top]))
