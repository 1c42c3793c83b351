"""`gridbot backtest`: the engine over candle files, its trades and round trips as CSV, optionally a plot."""

from __future__ import annotations

import sys
from pathlib import Path

from gridbot.config.model import BotConfig
from gridbot.core.candles import CandleError
from gridbot.core.engine import GridEngine
from gridbot.ops.candle_files import iter_candles
from gridbot.ops.csvsink import TRADE_FIELDS, TRIP_FIELDS, CsvSink, roundtrips
from gridbot.ops.logs import engine_log
from gridbot.ops.outputs import Staged, is_special
from gridbot.ops.timerange import Range, within


def progress(done: int, total: int | None) -> None:
    if total:
        width = 40
        filled = width * done // total
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} candles")
    else:
        sys.stderr.write(f"\r{done} candles")
    sys.stderr.flush()


def backtest(
    cfg: BotConfig,
    data: str,
    trades: Path,
    plot: Path | None,
    show_progress: bool,
    span: Range = (None, None),
) -> dict[str, float | int | str]:
    with Staged() as staged:
        target = trades if is_special(trades) else trades.resolve()
        return _backtest(cfg, data, staged, target, plot, show_progress, span)


def _backtest(
    cfg: BotConfig,
    data: str,
    staged: Staged,
    trades: Path,
    plot: Path | None,
    show_progress: bool,
    span: Range,
) -> dict[str, float | int | str]:
    ledger = CsvSink(staged.path(trades), TRADE_FIELDS)
    archive = CsvSink(staged.path(roundtrips(trades)), TRIP_FIELDS)
    engine = GridEngine(
        cfg, ledger=lambda row, _fill: ledger.row(row), archive=archive.trip, log=engine_log()
    )
    try:
        for chunk in within(iter_candles(data), span):
            engine.run_chunk(chunk)
            if show_progress:
                progress(engine.stats.candles, None)
    finally:
        ledger.close()
        archive.close()
    if not engine.stats.candles:
        raise CandleError(f"{data}: no candles" + " within --timerange" * (span != (None, None)))
    if show_progress:
        sys.stderr.write("\n")
    if plot is not None:
        from gridbot.ops.plot import plot_equity  # noqa: PLC0415  matplotlib is optional, loaded on demand

        plot_equity(engine, staged.path(plot, plot.suffix or ".png"))
    return engine.summary()
