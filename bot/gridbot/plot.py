"""Equity curve with price and the final grid levels (matplotlib, the `plot` extra)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

from gridbot.engine import GridEngine


def plot_equity(engine: GridEngine, path: Path) -> None:
    times = [datetime.fromtimestamp(t / 1000, UTC) for t, _, _ in engine.curve]
    closes = [c for _, c, _ in engine.curve]
    equity = [e for _, _, e in engine.curve]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(11, 7), height_ratios=[2, 1])
    top.plot(times, closes, lw=0.8, color="tab:gray", label="price")
    if engine.levels is not None:
        for level in engine.levels:
            top.axhline(float(level), lw=0.4, color="tab:blue", alpha=0.4)
    top.set_ylabel(engine.cfg.market.symbol)
    top.legend(loc="upper left")
    top.set_title("gridbot backtest: price with the final grid levels, and equity")
    bottom.plot(times, equity, lw=1.0, color="tab:green")
    bottom.set_ylabel(f"equity ({engine.cfg.market.symbol.split('/')[1]})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
