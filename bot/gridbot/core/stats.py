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
