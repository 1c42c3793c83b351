"""Engine properties over generated markets: accounting, fills, no lookahead, fast path == step path."""

from dataclasses import replace
from datetime import UTC, datetime
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gridbot.config.model import parse_config
from gridbot.core.candles import Candles
from gridbot.core.engine import MAX_CURVE_POINTS, GridEngine
from gridbot.core.grid import floor_to_step, min_step_ratio
from gridbot.core.paper import PaperExchange
from gridbot.core.portfolio import DUST
from gridbot.core.risk import drawdown
from gridbot.core.synthetic import generate
from gridbot.ops.candle_files import load_embedded


def _config(mode="ema", rsi=False, atr=False, levels=12, cooldown=50):
    return parse_config({
        "grid": {"levels": levels, "width_pct": 8, "atr_spacing": {"enabled": atr}},
        "regrid": {"cooldown": f"{cooldown * 5}m"},
        "filters": {"trend": {"mode": mode, "ema_period": 20}, "rsi": {"enabled": rsi}},
    })  # fmt: skip


def _run(cfg, candles, chunk):
    ledger, opened = [], []
    engine = GridEngine(cfg, ledger=lambda row, _fill: ledger.append(row))
    place = engine.exchange.place_limit

    def spy(*args, **kwargs):
        order = place(*args, **kwargs)
        opened.append((order, engine.t))
        return order

    engine.exchange.place_limit = spy
    for start in range(0, len(candles), chunk):
        engine.run_chunk(candles.slice(start, start + chunk))
    return engine, ledger, opened


configs = st.builds(
    _config,
    mode=st.sampled_from(["off", "ema", "adx", "both"]),
    rsi=st.booleans(),
    atr=st.booleans(),
    levels=st.integers(4, 30),
    cooldown=st.integers(0, 300),
)


@settings(max_examples=20, deadline=None)
@given(cfg=configs, seed=st.integers(0, 10_000), chunk=st.sampled_from([97, 1000, 65_536]))
def test_accounting_identity_holds_to_the_cent(cfg, seed, chunk):
    candles = generate(3000, seed=seed)
    engine, _, _ = _run(cfg, candles, chunk)
    p, mark = engine.portfolio, float(candles.close[-1])
    assert p.start_equity + p.realized + p.unrealized(mark) == pytest.approx(p.equity(mark), abs=0.005)
    assert p.quote >= -1e-9
    assert p.base >= 0


@settings(max_examples=20, deadline=None)
@given(cfg=configs, seed=st.integers(0, 10_000))
def test_every_fill_touched_its_price_and_came_after_its_order(cfg, seed):
    candles = generate(2000, seed=seed)
    _engine, ledger, _ = _run(cfg, candles, 500)
    index = {int(t): i for i, t in enumerate(candles.time_ms)}
    for row in ledger:
        i = index[int(np.datetime64(row["date"][:-6], "ms").astype(np.int64))]
        if row["side"] == "buy":
            assert candles.low[i] <= row["price"]
        else:
            assert candles.high[i] >= row["price"]


@settings(max_examples=20, deadline=None)
@given(cfg=configs, seed=st.integers(0, 10_000))
def test_no_lookahead_orders_fill_from_the_next_candle(cfg, seed):
    candles = generate(1200, seed=seed)
    fills_at = []
    engine = GridEngine(cfg)
    placed_at: dict[int, int] = {}
    place, fills = engine.exchange.place_limit, engine.exchange.fills

    def spy_place(*args, **kwargs):
        order = place(*args, **kwargs)
        placed_at[order.id] = current[0]
        return order

    def spy_fills(candle):
        out = fills(candle)
        fills_at.extend((f.order.id, current[0]) for f in out)
        return out

    engine.exchange.place_limit, engine.exchange.fills = spy_place, spy_fills
    current = [0]
    for i in range(len(candles)):
        current[0] = i
        engine.run_chunk(candles.slice(i, i + 1))
    assume(fills_at)  # a market that never reached an order proves nothing here
    assert all(at > placed_at[oid] for oid, at in fills_at)


@settings(max_examples=15, deadline=None)
@given(cfg=configs, seed=st.integers(0, 10_000))
def test_every_grid_sell_rests_at_least_one_step_above_its_buy(cfg, seed):
    """A filled buy places a sell one level up: never priced below one step's margin over the buy."""
    candles = generate(3000, seed=seed)
    engine = GridEngine(cfg)
    pairs, filled = [], []
    on_fill, place = engine._on_fill, engine.exchange.place_limit

    def spy_fill(fill):
        filled.append(fill.order)
        on_fill(fill)
        filled.pop()

    def spy_place(side, price, *args, **kwargs):
        if filled and filled[-1].side == "buy":
            pairs.append((filled[-1].price, price, min_step_ratio(engine.levels)))
        return place(side, price, *args, **kwargs)

    engine._on_fill, engine.exchange.place_limit = spy_fill, spy_place
    engine.run_chunk(candles)
    assume(pairs)
    for buy_price, sell_price, step in pairs:
        # Prices are rounded to the 0.01 tick after the step is applied.
        assert sell_price >= buy_price * (1 + step) - 0.011
        assert sell_price * (1 - engine.cfg.market.maker_fee) > buy_price * (1 + engine.cfg.market.maker_fee)


