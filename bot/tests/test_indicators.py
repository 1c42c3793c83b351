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
@given(rows=ohlc_series, n=st.sampled_from([2, 3, 7, 14]))
def test_batch_matches_talib_on_generated_series(rows, n):
    _assert_matches_talib(*_to_ohlc(rows), n)


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


def test_float64_even_for_float32_input(data):
    c32 = data.close.astype(np.float32)
    assert ind.ema(c32, 10)[0].dtype == np.float64
