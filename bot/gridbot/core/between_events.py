"""What happens between the engine's events: the search for the next one, and the equity marks over the
candles in between. Pure: no I/O.

The engine (`engine.GridEngine.run_chunk`) jumps from event to event; the candles in between change nothing
but the equity mark. Both are searched or marked in numpy over long spans and in Python scalars over short
ones, with the same comparisons and operations in the same order, so the two paths give the same answer to
the candle and the same numbers to the bit. The engine decides what counts as an event from its state
(`Thresholds`); nothing here reads that state.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gridbot.core.candles import Candles
from gridbot.core.portfolio import Portfolio
from gridbot.core.stats import Stats

MAX_CURVE_POINTS = 4096
# Spans of at most this many candles are scanned and marked in Python scalars: a busy buy filter makes an
# event every ten candles or so, where numpy's per-call cost exceeds the work.
FEW = 16


class Thresholds(NamedTuple):
    """What makes a candle an event, as the engine's state sets it."""

    below: float  # a low at or below it (the best bid, a stop loss, the drawdown halt's price); -inf: none
    above: float  # a high at or above it (the best ask, a take profit); inf: none
    trigger: float | None  # a candle spanning it (the trigger price, before the first grid); None: none
    ready: int  # the first candle where a close past the grid's edges re-centres the grid
    lower: float  # the grid's edges (0.0 without a grid)
    upper: float
    grid: bool  # a grid stands
    trailing: bool  # a close above the grid moves it up (exits.trailing_up)


def first_event(c: Candles, pos: int, until: int, t: Thresholds) -> int:
    """The first candle of pos..until-1 that is an event; `until` when none is.

    Only the price conditions are searched, in windows growing from 64 candles: events come every few dozen
    candles with a busy filter, so the search's per-call cost matters as much as its per-candle cost."""
    if until - pos <= FEW:
        return _first_of_few(c, pos, until, t)
    # Only the tests that can find something first: none against a side with nothing resting, and no close
    # past the grid's edge while an order (or an exit's price) rests inside that edge, for then the candle's
    # high or low has crossed that first.
    grid = t.trigger is None and t.grid
    past_top = grid and t.above > t.upper
    past_bottom = grid and t.below < t.lower
    width = 64
    while pos < until:
        end = min(until, pos + width)
        hit = np.zeros(end - pos, dtype=bool)
        if t.below > -np.inf:
            hit |= c.low[pos:end] <= t.below
        if t.above < np.inf:
            hit |= c.high[pos:end] >= t.above
        if t.trigger is not None:
            hit |= (c.low[pos:end] <= t.trigger) & (c.high[pos:end] >= t.trigger)
        if past_top and t.trailing:
            hit |= c.close[pos:end] > t.upper
        if t.ready < end and (past_top or past_bottom):
            first = max(pos, t.ready)
            close = c.close[first:end]
            if past_top:
                hit[first - pos :] |= close > t.upper
            if past_bottom:
                hit[first - pos :] |= close < t.lower
        k = int(hit.argmax())
        if hit[k]:
            return pos + k
        pos, width = end, min(width * 4, 65_536)
    return until


def _first_of_few(c: Candles, pos: int, until: int, t: Thresholds) -> int:
    """`first_event` over a few candles, in scalars (the same comparisons)."""
    lows, highs, closes = c.low[pos:until].tolist(), c.high[pos:until].tolist(), c.close[pos:until].tolist()
    for k, (low, high, close) in enumerate(zip(lows, highs, closes, strict=True), pos):
        if low <= t.below or high >= t.above:
            return k
        if t.trigger is not None:
            if low <= t.trigger and high >= t.trigger:
                return k
        elif t.grid and (
            (k >= t.ready and (close > t.upper or close < t.lower)) or (t.trailing and close > t.upper)
        ):
            return k
    return until


class EquityCurve:
    """The equity curve, sampled on a fixed global stride of candles that doubles whenever it would reach
    MAX_CURVE_POINTS points, so a run of months stays flat and a chunked run samples what a whole one does;
    and the drawdown figures of `Stats`, marked candle by candle."""

    def __init__(self) -> None:
        self.points: list[tuple[int, float, float]] = []  # (time_ms, close, equity)
        self._every = 1

    def mark(self, s: Stats, c: Candles, start: int, stop: int, p: Portfolio, t: int) -> None:
        """Equity, drawdown and the curve over candles start..stop-1, which the books `p` held through; `t`
        the candles before this chunk."""
        if stop <= start:
            return
        if stop - start <= FEW:  # a busy market changes the books every few candles: numpy's per-call cost
            self._mark_few(s, c, start, stop, p, t)  # would dominate
            return
        closes = c.close[start:stop]
        equity = p.quote + p.base * closes - p.fees_outside
        peaks = np.maximum.accumulate(np.maximum(equity, s.peak_equity))
        s.max_drawdown = max(s.max_drawdown, float((1.0 - equity / peaks).max()))
        s.peak_equity = float(peaks[-1])
        times = c.time_ms[start:stop]
        peak_ms = np.maximum.accumulate(np.maximum(np.where(equity >= peaks, times, 0), s.peak_ms))
        s.max_drawdown_ms = max(s.max_drawdown_ms, int((times - peak_ms).max()))
        s.peak_ms = int(peak_ms[-1])
        if p.base > 0:
            s.in_market += stop - start
        first = start + (-(t + start)) % self._every  # sample on a fixed global stride
        for k in range(first, stop, self._every):
            self.points.append((int(c.time_ms[k]), float(closes[k - start]), float(equity[k - start])))
        self._decimate()

    def _mark_few(self, s: Stats, c: Candles, start: int, stop: int, p: Portfolio, t: int) -> None:
        """`mark` of a few candles in scalars: the same operations in the same order, so the same numbers."""
        quote, base, outside, every = p.quote, p.base, p.fees_outside, self._every
        peak, drawdown, peak_ms, longest = s.peak_equity, s.max_drawdown, s.peak_ms, s.max_drawdown_ms
        rows = zip(c.close[start:stop].tolist(), c.time_ms[start:stop].tolist(), strict=True)
        for k, (close, time_ms) in enumerate(rows, start):
            equity = quote + base * close - outside
            peak = max(equity, peak)
            drawdown = max(drawdown, 1.0 - equity / peak)
            if equity >= peak:
                peak_ms = time_ms
            longest = max(longest, time_ms - peak_ms)
            if (t + k) % every == 0:
                self.points.append((time_ms, close, equity))
        s.peak_equity, s.max_drawdown, s.peak_ms, s.max_drawdown_ms = peak, drawdown, peak_ms, longest
        if base > 0:
            s.in_market += stop - start
        self._decimate()

    def _decimate(self) -> None:
        while len(self.points) >= MAX_CURVE_POINTS:  # a long span of unchanged books adds many points at once
            self.points = self.points[::2]
            self._every *= 2