@pytest.mark.parametrize("mode", ["off", "ema", "adx", "both"])
def test_fast_path_equals_candle_by_candle(mode):
    candles = load_embedded().slice(0, 8000)
    cfg = _config(mode=mode, rsi=True, atr=(mode == "adx"))
    fast, fast_ledger, fast_opened = _run(cfg, candles, 65_536)
    slow, slow_ledger, slow_opened = _run(cfg, candles, 1)
    assert fast_ledger == slow_ledger
    assert fast.summary() == slow.summary()
    # every order placed, ids and times included, and those resting at the end: the fast path opens and
    # closes the buys at the filter's flips in its search for the next event, not as events of their own
    assert [o for o, _ in fast_opened] == [o for o, _ in slow_opened]
    assert fast.snapshot() == slow.snapshot()
    assert len(fast_ledger) > 20


@settings(max_examples=12, deadline=None)
@given(
    mode=st.sampled_from(["off", "ema", "adx", "both"]),
    seed=st.integers(0, 10_000),
    levels=st.integers(4, 30),
    trailing=st.booleans(),
    regrid=st.booleans(),
    stop=st.sampled_from([None, 0.85, 0.95]),
    take=st.sampled_from([None, 1.1, 1.3]),
    drawdown=st.sampled_from([None, 2.0, 5.0, 12.0]),
    cancel=st.booleans(),
)
def test_fast_path_equals_candle_by_candle_with_exits_and_inventory_sells(
    mode, seed, levels, trailing, regrid, stop, take, drawdown, cancel
):
    """Generated markets (their falls leave inventory sells above the regridded grid's top) with a trailing
    grid, stop-loss and take-profit prices and a drawdown halt: the event search skips no candle where
    something happens, and the halt comes on the same candle in any chunking."""
    start = 60_000.0
    cfg = parse_config({
        "grid": {"levels": levels, "width_pct": 6},
        "regrid": {"enabled": regrid, "cooldown": "1h"},
        "filters": {"trend": {"mode": mode, "ema_period": 20}, "rsi": {"enabled": mode == "both"}},
        "exits": {"trailing_up": trailing, "stop_loss": stop and start * stop,
                  "take_profit": take and start * take},
        "risk": {"max_drawdown_pct": drawdown, "cancel_on_halt": cancel},
    })  # fmt: skip
    candles = generate(3000, seed=seed, start_price=start)
    fast, fast_ledger, fast_opened = _run(cfg, candles, 65_536)
    slow, slow_ledger, slow_opened = _run(cfg, candles, 1)
    assert fast_ledger == slow_ledger
    assert [o for o, _ in fast_opened] == [o for o, _ in slow_opened]
    assert fast.snapshot() == slow.snapshot()


class _BnbPaper(PaperExchange):
    """Fills as the paper exchange makes them, each also paying 0.05 quote of fees in a third asset (BNB)."""

    def fills(self, candle):
        return [replace(f, fee_other=0.05) for f in super().fills(candle)]


def test_equity_marks_subtract_fees_paid_in_a_third_asset_in_any_chunking():
    candles = load_embedded().slice(0, 8000)
    cfg = _config(mode="adx")
    fast = GridEngine(cfg, exchange=_BnbPaper(cfg.market.maker_fee))
    fast.run_chunk(candles)
    slow = GridEngine(cfg, exchange=_BnbPaper(cfg.market.maker_fee))
    checked = 0
    for i in range(len(candles)):
        one = candles.slice(i, i + 1)
        slow.run_chunk(one)
        if slow.curve[-1][0] == int(one.time_ms[0]):  # this candle was sampled: its mark is the books' now
            assert slow.curve[-1][2] == slow.portfolio.equity(float(one.close[0]))
            checked += 1
    assert checked > 1000
    assert slow.portfolio.fees_outside > 1.0
    assert slow.curve == fast.curve
    assert slow.stats.max_drawdown == fast.stats.max_drawdown


def test_history_is_bounded_and_overflow_archived():
    archived = []
    cfg = parse_config({"history_cap": 5, "filters": {"trend": {"mode": "off"}}})
    engine = GridEngine(cfg, archive=archived.append)
    engine.run_chunk(load_embedded().slice(0, 20_000))
    assert len(engine.history) == 5
    assert engine.stats.round_trips == len(archived) + 5 > 5
    trips = [*archived, *engine.history]  # oldest first, none lost or repeated
    assert [t.closed_ms for t in trips] == sorted(t.closed_ms for t in trips)
    assert sum(t.profit for t in trips) == pytest.approx(engine.portfolio.realized, abs=1e-6)


