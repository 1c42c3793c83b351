"""Buy filters (trend on EMA slope and/or ADX, RSI bound) computed chunk by chunk. Pure, numpy, no I/O.

The indicator states carry over from one chunk to the next, so a chunk of one candle (the live loop) and a
chunk of a year (a backtest) give the same values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from gridbot.core import indicators as ind
from gridbot.core.candles import Candles
from gridbot.core.settings import Json, StrategySettings


def buy_filter(
    cfg: StrategySettings,
    ema: NDArray[np.float64],
    ema_lagged: NDArray[np.float64],
    adx: ind.AdxSeries | None,
    rsi: NDArray[np.float64] | None,
) -> NDArray[np.bool_]:
    """True where new buys may rest on the book during the next candle. NaN (warming up) never blocks."""
    trend = cfg.filters.trend
    size = len(ema)
    allowed = np.ones(size, dtype=bool)
    if trend.mode != "off":
        down = np.ones(size, dtype=bool)
        if trend.mode in ("ema", "both"):
            with np.errstate(invalid="ignore"):
                down &= (ema / ema_lagged - 1.0) * 100.0 < -trend.max_down_slope_pct
        if trend.mode in ("adx", "both") and adx is not None:
            with np.errstate(invalid="ignore"):
                down &= (adx.adx > trend.adx_threshold) & (adx.minus_di > adx.plus_di)
        allowed &= ~down
    if rsi is not None:
        with np.errstate(invalid="ignore"):
            allowed &= ~(rsi > cfg.filters.rsi.buy_max)
    return allowed


@dataclass
class Indicators:
    """The states of the indicators the config uses (None for the others)."""

    ema: ind.EmaState | None = None
    ema_tail: list[float] = field(default_factory=list)
    adx: ind.AdxState | None = None
    rsi: ind.RsiState | None = None
    atr: ind.AtrState | None = None

    @classmethod
    def for_config(cls, cfg: StrategySettings) -> Indicators:
        f = cfg.filters
        return cls(
            ema=ind.ema_init(f.trend.ema_period) if f.trend.mode in ("ema", "both") else None,
            adx=ind.adx_init(f.trend.adx_period) if f.trend.mode in ("adx", "both") else None,
            rsi=ind.rsi_init(f.rsi.period) if f.rsi.enabled else None,
            atr=ind.atr_init(cfg.grid.atr_spacing.period) if cfg.grid.atr_spacing.enabled else None,
        )

    def restore(self, saved: Json) -> None:
        types = {"ema": ind.EmaState, "adx": ind.AdxState, "rsi": ind.RsiState, "atr": ind.AtrState}
        for name, cls in types.items():
            if getattr(self, name) is not None and saved.get(name) is not None:
                setattr(self, name, cls(*saved[name]))
        self.ema_tail = list(saved.get("ema_tail", []))

    def step(self, cfg: StrategySettings, c: Candles) -> tuple[NDArray[np.bool_], NDArray[np.float64] | None]:
        """The buy filter over the chunk, and its ATR when ATR spacing is on; advances the states."""
        ema = lagged = np.full(len(c), np.nan)
        adx = rsi = atr = None
        if self.ema is not None:
            ema, self.ema = ind.ema(c.close, self.ema.period, self.ema)
            k = cfg.filters.trend.slope_candles
            joined = np.concatenate([np.array(self.ema_tail, dtype=np.float64), ema])
            lagged = np.concatenate([np.full(k, np.nan), joined])[
                len(self.ema_tail) : len(self.ema_tail) + len(c)
            ]
            self.ema_tail = joined[-k:].tolist()
        if self.adx is not None:
            adx = ind.adx(c.high, c.low, c.close, self.adx.period, self.adx)
            self.adx = adx.state
        if self.rsi is not None:
            rsi, self.rsi = ind.rsi(c.close, self.rsi.period, self.rsi)
        if self.atr is not None:
            atr, self.atr = ind.atr(c.high, c.low, c.close, self.atr.period, self.atr)
        if cfg.filters.trend.mode == "off" and rsi is None:
            return np.ones(len(c), dtype=bool), atr
        return buy_filter(cfg, ema, lagged, adx, rsi), atr
