"""The matching engine in-process (the fastest tier): fills only on touch, at the order price, fees right,
no lookahead, partial fills capped, and every asset conserved over accounts + house + fees."""

from __future__ import annotations

import contextlib
from decimal import Decimal

import numpy as np
import pytest
from gridbot_exchange.accounts import Account, Ledger
from gridbot_exchange.data import Market, Series
from gridbot_exchange.errors import ApiError
from gridbot_exchange.matching import Engine, FeeAsset
from hypothesis import given, settings
from hypothesis import strategies as st

from gridbot.core.candles import Candles

MARKET = Market("BTC", "USDT", Decimal("0.01"), Decimal("0.001"), Decimal("0.001"), Decimal(1))
STEP = 300_000
MAKER, TAKER = Decimal("0.001"), Decimal("0.002")


def series(closes: list[float], spread: float = 0.02) -> Series:
    c = np.array(closes)
    o = np.concatenate([[c[0]], c[:-1]])
    hi, lo = np.maximum(o, c) * (1 + spread), np.minimum(o, c) * (1 - spread)
    t = np.arange(len(c), dtype=np.int64) * STEP
    return Series(Candles(t, o, hi, lo, c, np.ones(len(c))), STEP, "5m")


def engine(s: Series, cap: Decimal | None = None, accounts: int = 2) -> Engine:
    led = Ledger()
    e = Engine(MARKET, s, led, max_orders=50, max_trades=10_000, fill_cap=cap)
    for k in range(accounts):
        led.add(Account(f"k{k}", MAKER, TAKER, {"USDT": Decimal(100_000), "BTC": Decimal(10)}), "s")
    return e


def test_order_placed_while_a_candle_forms_is_matched_by_that_candle_not_the_one_before() -> None:
    s = series([100.0, 90.0, 100.0, 100.0], spread=0.0)
    e = engine(s)
    acct = e.ledger.accounts["k0"]
    e.advance(1 * STEP + 1)  # candle 0 closed (low 100), candle 1 forming
    o, fills = e.place(acct, "BUY", "LIMIT", Decimal(1), Decimal(95), "c1", 1 * STEP + 1)
    assert fills == []
    assert e.completed == 1
    e.advance(2 * STEP)  # candle 1 closes: low 90 reaches 95
    assert (o.status, o.executed, o.cum_quote) == ("FILLED", Decimal(1), Decimal(95))
    t = e.trades[-1]
    assert (t.price, t.is_maker, t.commission, t.commission_asset) == (
        Decimal(95),
        True,
        Decimal("0.001"),
        "BTC",
    )


def test_fill_cap_gives_partial_fills_per_candle() -> None:
    e = engine(series([100.0] * 5, spread=0.05), cap=Decimal("0.4"))
    acct = e.ledger.accounts["k0"]
    o, _ = e.place(acct, "SELL", "LIMIT", Decimal(1), Decimal(104), "c1", 0)
    e.advance(2 * STEP)
    assert (o.status, o.executed) == ("PARTIALLY_FILLED", Decimal("0.8"))
    e.advance(3 * STEP)
    assert (o.status, o.executed, o.locked) == ("FILLED", Decimal(1), Decimal(0))


def test_eviction_keeps_open_orders_and_the_cap() -> None:
    e = engine(series([100.0] * 3))
    acct = e.ledger.accounts["k0"]
    keep, _ = e.place(acct, "BUY", "LIMIT", Decimal(1), Decimal(10), "keep", 0)
    for i in range(80):
        e.place(acct, "BUY", "MARKET", Decimal("0.01"), None, f"m{i}", 0)
    assert len(e.orders) == 50
    assert keep.id in e.orders
    with pytest.raises(ApiError, match="insufficient"):
        e.place(acct, "SELL", "LIMIT", Decimal(100), Decimal(200), "big", 0)


