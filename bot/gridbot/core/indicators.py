"""Technical indicators with TA-Lib's conventions, in a batch and an incremental form.

Each indicator is a state (an immutable NamedTuple) and a step function ``step(state, ...) -> state``
whose ``value`` field is NaN until the indicator is warm. The batch form runs the same step over an
array, optionally continuing from a given state, so both forms give the same numbers bit for bit, and a
long series can be processed in chunks. The arithmetic follows TA-Lib's C code operation by operation
(seed sums, Wilder smoothing order, its zero tests) so results match TA-Lib to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import accumulate
from typing import NamedTuple, TypeVar

import numpy as np
from numpy.typing import NDArray

NAN = math.nan
Array = NDArray[np.float64]


# The quantities tested for zero (a true range, a sum of DIs, RSI's gain + loss) are sums of non-negative
# magnitudes in the quote's unit: zero only when exactly zero. TA-Lib 0.8, the tests' oracle, tests them
# exactly; older releases took anything below 1e-8 for zero, which read a sub-cent coin's as zero.
def _is_zero(x: float) -> bool:
    return x == 0.0


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
#
# A batch runs the step function while the indicator warms up (at most 2 periods in its life), then a fast
# path: the element-wise parts (differences, true range, directional movement, DI, DX, RSI from its
# averages) in numpy, and each Wilder/EMA recurrence as one `itertools.accumulate` over Python floats with
# the step's exact expression. IEEE arithmetic rounds each operation the same in numpy as in Python, so the
# fast path gives the step's numbers bit for bit: chunks of any size (the live loop's single candle, a
# backtest's 65,536) agree exactly. (A closed-form IIR in numpy, by cumulative products or blocks, would
# reorder the arithmetic and break that.) The recurrences take the period as a float, bound as a default
# argument: `y / n` is the same division for n = 14 and 14.0 (an int is converted exactly), without the
# conversion at every candle, and a default is a fast local where a closure's variable is not.


def _f64(x: Array) -> Array:
    return np.asarray(x, dtype=np.float64)


def _recur(b: Array, y0: float, f: Callable[[float, float], float]) -> Array:
    """y[i] = f(y[i-1], b[i]) from y[-1] = y0."""
    return np.fromiter(accumulate(b.tolist(), f, initial=y0), np.float64, len(b) + 1)[1:]


def _recur_pair(
    a: Array, b: Array, y0: complex, f: Callable[[complex, complex], complex]
) -> tuple[Array, Array]:
    """Two recurrences of one formula in one pass, as the real and imaginary parts of complex numbers (a third
    less time than two passes). Exact because the formulas here only add complex numbers and multiply or
    divide them by an int, which CPython computes part by part with the float operations each part's own
    recurrence would do; their values are finite and never negative, so not even a zero's sign differs."""
    z = np.empty(len(a), dtype=np.complex128)
    z.real, z.imag = a, b
    out = np.fromiter(accumulate(z.tolist(), f, initial=y0), np.complex128, len(a) + 1)[1:]
    return out.real.copy(), out.imag.copy()


def _zero(x: Array) -> NDArray[np.bool_]:
    return np.equal(x, 0.0)


S = TypeVar("S", EmaState, RsiState, AtrState)
Num = TypeVar("Num", float, complex)


def _warm_up(state: S, step: Callable[..., S], warm: Callable[[S], bool], columns: tuple[Array, ...],
             out: Array) -> tuple[int, S]:  # fmt: skip
    """Steps until the state is warm; returns how many candles that took."""
    i = 0
    while i < len(out) and not warm(state):
        state = step(state, *(float(c[i]) for c in columns))
        out[i] = state.value
        i += 1
    return i, state


def ema(close: Array, period: int, state: EmaState | None = None) -> tuple[Array, EmaState]:
    s = state or ema_init(period)
    c = _f64(close)
    out = np.empty(len(c), dtype=np.float64)
    i, s = _warm_up(s, ema_step, lambda e: e.seen >= e.period, (c,), out)
    if i == len(c):
        return out, s

    def step(y: float, x: float, k: float = 2.0 / (s.period + 1)) -> float:
        return ((x - y) * k) + y

    out[i:] = _recur(c[i:], s.value, step)
    return out, EmaState(s.period, s.seen + len(c) - i, 0.0, float(out[-1]))


def _wilder_step(n: int) -> Callable[[Num, Num], Num]:
    """TA-Lib's RSI/ATR/ADX smoothing, ((y * (n - 1)) + x) / n, as the steps write it."""

    def step(y: Num, x: Num, m: float = float(n - 1), n: float = float(n)) -> Num:
        return ((y * m) + x) / n

    return step


def _wilder(b: Array, y0: float, n: int) -> Array:
    return _recur(b, y0, _wilder_step(n))


