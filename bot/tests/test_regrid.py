"""A restart on a changed grid config re-plans the grid (the engine, the paper replay service); the live
loop's version, judged from the exchange, is below, on the live harness."""

import itertools
import json
import time
from decimal import Decimal

import numpy as np
import pytest
from live_harness import drive, judge_against_the_exchange

from gridbot.cli import main
from gridbot.config.model import parse_config
from gridbot.core import engine_state
from gridbot.core.engine import GridEngine
from gridbot.core.grid import centred_bounds, min_step_ratio, size_orders
from gridbot.core.grid_plan import check_grid
from gridbot.ops.candle_files import load_embedded

BASE = {"filters": {"trend": {"mode": "off"}}, "regrid": {"cooldown": "1h"}}
OLD = {"lower": 59000, "upper": 61000, "levels": 6}  # around the embedded data's first hours (~60k)


def _engine(grid: dict) -> GridEngine:
    return GridEngine(parse_config({**BASE, "grid": grid}))


def _holding(grid: dict) -> tuple[GridEngine, int]:
    """An engine on `grid` run candle by candle until it holds inventory (candle 41 for OLD)."""
    c, e = load_embedded(), _engine(grid)
    for n in range(1, 500):
        e.run_chunk(c.slice(n - 1, n))
        if e.portfolio.base > 0 and n > 20:
            return e, n
    raise AssertionError("never bought")


@pytest.mark.parametrize(
    "new",
    [
        {"lower": 55000, "upper": 65000, "levels": 10, "budget_quote": 500},  # the reproduction
        {"lower": 59000, "upper": 61000, "levels": 8},
        {"width_pct": 5, "levels": 6},
        {**OLD, "budget_quote": 400},
        {**OLD, "spacing": "arithmetic"},
    ],
)
def test_a_restart_on_another_grid_config_replans_at_the_next_candle(new):
    """Restored under a config asking another grid: at the next candle the old orders are gone, the new
    levels carry the buys (sized from the new budget), the inventory is kept and offered on the new levels at
    or above its cost plus one step, and the grid records the settings it came from. Before: the old grid's
    orders kept trading under the new config."""
    old, n = _holding(OLD)
    held, cost = old.portfolio.base, old.portfolio.avg_cost
    e = _engine(new)
    e.restore(old.snapshot())
    candle = load_embedded().slice(n, n + 1)
    e.run_chunk(candle)
    close = float(candle.close[0])
    bounds = (new["lower"], new["upper"]) if "lower" in new else centred_bounds(close, new["width_pct"])
    want = check_grid(e.cfg, *bounds)
    assert e.levels is not None
    np.testing.assert_array_equal(e.levels, want)
    assert not e.replan
    assert e.grid_config == engine_state.grid_settings(e.cfg)
    assert e.stats.regrids == old.stats.regrids + 1
    qty = size_orders(want, min(e.cfg.grid.budget_quote, e.portfolio.quote), e.market)
    orders = e.exchange.open_orders()
    assert orders
    floor = cost * (1 + min_step_ratio(want))
    for o in orders:
        assert o.level >= 0
        if o.side == "buy":
            assert (o.price, o.qty) == (want[o.level], qty[o.level])
            assert o.price < close
        else:
            assert o.price >= floor - e.market.tick_size
            assert o.price == max(want[o.level], o.price)
    assert sum(o.qty for o in orders if o.side == "sell") == pytest.approx(held, abs=e.market.lot_step)
    assert e.portfolio.base == held, "inventory kept, not sold"


def test_the_same_config_restores_the_same_grid():
    old, n = _holding(OLD)
    e = _engine(OLD)
    e.restore(old.snapshot())
    before = sorted((o.side, o.price, o.qty) for o in e.exchange.open_orders())
    e.run_chunk(load_embedded().slice(n, n + 1))
    assert e.stats.regrids == old.stats.regrids
    old.run_chunk(load_embedded().slice(n, n + 1))
    assert sorted((o.side, o.price, o.qty) for o in e.exchange.open_orders()) == sorted(
        (o.side, o.price, o.qty) for o in old.exchange.open_orders()
    )
    assert before
    assert not e.replan


@pytest.mark.parametrize(
    ("grid", "replan"),
    [(OLD, False), ({**OLD, "levels": 8}, True), ({**OLD, "lower": 58000}, True), ({"levels": 6}, False)],
)
def test_a_snapshot_from_before_grids_recorded_their_settings(grid, replan):
    """No settings saved with the grid: re-planned when its levels are not what the config builds (their
    count; fixed bounds' very levels), kept otherwise (a centred grid of the same count)."""
    old, _ = _holding(OLD)
    snap = old.snapshot()
    del snap["grid_config"]
    e = _engine(grid)
    e.restore(snap)
    assert e.replan == replan


