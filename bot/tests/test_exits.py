"""Grids the engine places at any time, cooldown durations, exits (stop, take-profit, trigger, trailing)."""

import numpy as np
import pytest

from gridbot.config.model import ConfigError, duration_seconds, parse_config
from gridbot.core.candles import Candles
from gridbot.core.engine import GridEngine
from gridbot.core.grid import min_step_ratio
from gridbot.core.synthetic import generate

HOUR = 3_600_000


def _path(prices, step_ms=HOUR, spread=0.002):
    close = np.asarray(prices, dtype=np.float64)
    open_ = np.concatenate([close[:1], close[:-1]])
    n = len(close)
    t = 1_700_000_000_000 + step_ms * np.arange(n, dtype=np.int64)
    return Candles(t, open_, np.maximum(open_, close) * (1 + spread), np.minimum(open_, close) * (1 - spread),
                   close, np.ones(n))  # fmt: skip


def _cfg(**sections):
    base = {"filters": {"trend": {"mode": "off"}}, "grid": {"levels": 10, "width_pct": 10}}
    return parse_config({**base, **sections})


def _placed_grids(engine):
    grids, build = [], engine._grid_around

    def spy(close, time_ms, j):
        ok = build(close, time_ms, j)
        if ok:
            grids.append((time_ms, engine.levels.copy()))
        return ok

    engine._grid_around = spy
    return grids


def test_atr_grids_that_cannot_pay_their_fees_are_skipped_logged_and_counted():
    cfg = _cfg(
        grid={"levels": 12, "atr_spacing": {"enabled": True, "multiplier": 0.1}}, regrid={"cooldown": "1h"}
    )
    logged = []
    engine = GridEngine(cfg, log=logged.append)
    grids = _placed_grids(engine)
    engine.run_chunk(generate(6000, seed=3))
    s = engine.summary()
    assert s["grids_skipped"] > 0
    assert grids, "some ATR grids are wide enough to place"
    assert all(min_step_ratio(levels) > 2 * cfg.market.maker_fee for _, levels in grids)
    assert len(logged) == 1  # the first of its kind; the rest are counted
    assert "twice the fee" in logged[0]
    assert "keeping the current orders" in logged[0]


def test_a_grid_that_collapses_on_the_tick_never_stops_the_run():
    # EURUSD-like prices with a 0.01 tick: no grid can be built, the engine says so and keeps running.
    cfg = _cfg(market={"symbol": "EUR/USD", "tick_size": 0.01, "lot_step": 1, "min_notional": 1},
               grid={"levels": 10, "width_pct": 3}, regrid={"cooldown": "1d"})  # fmt: skip
    engine = GridEngine(cfg, log=[].append)
    candles = _path(1.1 + 0.01 * np.sin(np.arange(500) / 20))
    engine.run_chunk(candles)
    s = engine.summary()
    assert s["candles"] == 500
    assert s["open_orders"] == 0
    assert 500 / 24 - 1 <= s["grids_skipped"] <= 500 / 24 + 1  # one retry per cooldown (1d of hourly bars)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("4h", 14_400), ("1d", 86_400), ("2w", 1_209_600), ("0", 0)]
)
def test_cooldown_durations(text, seconds):
    assert duration_seconds(text) == seconds
    assert parse_config({"regrid": {"cooldown": text}}).regrid.cooldown_ms == seconds * 1000


@pytest.mark.parametrize("bad", ["5", "1y", "d", "-1d", "1.5h"])
def test_a_bad_cooldown_names_the_field(bad):
    with pytest.raises(ConfigError, match=r"regrid.cooldown.*duration"):
        parse_config({"regrid": {"cooldown": bad}}, "bot.yml")


def test_cooldown_is_time_on_any_timeframe():
    """Regrids on hourly and on daily bars are at least the cooldown apart in time, not in candles."""
    for step, climb in ((HOUR, 1.5), (24 * HOUR, 12.0)):  # daily bars climb out of the grid every candle
        cfg = _cfg(regrid={"cooldown": "2d"}, grid={"levels": 6, "width_pct": 4})
        engine = GridEngine(cfg)
        grids = _placed_grids(engine)
        engine.run_chunk(_path(100 * np.exp(np.linspace(0, climb, 400)), step_ms=step))
        times = [t for t, _ in grids[1:]]  # the regrids (the first grid starts no cooldown)
        assert len(times) > 5
        assert set(np.diff(times)) == {2 * 24 * HOUR}  # as soon as the cooldown is over, not before


