"""Technical indicators with TA-Lib's conventions, in a batch and an incremental form.

Each indicator is a state (an immutable NamedTuple) and a step function ``step(state, ...) -> state``
whose ``value`` field is NaN until the indicator is warm. The batch form runs the same step over an
array, optionally continuing from a given state, so both forms give the same numbers bit for bit, and a
long series can be processed in chunks. The arithmetic follows TA-Lib's C code operation by operation
(seed sums, Wilder smoothing order, its "is zero" tolerance) so results match TA-Lib to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple, TypeVar

import numpy as np
from numpy.typing import NDArray

NAN = math.nan
Array = NDArray[np.float64]


def _is_zero(x: float) -> bool:
    # TA-Lib's TA_IS_ZERO: anything within 1e-8 of zero counts as zero.
    return -0.00000001 < x < 0.00000001


def _check_period(period: int, minimum: int = 2) -> None:
    if period < minimum:
        raise ValueError(f"period must be >= {minimum}, got {period}")


# --- EMA -------------------------------------------------------------------------------------------


class EmaState(NamedTuple):
    period: int
    seen: int = 0  # values taken so far (`count` would shadow tuple.count)
    seed_sum: float = 0.0
    value: float = NAN


def ema_init(period: int) -> EmaState:
    _check_period(period, 1)
    return EmaState(period)


def ema_step(s: EmaState, x: float) -> EmaState:
    count = s.seen + 1
    if count < s.period:
        return EmaState(s.period, count, s.seed_sum + x)
    if count == s.period:
        return EmaState(s.period, count, 0.0, (s.seed_sum + x) / s.period)
    k = 2.0 / (s.period + 1)
    return EmaState(s.period, count, 0.0, ((x - s.value) * k) + s.value)


# --- RSI (Wilder) ----------------------------------------------------------------------------------


class RsiState(NamedTuple):
    period: int
    seen: int = 0  # values taken so far (`count` would shadow tuple.count)
    prev_close: float = NAN
    gain: float = 0.0  # a running sum during warm-up, the Wilder average after
    loss: float = 0.0
    value: float = NAN


def rsi_init(period: int) -> RsiState:
    _check_period(period)
    return RsiState(period)


def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    return 0.0 if _is_zero(total) else 100.0 * (gain / total)


def rsi_step(s: RsiState, close: float) -> RsiState:
    n = s.period
    if s.seen == 0:
        return RsiState(n, 1, close)
    diff = close - s.prev_close
    gain, loss = s.gain, s.loss
    if s.seen <= n:
        if diff < 0:
            loss -= diff
        else:
            gain += diff
        if s.seen < n:
            return RsiState(n, s.seen + 1, close, gain, loss)
        gain /= n
        loss /= n
        return RsiState(n, s.seen + 1, close, gain, loss, _rsi_value(gain, loss))
    loss *= n - 1
    gain *= n - 1
    if diff < 0:
        loss -= diff
    else:
        gain += diff
    loss /= n
    gain /= n
    return RsiState(n, s.seen + 1, close, gain, loss, _rsi_value(gain, loss))


# --- ATR (Wilder) ----------------------------------------------------------------------------------


def true_range(high: float, low: float, prev_close: float) -> float:
    return max(high - low, abs(high - prev_close), abs(low - prev_close))


class AtrState(NamedTuple):
    period: int
    seen: int = 0  # values taken so far (`count` would shadow tuple.count)
    prev_close: float = NAN
    acc: float = 0.0  # sum of true ranges during warm-up, the ATR after
    value: float = NAN


def atr_init(period: int) -> AtrState:
    _check_period(period)
    return AtrState(period)


def atr_step(s: AtrState, high: float, low: float, close: float) -> AtrState:
    n = s.period
    if s.seen == 0:
        return AtrState(n, 1, close)
    tr = true_range(high, low, s.prev_close)
    if s.seen < n:
        return AtrState(n, s.seen + 1, close, s.acc + tr)
    if s.seen == n:
        atr = (s.acc + tr) / n
        return AtrState(n, s.seen + 1, close, atr, atr)
    atr = ((s.acc * (n - 1)) + tr) / n
    return AtrState(n, s.seen + 1, close, atr, atr)


# --- ADX, +DI, -DI (Wilder) ------------------------------------------------------------------------


class AdxState(NamedTuple):
    period: int
    seen: int = 0  # values taken so far (`count` would shadow tuple.count)
    prev_high: float = NAN
    prev_low: float = NAN
    prev_close: float = NAN
    plus_dm: float = 0.0
    minus_dm: float = 0.0
    tr: float = 0.0
    dx_sum: float = 0.0
    plus_di: float = NAN
    minus_di: float = NAN
    value: float = NAN  # ADX


def adx_init(period: int) -> AdxState:
    _check_period(period)
    return AdxState(period)


def adx_step(s: AdxState, high: float, low: float, close: float) -> AdxState:
    """One candle of TA-Lib's ADX/PLUS_DI/MINUS_DI: DI from index n, ADX from index 2n-1."""
    n = s.period
    if s.seen == 0:
        return s._replace(seen=1, prev_high=high, prev_low=low, prev_close=close)
    diff_p = high - s.prev_high
    diff_m = s.prev_low - low
    tr = true_range(high, low, s.prev_close)
    count = s.seen + 1
    plus_dm, minus_dm, tr_sum = s.plus_dm, s.minus_dm, s.tr
    if count <= n:
        # Indices 1..n-1 are plain sums; smoothing starts at index n.
        if diff_m > 0 and diff_p < diff_m:
            minus_dm += diff_m
        elif diff_p > 0 and diff_p > diff_m:
            plus_dm += diff_p
        tr_sum += tr
        return s._replace(
            seen=count, prev_high=high, prev_low=low, prev_close=close,
            plus_dm=plus_dm, minus_dm=minus_dm, tr=tr_sum,
        )  # fmt: skip
    minus_dm -= minus_dm / n
    plus_dm -= plus_dm / n
    if diff_m > 0 and diff_p < diff_m:
        minus_dm += diff_m
    elif diff_p > 0 and diff_p > diff_m:
        plus_dm += diff_p
    tr_sum = tr_sum - (tr_sum / n) + tr

    index = count - 1
    plus_di = minus_di = 0.0
    dx = NAN
    if not _is_zero(tr_sum):
        minus_di = 100.0 * (minus_dm / tr_sum)
        plus_di = 100.0 * (plus_dm / tr_sum)
        di_sum = minus_di + plus_di
        if not _is_zero(di_sum):
            dx = 100.0 * (abs(minus_di - plus_di) / di_sum)
    dx_sum, adx = s.dx_sum, s.value
    if index < 2 * n - 1:
        if not math.isnan(dx):
            dx_sum += dx
    elif index == 2 * n - 1:
        if not math.isnan(dx):
            dx_sum += dx
        adx = dx_sum / n
    elif not math.isnan(dx):
        adx = ((adx * (n - 1)) + dx) / n
    return AdxState(n, count, high, low, close, plus_dm, minus_dm, tr_sum, dx_sum, plus_di, minus_di, adx)