def test_the_paper_replay_service_replans_on_a_restart_and_status_shows_the_grid_in_force(tmp_path, capsys):
    def config(grid: dict) -> str:
        path = tmp_path / "bot.yml"
        run = {"cycle_seconds": 0.001, "state_dir": str(tmp_path / "data"),
               "heartbeat_file": str(tmp_path / "hb"), "http_port": None}  # fmt: skip
        path.write_text(json.dumps({**BASE, "grid": grid, "run": run}))
        return str(path)

    assert main(["run", "-c", config(OLD), "--max-cycles", "60"]) == 0
    capsys.readouterr()
    assert main(["status", "-c", config(OLD)]) == 0
    grid = json.loads(capsys.readouterr().out)["grid"]
    assert (grid["levels"], grid["lower"], grid["upper"]) == (6, 59000, 61000)
    new = {"lower": 55000, "upper": 65000, "levels": 10, "budget_quote": 500}
    assert main(["run", "-c", config(new), "--max-cycles", "1"]) == 0
    assert "grid re-planned" in capsys.readouterr().err
    assert main(["status", "-c", config(new)]) == 0
    status = json.loads(capsys.readouterr().out)
    grid = status["grid"]
    assert (grid["levels"], grid["lower"], grid["upper"], grid["budget_quote"]) == (10, 55000, 65000, 500)
    settings = engine_state.grid_settings(parse_config({**BASE, "grid": new}))
    assert grid["settings_sha256"] == engine_state.settings_sha256(settings)
    levels = check_grid(parse_config({"grid": new}), 55000, 65000)
    assert grid["step_pct"] == pytest.approx(min_step_ratio(levels) * 100, abs=1e-4)
    assert not grid["replan"]


def _cost_of_what_is_held(trades: list[dict]) -> float:
    """The average cost (fees included) of the lots still held, FIFO, from the exchange's own trades."""
    lots: list[list[float]] = []
    for t in sorted(trades, key=lambda t: int(t["id"])):
        qty, price, fee = float(t["qty"]), float(t["price"]), float(t["commission"])
        if t["isBuyer"]:
            lots.append([qty - fee, qty * price / (qty - fee)])
            continue
        left = qty
        while left > 1e-12 and lots:
            take = min(left, lots[0][0])
            lots[0][0] -= take
            left -= take
            if lots[0][0] <= 1e-12:
                lots.pop(0)
    return sum(q * p for q, p in lots) / sum(q for q, _ in lots)


def test_a_live_restart_on_another_grid_moves_the_exchanges_orders_within_one_cycle(tmp_path, exchange, bots):
    """Live, holding inventory, restarted on 10 levels over 5% with half the budget (was 6 over 2%): after
    one candle every resting order of the old grid is cancelled on the exchange, the resting buys are the
    new grid's (its step, its budget), the inventory rests at or above its cost plus one step, nothing was
    sold, and status shows the grid in force. Before: the old 6 levels kept trading."""
    ex = exchange()
    bot = bots(tmp_path, ex.base)
    bot.start()
    k = 0
    while k < 3 or not bot.status().get("base_held"):
        drive(ex, bot, 1, seen=k)
        k += 1
        assert k < 200, "never bought"
    assert bot.term() == 0
    old = {o["clientOrderId"] for o in ex.orders() if o["status"] == "NEW"}
    sold = sum(1 for t in ex.trades() if not t["isBuyer"])
    cfg = json.loads(bot.cfg.read_text())
    new = {"width_pct": 5, "levels": 10, "budget_quote": 500}
    cfg["grid"] = new
    bot.cfg.write_text(json.dumps(cfg))
    bot.start()
    drive(ex, bot, 1, seen=k)
    state = {o["clientOrderId"]: o for o in ex.orders()}
    assert all(state[c]["status"] in ("CANCELED", "FILLED") for c in old), "the old grid is gone"
    resting = [o for o in state.values() if o["status"] == "NEW"]
    deadline = time.monotonic() + 10
    while (grid := bot.status()["grid"])["levels"] != 10:
        assert time.monotonic() < deadline, bot.status()
        time.sleep(0.02)
    step = (1.05 ** (1 / 9) - 1) * 100
    assert grid["step_pct"] == pytest.approx(step, abs=0.01)
    assert grid["budget_quote"] == 500
    settings = engine_state.grid_settings(parse_config({"grid": new}))
    assert grid["settings_sha256"] == engine_state.settings_sha256(settings)
    buys = sorted(float(o["price"]) for o in resting if o["side"] == "BUY")
    sells = [o for o in resting if o["side"] == "SELL"]
    assert buys
    assert sells
    for low, high in itertools.pairwise(buys):
        assert high / low - 1 == pytest.approx(step / 100, rel=0.01), "the new step between the buys"
    for o in resting:
        if o["side"] == "BUY":
            assert grid["lower"] <= float(o["price"]) <= grid["upper"]
            assert float(Decimal(o["origQty"]) * Decimal(o["price"])) == pytest.approx(500 / 9, rel=0.01)
    floor = _cost_of_what_is_held(ex.trades()) * (1 + step / 100)
    assert min(float(o["price"]) for o in sells) >= floor - 0.01
    held = sum(Decimal(o["origQty"]) for o in sells)
    assert float(held) == pytest.approx(bot.status()["base_held"], abs=1e-5)
    assert sum(1 for t in ex.trades() if not t["isBuyer"]) == sold, "nothing sold by the re-plan"
    judge_against_the_exchange(ex, bot)
    assert bot.term() == 0