def test_stop_loss_sells_everything_cancels_and_halts():
    cfg = _cfg(exits={"stop_loss": 80})
    rows, logged = [], []
    engine = GridEngine(cfg, ledger=lambda row, _fill: rows.append(row), log=logged.append)
    prices = np.concatenate([100 + 2 * np.sin(np.arange(200) / 5), np.linspace(100, 60, 200)])
    engine.run_chunk(_path(prices))
    s = engine.summary()
    assert s["halted"].startswith("stop_loss at ")
    assert logged == [f"{s['halted']}: orders cancelled, {rows[-1]['amount']:g} sold, trading halted"]
    assert s["base_held"] < cfg.market.lot_step  # all but the dust below a lot step the exchange cannot sell
    assert s["open_orders"] == 0
    last = rows[-1]
    assert last["side"] == "sell"
    assert last["price"] <= 80
    assert last["fee"] == pytest.approx(last["price"] * last["amount"] * cfg.market.taker_fee)
    n_rows = len(rows)
    engine.run_chunk(_path(np.linspace(60, 120, 100)))  # halted: a rebound trades nothing
    assert len(rows) == n_rows
    assert engine.summary()["end_equity"] == s["end_equity"]


def test_take_profit_above_the_grid_cancels_and_halts():
    # Every unit held has its sell resting one level up, so above the grid they have all sold: the exit
    # cancels the buys and stops trading (it sells at market what is left, as the stop-loss test shows).
    cfg = _cfg(exits={"take_profit": 130}, regrid={"enabled": False})
    rows = []
    engine = GridEngine(cfg, ledger=lambda row, _fill: rows.append(row))
    engine.run_chunk(_path(np.concatenate([100 - 3 * np.sin(np.arange(100) / 5), np.linspace(97, 140, 100)])))
    s = engine.summary()
    assert s["halted"].startswith("take_profit at 13")
    assert s["base_held"] < cfg.market.lot_step  # the buy fees' remainders below a lot step stay
    assert s["open_orders"] == 0
    assert s["realized_pnl"] > 0
    n_rows = len(rows)
    engine.run_chunk(_path(np.linspace(140, 90, 100)))
    assert len(rows) == n_rows


def test_trigger_price_waits_for_the_price_to_trade_through_it():
    cfg = _cfg(exits={"trigger_price": 90})
    engine = GridEngine(cfg)
    grids = _placed_grids(engine)
    prices = np.concatenate([np.linspace(100, 95, 50), np.linspace(95, 85, 50)])
    candles = _path(prices, spread=0)
    engine.run_chunk(candles)
    first = int(np.argmax(candles.low <= 90))
    assert grids
    assert grids[0][0] == candles.time_ms[first]


def test_trailing_up_follows_a_rally_even_with_regrid_off():
    climb = 100 * np.exp(np.linspace(0, 0.8, 300))
    tops = {}
    for trail in (False, True):
        cfg = _cfg(regrid={"enabled": False}, exits={"trailing_up": trail})
        engine = GridEngine(cfg)
        engine.run_chunk(_path(climb))
        tops[trail] = float(engine.levels[-1])
    assert tops[False] < 110
    assert tops[True] >= climb[-1] * 0.99


def test_trailing_up_skips_the_cooldown_only_when_enabled():
    climb = 100 * np.exp(np.linspace(0, 0.8, 300))  # 300 hourly bars: the 2w cooldown never ends
    regrids = {}
    for trail in (False, True):
        engine = GridEngine(_cfg(regrid={"cooldown": "2w"}, exits={"trailing_up": trail}))
        engine.run_chunk(_path(climb))
        regrids[trail] = engine.stats.regrids
    assert regrids[False] == 1
    assert regrids[True] > 10


def test_exits_take_the_same_decisions_candle_by_candle():
    cfg = _cfg(
        exits={"stop_loss": 52_000, "take_profit": 70_000, "trigger_price": 59_500, "trailing_up": True}
    )
    candles = generate(5000, seed=11)
    bulk_rows, step_rows = [], []
    bulk, step = (
        GridEngine(cfg, ledger=lambda row, _fill: bulk_rows.append(row)),
        GridEngine(cfg, ledger=lambda row, _fill: step_rows.append(row)),
    )
    bulk.run_chunk(candles)
    for i in range(len(candles)):
        step.run_chunk(candles.slice(i, i + 1))
    assert bulk_rows == step_rows
    assert bulk.summary() == step.summary()
