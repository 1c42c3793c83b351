"""Indicators against TA-Lib (the reference), and the incremental form against the batch form."""

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from gridbot.core import indicators as ind
from gridbot.ops.candle_files import load_embedded

PERIODS = [2, 5, 14, 50]


def _assert_same(ours, ref):
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9, equal_nan=True)


def _assert_matches_talib(h, lo, c, n):
    _assert_same(ind.rsi(c, n)[0], talib.RSI(c, n))
    _assert_same(ind.ema(c, n)[0], talib.EMA(c, n))
    _assert_same(ind.atr(h, lo, c, n)[0], talib.ATR(h, lo, c, n))
    adx = ind.adx(h, lo, c, n)
    _assert_same(adx.adx, talib.ADX(h, lo, c, n))
    _assert_same(adx.plus_di, talib.PLUS_DI(h, lo, c, n))
    _assert_same(adx.minus_di, talib.MINUS_DI(h, lo, c, n))


@pytest.fixture(scope="module")
def data():
    return load_embedded().slice(0, 20_000)


@pytest.mark.parametrize("n", PERIODS)
def test_batch_matches_talib_on_embedded_data(data, n):
    _assert_matches_talib(data.high, data.low, data.close, n)


def test_first_values_at_talib_indices(data):
    n = 14
    c = data.close
    assert np.isnan(ind.rsi(c, n)[0][n - 1])
    assert not np.isnan(ind.rsi(c, n)[0][n])
    assert np.isnan(ind.atr(data.high, data.low, c, n)[0][n - 1])
    adx = ind.adx(data.high, data.low, c, n).adx
    assert np.isnan(adx[2 * n - 2])
    assert not np.isnan(adx[2 * n - 1])


def test_flat_series_rsi_is_zero_like_talib():
    flat = np.full(40, 123.45)
    assert ind.rsi(flat, 14)[0][14:].tolist() == talib.RSI(flat, 14)[14:].tolist() == [0.0] * 26


ohlc_series = st.lists(
    st.tuples(
        st.floats(-0.03, 0.03),  # log return
        st.floats(0, 0.02),  # upper wick
        st.floats(0, 0.02),  # lower wick
    ),
    min_size=1,
    max_size=300,
)


def _to_ohlc(rows):
    r = np.array(rows, dtype=np.float64)
    close = 100 * np.exp(np.cumsum(r[:, 0]))
    return close * (1 + r[:, 1]), close * (1 - r[:, 2]), close


@settings(max_examples=60, deadline=None)
@given(rows=ohlc_series, n=st.sampled_from([2, 3, 7, 14]), scale=st.sampled_from([1.0, 1e-5, 1e-7]))
def test_batch_matches_talib_on_generated_series(rows, n, scale):
    """Any price level: a sub-cent coin's ranges and moves are far below 1e-8 (scale 1e-7: prices ~1e-5)."""
    h, lo, c = _to_ohlc(rows)
    _assert_matches_talib(h * scale, lo * scale, c * scale, n)


@settings(max_examples=40, deadline=None)
@given(rows=ohlc_series, n=st.sampled_from([2, 5, 14]), cut=st.integers(0, 300))
def test_incremental_and_chunked_equal_batch(rows, n, cut):
    h, lo, c = _to_ohlc(rows)
    state = ind.rsi_init(n)
    stepped = []
    for x in c:
        state = ind.rsi_step(state, float(x))
        stepped.append(state.value)
    whole, _ = ind.rsi(c, n)
    np.testing.assert_array_equal(np.array(stepped), whole)

    first = ind.adx(h[:cut], lo[:cut], c[:cut], n)
    rest = ind.adx(h[cut:], lo[cut:], c[cut:], n, first.state)
    np.testing.assert_array_equal(np.concatenate([first.adx, rest.adx]), ind.adx(h, lo, c, n).adx)
    a1, s1 = ind.atr(h[:cut], lo[:cut], c[:cut], n)
    a2, _ = ind.atr(h[cut:], lo[cut:], c[cut:], n, s1)
    np.testing.assert_array_equal(np.concatenate([a1, a2]), ind.atr(h, lo, c, n)[0])


def _stepped(h, lo, c, n):
    """The steps candle by candle: the reference the batch forms' fast path must equal bit for bit."""
    e, r, a, d = ind.ema_init(n), ind.rsi_init(n), ind.atr_init(n), ind.adx_init(n)
    rows = []
    for hh, ll, cc in zip(h.tolist(), lo.tolist(), c.tolist(), strict=True):
        e, r = ind.ema_step(e, cc), ind.rsi_step(r, cc)
        a, d = ind.atr_step(a, hh, ll, cc), ind.adx_step(d, hh, ll, cc)
        rows.append((e.value, r.value, a.value, d.value, d.plus_di, d.minus_di))
    return np.array(rows, dtype=np.float64).reshape(-1, 6).T, (e, r, a, d)