orders = st.lists(
    st.tuples(
        st.integers(0, 1),  # account
        st.sampled_from(["BUY", "SELL"]),
        st.sampled_from(["LIMIT", "LIMIT", "LIMIT", "MARKET"]),
        st.integers(1, 3000),  # qty in steps
        st.floats(0.8, 1.2),  # price relative to the last close
        st.integers(0, 3),  # candles to advance after it
        st.booleans(),  # cancel an open order after it
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(
    closes=st.lists(st.floats(50, 150), min_size=20, max_size=60),
    plan=orders,
    cap=st.sampled_from([None, Decimal("0.5")]),
)
def test_random_session_fills_on_touch_at_order_price_and_conserves_assets(
    closes: list[float], plan: list, cap: Decimal | None
) -> None:
    s = series(closes)
    e = engine(s, cap)
    start = e.ledger.totals()
    now = 0
    placed: dict[int, int] = {}
    refused: list[int] = []  # order id -> candle index it was placed in
    for k, side, type_, steps, rel, advance, cancel in plan:
        acct = e.ledger.accounts[f"k{k}"]
        price = (e.last_price() * Decimal(str(rel))).quantize(MARKET.tick) if type_ == "LIMIT" else None
        try:
            o, _ = e.place(acct, side, type_, Decimal(steps) * MARKET.step, price, f"c{len(placed)}", now)
            placed[o.id] = e.forming_index(now)
        except ApiError as err:
            refused.append(err.code)
        now = min(now + advance * STEP, len(s) * STEP)
        e.advance(now)
        if cancel and (live := [o for o in e.orders.values() if o.is_open]):
            e.cancel(live[0], now)
        for a in e.ledger.accounts.values():
            assert all(b.free >= 0 and b.locked >= 0 for b in a.balances.values())
    assert set(refused) <= {-2010, -1013}
    assert set(e.open) == {o.id for o in e.orders.values() if o.is_open}
    assert e.ledger.totals() == start
    c = s.candles
    for t in e.trades:
        o = e.orders.get(t.order_id)
        rate = MAKER if t.is_maker else TAKER
        assert t.commission == ((t.qty if t.is_buyer else t.quote_qty) * rate).quantize(
            Decimal("1e-8"), "ROUND_DOWN"
        )
        if t.is_maker:
            i = (t.time_ms - STEP + 1) // STEP
            assert i >= placed[t.order_id]
            if o is not None:
                assert t.price == o.price
            assert (c.low[i] <= float(t.price)) if t.is_buyer else (c.high[i] >= float(t.price))
            if cap is not None:
                assert t.qty <= cap
    for o in e.orders.values():
        if o.is_open:
            lock = o.price * (o.qty - o.executed) if o.side == "BUY" else o.qty - o.executed
            assert o.locked == lock


def bnb_price(time_ms: int) -> Decimal:
    return Decimal(3) + time_ms // STEP % 5  # moves every candle


@settings(max_examples=40, deadline=None)
@given(closes=st.lists(st.floats(50, 150), min_size=20, max_size=60), plan=orders,
       bnb=st.lists(st.sampled_from(["0", "0.0001", "0.01", "5"]), min_size=2, max_size=2))  # fmt: skip
def test_fees_in_a_third_asset_when_covered_else_in_the_asset_received_and_every_asset_conserved(
    closes: list[float], plan: list, bnb: list[str]
) -> None:
    s = series(closes)
    led = Ledger()
    e = Engine(MARKET, s, led, 50, 10_000, None, FeeAsset("BNB", bnb_price, Decimal("0.25")))
    for k in range(2):
        start = {"USDT": Decimal(100_000), "BTC": Decimal(10), "BNB": Decimal(bnb[k])}
        led.add(Account(f"k{k}", MAKER, TAKER, start, fee_asset="BNB"), "s")
    start = led.totals()
    now = 0
    for k, side, type_, steps, rel, advance, _cancel in plan:
        price = (e.last_price() * Decimal(str(rel))).quantize(MARKET.tick) if type_ == "LIMIT" else None
        with contextlib.suppress(ApiError):  # refusals are another test's subject
            e.place(led.accounts[f"k{k}"], side, type_, Decimal(steps) * MARKET.step, price, f"c{now}", now)
        now = min(now + advance * STEP, len(s) * STEP)
        e.advance(now)
        for a in led.accounts.values():
            assert all(b.free >= 0 and b.locked >= 0 for b in a.balances.values())
    assert led.totals() == start
    for t in e.trades:
        rate = MAKER if t.is_maker else TAKER
        if t.commission_asset == "BNB":
            want = t.quote_qty * rate * Decimal("0.75") / bnb_price(t.time_ms)
        else:
            assert t.commission_asset == ("BTC" if t.is_buyer else "USDT")
            want = (t.qty if t.is_buyer else t.quote_qty) * rate
        assert t.commission == want.quantize(Decimal("1e-8"), "ROUND_DOWN")
    paid = sum((t.commission for t in e.trades if t.commission_asset == "BNB"), Decimal(0))
    assert led.fees.get("BNB", Decimal(0)) == paid
    assert sum(led.accounts[f"k{k}"].bal("BNB").free for k in range(2)) == sum(map(Decimal, bnb)) - paid