def rsi(close: Array, period: int, state: RsiState | None = None) -> tuple[Array, RsiState]:
    s = state or rsi_init(period)
    c = _f64(close)
    out = np.empty(len(c), dtype=np.float64)
    i, s = _warm_up(s, rsi_step, lambda r: r.seen > r.period, (c,), out)
    if i == len(c):
        return out, s
    n = s.period
    diff = np.diff(c[i:], prepend=s.prev_close)
    down = diff < 0
    # `loss -= diff` only on a down candle, `gain += diff` otherwise: adding 0.0 instead is exact, and so is
    # adding -diff for subtracting diff.
    gain, loss = _recur_pair(np.where(down, 0.0, diff), np.where(down, -diff, 0.0), complex(s.gain, s.loss),
                             _wilder_step(n))  # fmt: skip
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        out[i:] = np.where(_zero(total), 0.0, 100.0 * (gain / total))
    return out, RsiState(
        n, s.seen + len(c) - i, float(c[-1]), float(gain[-1]), float(loss[-1]), float(out[-1])
    )


def _true_range(high: Array, low: Array, close: Array, prev_close: float) -> Array:
    prev = np.concatenate(([prev_close], close[:-1]))
    return np.maximum(np.maximum(high - low, np.abs(high - prev)), np.abs(low - prev))


def atr(
    high: Array, low: Array, close: Array, period: int, state: AtrState | None = None
) -> tuple[Array, AtrState]:
    s = state or atr_init(period)
    h, lo, c = _f64(high), _f64(low), _f64(close)
    out = np.empty(len(c), dtype=np.float64)
    i, s = _warm_up(s, atr_step, lambda a: a.seen > a.period, (h, lo, c), out)
    if i == len(c):
        return out, s
    out[i:] = _wilder(_true_range(h[i:], lo[i:], c[i:], s.prev_close), s.acc, s.period)
    last = float(out[-1])
    return out, AtrState(s.period, s.seen + len(c) - i, float(c[-1]), last, last)


class AdxSeries(NamedTuple):
    adx: Array
    plus_di: Array
    minus_di: Array
    state: AdxState


def adx(high: Array, low: Array, close: Array, period: int, state: AdxState | None = None) -> AdxSeries:
    s = state or adx_init(period)
    h, lo, c = _f64(high), _f64(low), _f64(close)
    size = len(c)
    out = np.empty((3, size), dtype=np.float64)
    i = 0
    while i < size and s.seen < 2 * s.period:  # warm: the next candle is past ADX's first value
        s = adx_step(s, float(h[i]), float(lo[i]), float(c[i]))
        out[:, i] = s.value, s.plus_di, s.minus_di
        i += 1
    if i == size:
        return AdxSeries(out[0], out[1], out[2], s)
    n = s.period
    h, lo, c = h[i:], lo[i:], c[i:]
    diff_p = np.diff(h, prepend=s.prev_high)
    diff_m = np.concatenate(([s.prev_low], lo[:-1])) - lo
    minus = (diff_m > 0) & (diff_p < diff_m)
    plus = ~minus & (diff_p > 0) & (diff_p > diff_m)

    def smooth(y: Num, x: Num, n: float = float(n)) -> Num:
        return y - y / n + x

    plus_dm, minus_dm = _recur_pair(np.where(plus, diff_p, 0.0), np.where(minus, diff_m, 0.0),
                                    complex(s.plus_dm, s.minus_dm), smooth)  # fmt: skip
    tr = _recur(_true_range(h, lo, c, s.prev_close), s.tr, smooth)
    flat = _zero(tr)
    with np.errstate(invalid="ignore", divide="ignore"):
        minus_di = np.where(flat, 0.0, 100.0 * (minus_dm / tr))
        plus_di = np.where(flat, 0.0, 100.0 * (plus_dm / tr))
        di_sum = minus_di + plus_di
        dx = np.where(flat | _zero(di_sum), NAN, 100.0 * (np.abs(minus_di - plus_di) / di_sum))
    # ADX holds its value where DX is undefined: smooth over the defined DX only, then carry forward.
    defined = ~np.isnan(dx)
    smoothed = _wilder(dx[defined], s.value, n)
    out[0, i:] = np.concatenate(([s.value], smoothed))[np.cumsum(defined)]
    out[1, i:] = plus_di
    out[2, i:] = minus_di
    end = AdxState(
        n, s.seen + size - i, float(h[-1]), float(lo[-1]), float(c[-1]), float(plus_dm[-1]),
        float(minus_dm[-1]), float(tr[-1]), s.dx_sum, float(plus_di[-1]), float(minus_di[-1]),
        float(out[0, -1]),
    )  # fmt: skip
    return AdxSeries(out[0], out[1], out[2], end)
