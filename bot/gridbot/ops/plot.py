"""A backtest a trader can read (matplotlib, the `plot` extra).

Top: price, the grid as it moved (each grid's levels over the time it was live, its bounds shaded), buy and
sell fills as markers; a log axis once the price spans more than a decade. Bottom: the bot's equity against
buying and holding with the same starting quote.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import matplotlib as mpl
import numpy as np

mpl.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from gridbot.core.engine import AnyEngine

MAX_LEVEL_SEGMENTS = 20_000  # beyond this only the grid's bounds are drawn (a busy plot hides the price)


# matplotlib's date2num carries no types: its one use here, typed
_date_num: Callable[[datetime], float] = date2num


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _draw_grids(ax: Axes, engine: AnyEngine, end_ms: int) -> None:
    grids = list(engine.grid_changes)
    if not grids:
        return
    spans = [
        (t, grids[i + 1][0] if i + 1 < len(grids) else end_ms, levels) for i, (t, levels) in enumerate(grids)
    ]
    lows = [levels[0] for _, _, levels in spans]
    highs = [levels[-1] for _, _, levels in spans]
    starts = np.array([t for t, _, _ in spans] + [end_ms], dtype="datetime64[ms]")
    ax.stairs(highs, starts, baseline=lows, fill=True, color="tab:blue", alpha=0.10, label="grid range")
    resting = engine.order_spans.until(engine.exchange.open_orders(), end_ms)
    # only where an order rested (an idle grid draws no line), and every order or none
    if engine.order_spans.complete and len(resting) <= MAX_LEVEL_SEGMENTS:
        for side, color in (("buy", "tab:green"), ("sell", "tab:red")):
            segments = [[(_date_num(_dt(t0)), price), (_date_num(_dt(t1)), price)]
                        for t0, t1, price, s in resting if s == side]  # fmt: skip
            ax.add_collection(LineCollection(segments, colors=color, linewidths=0.5, alpha=0.6,
                                             label=f"resting {side} orders"))  # fmt: skip


def plot_equity(engine: AnyEngine, path: Path) -> None:
    fig = figure(engine)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure(engine: AnyEngine) -> Figure:
    curve = engine.curve
    times = [_dt(t) for t, _, _ in curve]
    closes = [c for _, c, _ in curve]
    equity = [e for _, _, e in curve]
    quote = engine.cfg.market.symbol.split("/")[1]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(12, 8), height_ratios=[2, 1])
    top.plot(times, closes, lw=0.8, color="black", label="close")
    _draw_grids(top, engine, engine.stats.last_ms)
    for side, marker, color in (("buy", "^", "tab:green"), ("sell", "v", "tab:red")):
        marks = [(t, p) for t, s, p in engine.fill_marks if s == side]
        if marks:
            top.scatter([_dt(t) for t, _ in marks], [p for _, p in marks], marker=marker, s=14, color=color,
                        zorder=3, label=f"{side} fills ({len(marks)})")  # fmt: skip
    if closes and max(closes) > 10 * min(closes):
        top.set_yscale("log")
    top.set_ylabel(
        f"{engine.cfg.market.symbol} (log)" if top.get_yscale() == "log" else engine.cfg.market.symbol
    )
    top.legend(loc="upper left", fontsize=8)
    s = engine.summary()
    top.set_title(
        f"gridbot backtest {str(s['start'])[:10]} to {str(s['end'])[:10]}: return {s['return_pct']:.2f}%, "
        f"realized {s['realized_pnl']} + unrealized {s['unrealized_pnl']} {quote} (FIFO), "
        f"{s['regrids']} regrids, {s['grids_skipped']} grids skipped"
    )
    bottom.plot(times, equity, lw=1.0, color="tab:green", label="gridbot equity")
    hold = [engine.cfg.start_quote * c / closes[0] for c in closes] if closes else []
    bottom.plot(times, hold, lw=1.0, color="tab:gray", ls="--", label="buy and hold")
    both = equity + hold
    if both and max(both) > 10 * min(both):
        bottom.set_yscale("log")
    bottom.set_ylabel(f"equity ({quote})")
    bottom.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig
