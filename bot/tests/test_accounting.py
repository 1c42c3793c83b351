"""One honest PnL: FIFO lots, judged from outside the engine (its ledger, recomputed independently)."""

import json
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridbot.config.model import parse_config
from gridbot.core.engine import GridEngine
from gridbot.core.portfolio import Portfolio, buy, buy_fee_in_base, sell
from gridbot.core.synthetic import generate

FEE = 0.001


def fifo_realized(rows):
    """Each sell's realized PnL from the ledger rows alone: proceeds - fee - cost of the oldest lots."""
    lots, out = deque(), []  # [qty, quote paid per unit, fee included]
    for r in rows:
        qty, price, fee = float(r["amount"]), float(r["price"]), float(r["fee"])
        if r["side"] == "buy" and r.get("fee_currency") == "BTC":  # the engine's buys: fee taken in base
            lots.append([qty - fee, qty * price / (qty - fee)])
            out.append(0.0)
            continue
        if r["side"] == "buy":
            lots.append([qty, (qty * price + fee) / qty])
            out.append(0.0)
            continue
        cost, left = 0.0, qty
        while left > 1e-12 * qty:
            take = min(left, lots[0][0])
            cost += take * lots[0][1]
            lots[0][0] -= take
            left -= take
            if lots[0][0] <= 1e-12 * qty:
                lots.popleft()
        out.append(qty * price - fee - cost)
    return out


@given(
    trades=st.lists(
        st.tuples(st.booleans(), st.floats(1, 1000), st.floats(0.01, 1), st.floats(0, 1)),
        min_size=1,
        max_size=40,
    ),
    mark=st.floats(1, 1000),
)
def test_fifo_portfolio_realized_plus_unrealized_is_the_equity_change(trades, mark):
    p = Portfolio.funded(1e9)
    rows, trips = [], []
    for t, (is_buy, price, qty, part) in enumerate(trades):
        if not is_buy and p.base > 0:
            qty = p.base if part > 0.9 else p.base * part  # noqa: PLW2901
            if qty <= 0:
                continue
        side = "buy" if is_buy or p.base <= 0 else "sell"
        fee = price * qty * FEE
        if side == "buy":
            p = buy(p, price, qty, fee, t)
        else:
            p, trip = sell(p, price, qty, fee, t)
            trips.append(trip)
        rows.append({"side": side, "amount": qty, "price": price, "fee": fee})
    assert p.start_equity + p.realized + p.unrealized(mark) == pytest.approx(
        p.equity(mark), rel=1e-9, abs=1e-6
    )
    assert p.realized == pytest.approx(sum(fifo_realized(rows)), rel=1e-9, abs=1e-6)
    assert p.realized == pytest.approx(sum(t.profit for t in trips), rel=1e-9, abs=1e-6)
    assert p.base == pytest.approx(sum(lot.qty for lot in p.lots), rel=1e-9, abs=1e-12)


@given(
    trades=st.lists(
        st.tuples(
            st.booleans(), st.floats(1, 1000), st.floats(0.01, 1), st.floats(0, 1), st.sampled_from("NB")
        ),
        min_size=1,
        max_size=40,
    ),
    mark=st.floats(1, 1000),
)
def test_fees_paid_in_a_third_asset_keep_the_identity_and_leave_base_and_quote_whole(trades, mark):
    """Some fees in what the order received, some in BNB (valued in quote, `outside`): base and quote move by
    what the account received only, every fee is in realized + unrealized, equity is net of the BNB spent."""
    p = Portfolio.funded(1e9)
    quote, base, bnb = 1e9, 0.0, 0.0
    for t, (is_buy, price, qty, part, pays) in enumerate(trades):
        if not is_buy and p.base > 0:
            qty = p.base if part > 0.9 else p.base * part  # noqa: PLW2901
            if qty <= 0:
                continue
        value = price * qty * FEE
        native, outside = (0.0, value * 0.75) if pays == "B" else (value, 0.0)
        if is_buy or p.base <= 0:
            p = buy_fee_in_base(p, price, qty, native / price, t, outside)
            quote, base = quote - price * qty, base + qty - native / price
        else:
            p, trip = sell(p, price, qty, native, t, outside)
            assert trip.fees >= outside
            quote, base = quote + price * qty - native, base - qty
        bnb += outside
    assert (p.quote, p.fees_outside) == (pytest.approx(quote, rel=1e-12), pytest.approx(bnb, rel=1e-12))
    assert p.base == pytest.approx(base, rel=1e-9, abs=1e-12)
    assert p.equity(mark) == pytest.approx(quote + p.base * mark - bnb, rel=1e-12)
    assert p.start_equity + p.realized + p.unrealized(mark) == pytest.approx(
        p.equity(mark), rel=1e-9, abs=1e-6
    )


def test_sell_closes_the_oldest_lot_first_fees_included():
    p = buy(Portfolio.funded(1000), 100, 1, 0.1, 1)
    p = buy(p, 90, 1, 0.09, 2)
    p, trip = sell(p, 95, 1, 0.095, 3)  # closes the 100 lot: a loss, though above the 95 average
    assert trip.buy_price == 100
    assert trip.opened_ms == 1
    assert trip.profit == pytest.approx(95 - 100 - 0.1 - 0.095)
    assert p.realized == pytest.approx(trip.profit)
    assert p.lots[0].price == 90
    assert p.unrealized(95) == pytest.approx(95 - 90 - 0.09)


def _config(mode, atr, levels, cooldown, exits, regrid=True):
    return parse_config({
        "grid": {"levels": levels, "width_pct": 8, "atr_spacing": {"enabled": atr}},
        "regrid": {"enabled": regrid, "cooldown": cooldown},
        "exits": exits,
        "filters": {"trend": {"mode": mode, "ema_period": 20}},
    })  # fmt: skip


START = 60_000.0
configs = st.builds(
    _config,
    mode=st.sampled_from(["off", "ema", "adx"]),
    atr=st.booleans(),
    levels=st.integers(4, 30),
    cooldown=st.sampled_from(["0", "30m", "4h", "1d"]),
    exits=st.fixed_dictionaries(
        {},
        optional={
            "stop_loss": st.floats(0.7, 0.95).map(lambda f: round(START * f, 2)),
            "take_profit": st.floats(1.05, 1.3).map(lambda f: round(START * f, 2)),
            "trigger_price": st.floats(0.97, 1.03).map(lambda f: round(START * f, 2)),
            "trailing_up": st.booleans(),
        },
    ),
    regrid=st.booleans(),
)


@settings(max_examples=25, deadline=None)
@given(cfg=configs, seed=st.integers(0, 10_000))
def test_ledger_realized_plus_unrealized_is_the_equity_change_for_every_config(cfg, seed):
    candles = generate(3000, seed=seed, start_price=START)
    rows = []
    engine = GridEngine(cfg, ledger=lambda row, _fill: rows.append(row))
    engine.run_chunk(candles)
    p, mark = engine.portfolio, float(candles.close[-1])
    # Every row's realized_pnl is what FIFO over the fills says, not what the engine says of itself.
    assert [r["realized_pnl"] for r in rows] == pytest.approx(fifo_realized(rows), abs=1e-6)
    realized = sum(r["realized_pnl"] for r in rows)
    assert realized + p.unrealized(mark) == pytest.approx(p.equity(mark) - cfg.start_quote, abs=1e-6)
    assert sum(t.profit for t in engine.history) == pytest.approx(realized, abs=1e-6)
    s = engine.summary()
    assert s["realized_pnl"] + s["unrealized_pnl"] == pytest.approx(
        s["end_equity"] - s["start_equity"], abs=0.02
    )


@pytest.mark.parametrize(
    "exits",
    [{}, {"stop_loss": 55_000, "take_profit": 66_000}, {"trigger_price": 59_000, "trailing_up": True}],
)
@pytest.mark.parametrize("atr", [False, True])
def test_restore_round_trip_equals_an_uninterrupted_run(exits, atr):
    cfg = _config("ema", atr, 12, "4h", exits)
    candles = generate(4000, seed=7, start_price=START)
    whole_rows, split_rows = [], []
    whole = GridEngine(cfg, ledger=lambda row, _fill: whole_rows.append(row))
    whole.run_chunk(candles)

    first = GridEngine(cfg, ledger=lambda row, _fill: split_rows.append(row))
    first.run_chunk(candles.slice(0, 1700))
    assert first.exchange.open_orders(), "a snapshot with nothing on the book proves little"
    saved = json.loads(json.dumps(first.snapshot()))
    second = GridEngine(cfg, ledger=lambda row, _fill: split_rows.append(row))
    second.restore(saved)
    second.run_chunk(candles.slice(1700, len(candles)))

    assert split_rows == whole_rows
    assert second.summary() == whole.summary()
    assert [(o.side, o.price, o.qty) for o in second.exchange.open_orders()] == [
        (o.side, o.price, o.qty) for o in whole.exchange.open_orders()
    ]


def test_a_state_saved_by_the_average_cost_version_restores_with_the_identity_intact():
    cfg = _config("off", False, 12, "1d", {})
    candles = generate(3000, seed=5, start_price=START)
    engine = GridEngine(cfg)
    engine.run_chunk(candles.slice(0, cut := 1000))
    while engine.portfolio.base == 0:  # stop while something is held, so the migration has a lot to make
        engine.run_chunk(candles.slice(cut, cut + 50))
        cut += 50
    saved = json.loads(json.dumps(engine.snapshot()))
    p = engine.portfolio
    gross = p.realized + p.fees - sum(lot.fee for lot in p.lots)  # what the old version stored
    basis = sum(lot.qty * lot.price for lot in p.lots)
    saved["portfolio"] = {"start_equity": p.start_equity, "quote": p.quote, "base": p.base,
                          "cost_basis": basis, "realized": gross, "fees": p.fees}  # fmt: skip
    old = GridEngine(cfg)
    old.restore(saved)
    old.run_chunk(candles.slice(cut, 3000))
    q, mark = old.portfolio, float(candles.close[-1])
    assert q.start_equity + q.realized + q.unrealized(mark) == pytest.approx(q.equity(mark), abs=1e-6)