def test_trend_filter_pauses_buys_in_a_downtrend():
    n = 3000
    t = np.arange(n, dtype=np.int64) * 60_000
    close = 50_000 * np.exp(-0.0005 * np.arange(n))  # a steady slide
    candles = Candles(t, close, close * 1.0005, close * 0.9995, close, np.ones(n))
    cfg_on = parse_config(
        {"filters": {"trend": {"mode": "ema", "ema_period": 20, "max_down_slope_pct": 0.1}}}
    )
    cfg_off = parse_config({"filters": {"trend": {"mode": "off"}}})
    buys = {}
    for name, cfg in (("on", cfg_on), ("off", cfg_off)):
        ledger = []
        GridEngine(cfg, ledger=lambda row, _fill, rows=ledger: rows.append(row)).run_chunk(candles)
        buys[name] = sum(1 for r in ledger if r["side"] == "buy")
    assert buys["on"] < buys["off"] / 2


@pytest.mark.parametrize("mode", ["off", "ema"])
def test_the_equity_curve_keeps_its_cap_and_its_stride_whatever_the_chunks(mode):
    """Equity is marked over spans of unchanged books, a quiet market's spanning thousands of candles: the
    curve is thinned until under its cap, its stride a function of the candles seen, not of the spans."""
    candles = load_embedded()
    assert len(candles) > 8 * MAX_CURVE_POINTS
    cfg = _config(mode=mode)
    whole, _, _ = _run(cfg, candles, 65_536)
    pieces, _, _ = _run(cfg, candles, 500)
    assert len(whole.curve) < MAX_CURVE_POINTS
    assert whole.curve == pieces.curve


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), limit=st.sampled_from([1.0, 3.0, 8.0]), cancel=st.booleans())
def test_the_drawdown_halt_comes_at_the_first_close_past_the_limit_as_the_live_loop_judges_it(
    seed, limit, cancel
):
    """Candle by candle, the equity at each close judged as the live loop judges it after a cycle
    (`risk.drawdown` against the start equity): the engine halts on the first such candle, names it, books
    nothing after it and keeps its orders unless `risk.cancel_on_halt`."""
    cfg = parse_config({"grid": {"levels": 12, "width_pct": 8}, "filters": {"trend": {"mode": "off"}},
                        "risk": {"max_drawdown_pct": limit, "cancel_on_halt": cancel}})  # fmt: skip
    candles = generate(3000, seed=seed, start_price=60_000.0)
    rows: list[dict] = []
    engine = GridEngine(cfg, ledger=lambda row, _fill: rows.append(row))
    for i in range(len(candles)):
        engine.run_chunk(candles.slice(i, i + 1))
        if engine.halted:
            break
        assert drawdown(engine.portfolio.equity(float(candles.close[i])), 1000.0, limit) is None
    assume(engine.halted)
    want = drawdown(engine.portfolio.equity(float(candles.close[i])), 1000.0, limit)
    assert engine.halted == want
    assert engine.summary()["halted_at"] == datetime.fromtimestamp(candles.time_ms[i] / 1000, UTC).isoformat()
    booked, resting = len(rows), len(engine.exchange.open_orders())
    engine.run_chunk(candles.slice(i + 1, len(candles)))
    assert len(rows) == booked, "nothing booked once halted"
    assert len(engine.exchange.open_orders()) == (0 if cancel else resting)
    whole = GridEngine(cfg)
    whole.run_chunk(candles)
    assert whole.snapshot() == engine.snapshot()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), chunk=st.sampled_from([1, 7, 65_536]))
