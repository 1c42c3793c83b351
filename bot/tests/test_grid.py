"""Grid math properties and config validation messages."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gridbot.config.model import ConfigError, parse_config
from gridbot.core.grid import GridError, Market, atr_bounds, build_levels, check_step_covers_fees, size_orders

MARKET = Market(tick_size=0.01, lot_step=0.00001, min_notional=5.0)


@given(
    lower=st.floats(10, 100_000),
    width=st.floats(0.01, 3.0),
    count=st.integers(2, 200),
    spacing=st.sampled_from(["arithmetic", "geometric"]),
)
def test_levels_monotone_within_bounds_and_on_ticks(lower, width, count, spacing):
    upper = lower * (1 + width)
    try:
        levels = build_levels(lower, upper, count, spacing, MARKET)
    except GridError:
        assume(False)
    assert len(levels) == count
    assert np.all(np.diff(levels) > 0)
    assert levels[0] >= round(lower, 2) - 0.005
    assert levels[-1] <= round(upper, 2) + 0.005
    np.testing.assert_allclose(levels * 100, np.round(levels * 100), atol=1e-6)


@given(budget=st.floats(1, 1e6), count=st.integers(2, 100))
def test_sizing_spends_at_most_the_budget_and_respects_min_notional(budget, count):
    levels = build_levels(20_000, 40_000, count, "geometric", MARKET)
    qty = size_orders(levels, budget, MARKET)
    assert qty[-1] == 0  # the top level only ever sells
    notional = qty * levels
    assert notional.sum() <= budget + 1e-6
    assert np.all((qty == 0) | (notional >= MARKET.min_notional))
    np.testing.assert_allclose(qty / MARKET.lot_step, np.round(qty / MARKET.lot_step), atol=1e-6)


def test_step_must_exceed_twice_the_fee():
    levels = build_levels(100, 101, 3, "arithmetic", MARKET)  # ~0.5% steps
    check_step_covers_fees(levels, 0.002)
    with pytest.raises(GridError, match="does not exceed twice the fee"):
        check_step_covers_fees(levels, 0.0025)
    # 0.2001% beats 2 x 0.1% but not the break-even: 100.2001 * 0.999 < 100 * 1.001.
    with pytest.raises(GridError, match="does not exceed twice the fee"):
        check_step_covers_fees(np.array([100.0, 100.2001]), 0.001)
    check_step_covers_fees(np.array([100.0, 100.2003]), 0.001)


@pytest.mark.parametrize(
    ("data", "field", "shown"),
    [
        ({"grid": {"levels": 1}}, "grid.levels", "1"),
        ({"grid": {"spacing": "spiral"}}, "grid.spacing", "'spiral'"),
        ({"market": {"maker_fee": -0.1}}, "market.maker_fee", "-0.1"),
        ({"grid": {"lower": 5}}, "grid", "lower and grid.upper go together"),
        ({"grid": {"budgett": 5}}, "grid.budgett", "5"),
        ({"market": {"symbol": "btc-usdt"}}, "market.symbol", "'btc-usdt'"),
        ({"grid": {"levels": 200, "width_pct": 10}}, "config", "twice the fee"),
        ({"mode": "real"}, "mode", "'real'"),
        ({"mode": "live"}, "run.data", "set run.data: exchange (got 'embedded')"),
        ({"exchange": {"api_url": "http://x", "sandbox": True}}, "exchange.api_url", "exclude each other"),
        ({"risk": {"max_price_age": "0"}}, "risk.max_price_age", "positive duration"),
        ({"run": {"bot_id": "a-b"}}, "run.bot_id", "'a-b'"),
    ],
)
def test_config_errors_name_the_field_and_value(data, field, shown):
    with pytest.raises(ConfigError) as err:
        parse_config(data, "bot.yml")
    message = str(err.value)
    assert message.startswith("bot.yml: invalid configuration")
    assert field in message
    assert shown in message


def test_defaults_are_valid():
    cfg = parse_config({})
    assert cfg.mode == "paper"
    assert cfg.grid.levels == 20


def test_atr_bounds_step_is_the_multiple_of_atr_centred_on_the_price():
    lower, upper = atr_bounds(100.0, 2.0, 11, 0.5)
    assert (upper - lower) / 10 == pytest.approx(1.0)  # 0.5 x ATR per step
    assert (lower + upper) / 2 == pytest.approx(100.0)
    assert atr_bounds(100.0, 50.0, 11, 1.0)[0] == pytest.approx(1.0)  # never below 1% of the price