# --- batch forms -----------------------------------------------------------------------------------


S = TypeVar("S", EmaState, RsiState, AtrState)


def _run(state: S, step: Callable[..., S], columns: tuple[Array, ...]) -> tuple[Array, S]:
    out = np.empty(len(columns[0]), dtype=np.float64)
    rows = zip(*(c.tolist() for c in columns), strict=True)
    for i, row in enumerate(rows):
        state = step(state, *row)
        out[i] = state.value
    return out, state


def _f64(x: Array) -> Array:
    return np.asarray(x, dtype=np.float64)


def ema(close: Array, period: int, state: EmaState | None = None) -> tuple[Array, EmaState]:
    return _run(state or ema_init(period), ema_step, (_f64(close),))


def rsi(close: Array, period: int, state: RsiState | None = None) -> tuple[Array, RsiState]:
    return _run(state or rsi_init(period), rsi_step, (_f64(close),))


def atr(
    high: Array, low: Array, close: Array, period: int, state: AtrState | None = None
) -> tuple[Array, AtrState]:
    return _run(state or atr_init(period), atr_step, (_f64(high), _f64(low), _f64(close)))


class AdxSeries(NamedTuple):
    adx: Array
    plus_di: Array
    minus_di: Array
    state: AdxState


def adx(high: Array, low: Array, close: Array, period: int, state: AdxState | None = None) -> AdxSeries:
    s = state or adx_init(period)
    size = len(close)
    out = np.empty((3, size), dtype=np.float64)
    rows = zip(_f64(high).tolist(), _f64(low).tolist(), _f64(close).tolist(), strict=True)
    for i, (h, lo, c) in enumerate(rows):
        s = adx_step(s, h, lo, c)
        out[0, i] = s.value
        out[1, i] = s.plus_di
        out[2, i] = s.minus_di
    return AdxSeries(out[0], out[1], out[2], s)