def test_the_traders_figures_agree_with_the_ledger_and_the_equity_candle_by_candle(seed, chunk):
    """Win rate and profit factor from the ledger's realized PnL, the longest idle stretch from its dates,
    the drawdown's duration from each close's equity and the buy-and-hold from the first open and last
    close, computed here outside the engine, in any chunking."""
    cfg = parse_config({"grid": {"levels": 10, "width_pct": 6}, "filters": {"trend": {"mode": "off"}},
                        "risk": {"max_drawdown_pct": None}})  # fmt: skip
    candles = generate(3000, seed=seed, start_price=60_000.0)
    rows: list[dict] = []
    engine = GridEngine(cfg, ledger=lambda row, _fill: rows.append(row))
    equities = []
    for i in range(0, len(candles), chunk):
        part = candles.slice(i, i + chunk)
        engine.run_chunk(part)
        if chunk == 1:
            equities.append((int(part.time_ms[0]), engine.portfolio.equity(float(part.close[0]))))
    s = engine.summary()
    sells = [r["realized_pnl"] for r in rows if r["side"] == "sell"]
    assume(sells)
    wins = [p for p in sells if p > 0]
    losses = [-p for p in sells if p <= 0]
    assert s["win_rate_pct"] == round(len(wins) / len(sells) * 100, 2)
    assert s["profit_factor"] == (round(sum(wins) / sum(losses), 3) if sum(losses) > 0 else "inf")
    times = [int(datetime.fromisoformat(r["date"]).timestamp() * 1000) for r in rows]
    ends = [int(candles.time_ms[0]), *times, int(candles.time_ms[-1])]
    assert s["longest_idle_days"] == round(max(b - a for a, b in pairwise(ends)) / 86_400_000, 2)
    hold = (float(candles.close[-1]) / float(candles.open[0]) - 1) * 100
    assert s["buy_and_hold_pct"] == round(hold, 4)
    assert s["excess_return_pct"] == pytest.approx(s["return_pct"] - hold, abs=1e-3)
    if chunk == 1:
        peak, peak_ms, longest = 1000.0, int(candles.time_ms[0]), 0
        for t, eq in equities:
            if eq >= peak:
                peak, peak_ms = eq, t
            longest = max(longest, t - peak_ms)
        assert s["max_drawdown_days"] == round(longest / 86_400_000, 2)


@settings(max_examples=15, deadline=None)
@given(cfg=configs, seed=st.integers(0, 10_000))
def test_a_backtests_resting_sells_never_offer_more_than_it_holds(cfg, seed):
    """The invariant `trim_sells` restores on a live exchange: the paper exchange never breaks it, so the
    cut never changes a backtest's decisions."""
    candles = generate(1500, seed=seed)
    engine = GridEngine(cfg)
    for start in range(len(candles)):
        engine.run_chunk(candles.slice(start, start + 1))
        offered = sum(o.qty for o in engine.exchange.open_orders() if o.side == "sell")
        assert offered <= engine.portfolio.base * (1 + DUST)
        assert engine.trim_sells(engine.stats.last_ms) == []


@settings(max_examples=50, deadline=None)
@given(
    qtys=st.lists(st.integers(1, 500), min_size=1, max_size=12),
    gone=st.floats(0.0, 1.0),
    seed=st.integers(0, 10_000),
)
def test_trimmed_sells_keep_the_lowest_that_fit_and_offer_the_rest_of_the_holding(qtys, gone, seed):
    """Sells resting past the holding (a sale booked after the engine decided, as on a live exchange): the
    lowest-priced that fit are kept, from the first that does not fit every higher one is cancelled, and
    what the kept ones leave of the holding is offered at that first one's level and price (dust below the
    exchange's minimum kept): the whole holding offered, never more."""
    engine = GridEngine(_config(mode="off"))
    engine.run_chunk(generate(50, seed=seed))
    engine.exchange.cancel_all()
    rng = np.random.default_rng(seed)
    prices = sorted(rng.uniform(20_000.0, 30_000.0, len(qtys)).round(2).tolist())
    placed = [engine.exchange.place_limit("sell", p, q * 1e-5, level)
              for level, (p, q) in enumerate(zip(prices, qtys, strict=True))]  # fmt: skip
    engine.portfolio = replace(engine.portfolio, base=sum(qtys) * 1e-5 * (1 - gone))
    held = engine.portfolio.base
    cut = engine.trim_sells(engine.stats.last_ms)
    resting = [o for o in engine.exchange.open_orders() if o.side == "sell"]
    kept = [o for o in resting if o in placed]
    assert kept + cut == placed, "the lowest kept, every one from the first that does not fit cancelled"
    if cut:
        assert sum(o.qty for o in kept) + cut[0].qty > held * (1 + DUST)
    again = [o for o in resting if o not in placed]
    rest = float(floor_to_step(np.array(held - sum(o.qty for o in kept)), engine.market.lot_step))
    if cut and rest * cut[0].price >= engine.market.min_notional:
        ((o,),) = (again,)
        assert (o.price, o.qty, o.level) == (cut[0].price, rest, cut[0].level)
    else:
        assert again == []
    offered = sum(o.qty for o in resting)
    assert offered <= held * (1 + DUST)
    unoffered = held - offered  # less than a lot, or dust the exchange would refuse
    step, least = engine.market.lot_step, engine.market.min_notional
    assert unoffered < step or (cut and (unoffered - step) * cut[0].price < least), (unoffered, cut)
    assert engine.exchange.best_ask() == min((o.price for o in resting), default=np.inf)
    ended = [(o.opened_ms, engine.stats.last_ms, o.price, o.side) for o in cut]
    spans = list(engine.order_spans.spans)
    assert spans[len(spans) - len(cut) :] == ended
