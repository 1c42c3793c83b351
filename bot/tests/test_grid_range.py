"""grid.range: a fixed grid never moves whatever the price does; a following one is re-centred on a price that
left it, once the regrid cooldown is over (the engine's decision, so the backtest and the live loop agree)."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridbot.config.model import ConfigError, parse_config
from gridbot.core.engine import GridEngine
from gridbot.core.grid_plan import check_grid
from gridbot.core.synthetic import generate


def _config(grid: dict, cooldown_candles: int = 12) -> dict:
    return {
        "grid": {"levels": 8, **grid},
        "regrid": {"cooldown": f"{cooldown_candles * 5}m"},
        "filters": {"trend": {"mode": "off"}},
        "risk": {"max_drawdown_pct": None},
    }


def _run(cfg: dict, seed: int, n: int, chunk: int) -> GridEngine:
    candles = generate(n, seed=seed)
    engine = GridEngine(parse_config(cfg))
    for start in range(0, n, chunk):
        engine.run_chunk(candles.slice(start, start + chunk))
    return engine


bounds = st.tuples(st.floats(50_000, 60_000), st.floats(3, 25)).map(lambda t: (t[0], t[0] * (1 + t[1] / 100)))


@settings(max_examples=25, deadline=None)
@given(b=bounds, seed=st.integers(0, 10_000), chunk=st.sampled_from([1, 97, 5000]),
       explicit=st.booleans())  # fmt: skip
def test_a_fixed_range_is_the_only_grid_ever_placed(b, seed, chunk, explicit):
    lower, upper = b
    grid = {"lower": lower, "upper": upper} | ({"range": "fixed"} if explicit else {})
    cfg = _config(grid)
    engine = _run(cfg, seed, 3000, chunk)
    want = tuple(check_grid(parse_config(cfg), lower, upper).tolist())
    assert engine.grid_changes, "the first grid is placed at the first candle"
    assert {levels for _, levels in engine.grid_changes} == {want}
    assert engine.stats.regrids == 0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), width=st.floats(2, 10), cooldown=st.integers(0, 50),
       bounded=st.booleans())  # fmt: skip
def test_a_following_grid_is_recentred_only_after_the_price_left_it_and_the_cooldown(seed, width, cooldown,
                                                                                    bounded):  # fmt: skip
    grid = {"width_pct": width, "range": "follow"}
    if bounded:
        grid |= {"lower": 58_000.0, "upper": 62_000.0}
    candles = generate(3000, seed=seed)
    engine = _run(_config(grid, cooldown), seed, 3000, 500)
    changes = list(engine.grid_changes)
    for k, ((t0, old), (t1, _)) in enumerate(itertools.pairwise(changes)):
        if k > 0:  # the cooldown runs from a regrid (regrid.cooldown), not from the first grid
            assert t1 - t0 >= cooldown * 300_000
        j = int(np.searchsorted(candles.time_ms, t1))
        close = float(candles.close[j])
        assert close > old[-1] or close < old[0], "re-centred while the price was inside the grid"
    assert engine.stats.regrids == len(changes) - 1


def test_a_fixed_range_stays_and_a_following_one_moves_on_the_same_trend():
    """The same bounds on the same candles: fixed keeps them, follow leaves them when the price does."""
    trend = {"lower": 57_000.0, "upper": 63_000.0}
    fixed = _run(_config(trend), 7, 20_000, 5000)
    follow = _run(_config(trend | {"range": "follow"}), 7, 20_000, 5000)
    assert len(fixed.grid_changes) == 1
    assert len(follow.grid_changes) > 1


@pytest.mark.parametrize(
    ("grid", "exits", "words"),
    [
        ({"range": "fixed"}, {}, "grid.range fixed keeps the grid between grid.lower and grid.upper"),
        ({"lower": 50_000, "upper": 60_000}, {"trailing_up": True}, "exits.trailing_up moves the grid up"),
        ({"range": "sideways"}, {}, "grid.range"),
    ],
)
def test_contradictory_range_settings_are_refused_naming_the_fields(grid, exits, words):
    with pytest.raises(ConfigError, match=words):
        parse_config({"grid": grid, "exits": exits})


def test_the_range_defaults_to_fixed_with_bounds_else_follow():
    assert parse_config({}).grid.range == "follow"
    assert parse_config({"grid": {"lower": 50_000, "upper": 60_000}}).grid.range == "fixed"
    bounded = {"lower": 50_000, "upper": 60_000}
    assert parse_config({"grid": bounded | {"range": "follow"}}).grid.range == "follow"
