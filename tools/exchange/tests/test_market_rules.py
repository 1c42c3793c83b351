"""A market halted and its rules changed mid-run through POST /admin/market, as Binance does it: a symbol not
TRADING refuses new orders with -1013 "Market is closed." (ccxt MarketClosed) and fills nothing, while cancels
still work (Binance's changelog: "Orders can be canceled via the API on symbols in the BREAK or HALT status");
new filters show in exchangeInfo and judge new orders, and resting orders stay as placed."""

from __future__ import annotations

import itertools
import json
import math
import urllib.error
from collections.abc import Iterator

import ccxt
import pytest
from conftest import KEY, START_CANDLE
from gridbot_exchange.data import load_series
from gridbot_exchange.testing import Admin

CANDLES = load_series("embedded").candles  # what the server trades on
SYMBOL = "BTC/USDT"
SHOWN = (
    ("PRICE_FILTER", "tickSize"),
    ("LOT_SIZE", "stepSize"),
    ("LOT_SIZE", "minQty"),
    ("NOTIONAL", "minNotional"),
)


@pytest.fixture
def rules(admin: Admin) -> Iterator[Admin]:
    yield admin
    admin.call("POST", "reset")  # the session's server back to its starting market for the tests after


def order_count(admin: Admin) -> object:
    return admin.call("GET", "rate_limits")["orders"][KEY]  # type: ignore[index]


def test_a_halted_market_refuses_orders_fills_nothing_and_cancels_until_it_trades_again(
    client: ccxt.binance, rules: Admin
) -> None:
    dip = math.ceil(CANDLES.low[START_CANDLE] * 100) / 100  # candle 101 reaches it: it would fill
    resting = client.create_order(SYMBOL, "limit", "buy", 0.01, dip)
    far = client.create_order(SYMBOL, "limit", "buy", 0.01, 20000.0)
    assert rules.call("POST", "market", {"status": "BREAK"})["status"] == "BREAK"  # type: ignore[index]
    [info] = client.public_get_exchangeinfo()["symbols"]
    assert (info["symbol"], info["status"]) == ("BTCUSDT", "BREAK")
    assert client.load_markets(reload=True)[SYMBOL]["active"] is False
    counted = order_count(rules)
    with pytest.raises(ccxt.MarketClosed):
        client.create_order(SYMBOL, "market", "buy", 0.01)
    assert json.loads(client.last_http_response) == {"code": -1013, "msg": "Market is closed."}
    with pytest.raises(ccxt.MarketClosed):
        client.create_order(SYMBOL, "limit", "sell", 0.01, 200000.0)
    assert order_count(rules) == counted  # refused before the unfilled order count, as an API rejection
    rules.step(candles=1)  # candle 101 closes during the halt: its dip fills nothing
    assert client.fetch_order(resting["id"], SYMBOL)["status"] == "open"
    assert client.cancel_order(far["id"], SYMBOL)["status"] == "canceled"
    assert rules.call("POST", "market", {"status": "TRADING"})["status"] == "TRADING"  # type: ignore[index]
    assert client.load_markets(reload=True)[SYMBOL]["active"] is True
    bought = client.create_order(SYMBOL, "market", "buy", 0.01)
    assert (bought["status"], bought["filled"]) == ("closed", 0.01)
    assert [o["id"] for o in client.fetch_open_orders(SYMBOL)] == [resting["id"]]
    assert client.fetch_balance()["USDT"]["used"] == pytest.approx(dip * 0.01)


def test_new_filters_show_in_exchange_info_and_judge_new_orders_while_resting_ones_stay(
    client: ccxt.binance, rules: Admin
) -> None:
    old = client.create_order(SYMBOL, "limit", "buy", 0.00123, 20000.01)  # valid under 0.01 / 0.00001 / 5
    entry = rules.call("POST", "market", {"tick_size": "0.1", "step_size": 0.001, "min_notional": "100"})
    filters = {f["filterType"]: f for f in client.public_get_exchangeinfo()["symbols"][0]["filters"]}
    assert filters == {f["filterType"]: f for f in entry["filters"]}  # type: ignore[index]
    shown = [filters[name][field] for name, field in SHOWN]
    assert shown == ["0.10000000", "0.00100000", "0.00100000", "100.00000000"]
    m = client.load_markets(reload=True)[SYMBOL]
    assert (m["precision"]["price"], m["precision"]["amount"], m["limits"]["cost"]["min"]) == (
        0.1,
        0.001,
        100.0,
    )
    # raw orders: ccxt itself would round them to the market's new precision before sending
    for price, qty, failure in (("20000.05", "0.01", "PRICE_FILTER"), ("20000.1", "0.0105", "LOT_SIZE"),
                                ("20000.1", "0.004", "NOTIONAL")):  # fmt: skip
        order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
        with pytest.raises(ccxt.ExchangeError, match=f"Filter failure: {failure}"):
            client.private_post_order({**order, "price": price, "quantity": qty})
    new = client.create_order(SYMBOL, "limit", "buy", 0.005, 20000.1)
    assert sorted(o["id"] for o in client.fetch_open_orders(SYMBOL)) == sorted([old["id"], new["id"]])
    bids = [p for p, _ in client.fetch_order_book(SYMBOL, 3)["bids"]]
    assert [round(a - b, 8) for a, b in itertools.pairwise(bids)] == [0.1, 0.1]
    rules.call("POST", "reset")
    m = client.load_markets(reload=True)[SYMBOL]
    assert (m["precision"]["price"], m["precision"]["amount"], m["limits"]["cost"]["min"]) == (
        0.01,
        0.00001,
        5.0,
    )


@pytest.mark.parametrize(
    ("body", "named"),
    [({"status": "OPEN"}, "'status'"), ({"tick_size": "0.05"}, "'tick_size'"),
     ({"step_size": 10}, "'step_size'"), ({"min_notional": -1}, "'min_notional'"),
     ({"min_qty": "lots"}, "'min_qty'"), ({"tick": "0.1"}, "'tick'")],
)  # fmt: skip
def test_bad_market_changes_are_refused_naming_the_field(
    rules: Admin, body: dict[str, object], named: str
) -> None:
    before = rules.call("GET", "market")
    with pytest.raises(urllib.error.HTTPError) as e:
        rules.call("POST", "market", body)
    assert (e.value.code, named in json.loads(e.value.read())["msg"]) == (400, True)
    assert rules.call("GET", "market") == before
