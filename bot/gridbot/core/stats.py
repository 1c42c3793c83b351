"""The engine's running statistics: what a summary reports and a snapshot carries across restarts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Stats:
    candles: int = 0
    in_market: int = 0
    regrids: int = 0
    grids_skipped: int = 0  # grids the engine would have built but could not (ticks) or should not (fees)
    round_trips: int = 0
    peak_equity: float = 0.0
    max_drawdown: float = 0.0  # fraction of the peak
    last_close: float = 0.0
    first_ms: int = 0
    last_ms: int = 0
    first_open: float = 0.0  # the buy-and-hold's entry
    wins: int = 0  # round trips that closed in profit, fees included
    gross_profit: float = 0.0  # their profits
    gross_loss: float = 0.0  # the losing round trips' losses, positive
    last_fill_ms: int = 0  # 0: no fill yet
    longest_idle_ms: int = 0  # the longest stretch without a fill between two fills (or the start and one)
    peak_ms: int = 0  # when equity last stood at its peak
    max_drawdown_ms: int = 0  # the longest stretch below a peak (to the recovery, or to the end)