def _chunked(h, lo, c, n, cuts):
    e = r = a = d = None
    parts = []
    for start, stop in zip([0, *cuts], [*cuts, len(c)], strict=True):
        hh, ll, cc = h[start:stop], lo[start:stop], c[start:stop]
        ev, e = ind.ema(cc, n, e)
        rv, r = ind.rsi(cc, n, r)
        av, a = ind.atr(hh, ll, cc, n, a)
        dv = ind.adx(hh, ll, cc, n, d)
        d = dv.state
        parts.append(np.array([ev, rv, av, dv.adx, dv.plus_di, dv.minus_di]).reshape(6, -1))
    return np.concatenate(parts, axis=1), (e, r, a, d)


def _bits_equal(ours, ref):
    # NaN-aware and exact: the bytes of the float64s.
    np.testing.assert_array_equal(np.asarray(ours).view(np.int64), np.asarray(ref).view(np.int64))


@settings(max_examples=80, deadline=None)
@given(
    rows=ohlc_series,
    flat=st.lists(st.tuples(st.integers(0, 299), st.integers(0, 400)), max_size=3),
    n=st.sampled_from([2, 3, 5, 14]),
    cuts=st.lists(st.integers(0, 1500), max_size=4),
)
def test_batch_fast_path_is_the_step_bit_for_bit(rows, flat, n, cuts):
    """Any chunking (one candle, the whole series) gives the scalar steps' numbers and states exactly,
    also across flat stretches where DX is undefined and ADX holds."""
    h, lo, c = _to_ohlc(rows)
    for where, length in sorted(flat, reverse=True):  # runs of identical candles: TR, DM, DI decay to 0
        at = min(where, len(c) - 1)
        h, lo, c = (np.insert(x, at, np.full(length, c[at])) for x in (h, lo, c))
    ref, ref_states = _stepped(h, lo, c, n)
    got, states = _chunked(h, lo, c, n, sorted({min(x, len(c)) for x in cuts}))
    _bits_equal(got, ref)
    for ours, theirs in zip(states, ref_states, strict=True):
        _bits_equal(np.array(ours[1:], dtype=np.float64), np.array(theirs[1:], dtype=np.float64))


def test_directional_indicators_hold_over_a_long_flat_stretch_like_talib():
    """Thousands of identical candles: TR and the directional movements decay together, never to zero, so
    the DIs (their ratio), DX and ADX hold their last values, as TA-Lib's PLUS_DI, MINUS_DI and ADX do. (An
    absolute zero band, as TA-Lib before 0.8 had, would call the range zero there and the DIs 0.)"""
    h, lo, c = _to_ohlc([(0.01 * ((i * 7) % 5 - 2), 0.01, 0.01) for i in range(100)])
    pad = np.full(3000, 1e-3)
    h, lo, c = (np.concatenate([x, pad, x * 1e-5]) for x in (h, lo, c))
    ours = ind.adx(h, lo, c, 14)
    _assert_same(ours.adx, talib.ADX(h, lo, c, 14))
    _assert_same(ours.plus_di, talib.PLUS_DI(h, lo, c, 14))
    _assert_same(ours.minus_di, talib.MINUS_DI(h, lo, c, 14))
    _, atr_state = ind.atr(h[:3000], lo[:3000], c[:3000], 14)
    assert 0 < atr_state.value < 1e-8  # the case under test happened: a range far under the old band
    flat = slice(200, 3100)
    assert np.ptp(ours.minus_di[flat]) < 1e-6
    assert ours.minus_di[flat].min() > 0


def test_a_sub_cent_coin_reads_as_talib_does(data):
    """Prices of a sub-cent coin (BTC's candles scaled to ~6e-6): moves and ranges far below 1e-8 are moves,
    not zero (under TA-Lib's old 1e-8 band its RSI read 0 and its DIs 0: no filter would ever block)."""
    scaled = [x[:5000] * 1e-10 for x in (data.high, data.low, data.close)]
    _assert_matches_talib(*scaled, 14)
    assert np.nanmax(ind.rsi(scaled[2], 14)[0]) > 70


def test_float64_even_for_float32_input(data):
    c32 = data.close.astype(np.float32)
    assert ind.ema(c32, 10)[0].dtype == np.float64
