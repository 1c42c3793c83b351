"""Unmodified ccxt.binance against the running server: every call's parsed result is checked."""

from __future__ import annotations

import json
import math
import re
import time
import urllib.error

import ccxt
import pytest
from conftest import KEY, START_CANDLE
from gridbot_exchange.testing import Admin

from gridbot.ops.candle_files import load_embedded

CANDLES = load_embedded()
SYMBOL = "BTC/USDT"


def cents_up(x: float) -> float:
    return math.ceil(x * 100) / 100


def test_load_markets_reads_filters(client: ccxt.binance) -> None:
    m = client.market(SYMBOL)
    assert (m["id"], m["base"], m["quote"], m["spot"], m["active"]) == ("BTCUSDT", "BTC", "USDT", True, True)
    assert m["precision"]["price"] == 0.01
    assert m["precision"]["amount"] == 0.00001
    assert m["limits"]["cost"]["min"] == 5.0
    assert m["limits"]["amount"]["min"] == 0.00001


def test_fetch_time_is_wall_clock(client: ccxt.binance) -> None:
    assert abs(client.fetch_time() - time.time() * 1000) < 2000


def test_fetch_ohlcv_serves_closed_candles_and_the_forming_one_at_its_open(
    client: ccxt.binance, admin: Admin
) -> None:
    rows = client.fetch_ohlcv(SYMBOL, "5m", limit=3)
    i = START_CANDLE
    assert [r[0] for r in rows] == [int(t) for t in CANDLES.time_ms[i - 2 : i + 1]]
    assert rows[0][1:5] == pytest.approx(
        [CANDLES.open[i - 2], CANDLES.high[i - 2], CANDLES.low[i - 2], CANDLES.close[i - 2]]
    )
    assert rows[-1][1:6] == pytest.approx([CANDLES.open[i]] * 4 + [0.0])
    admin.step(candles=2)
    since = client.fetch_ohlcv(SYMBOL, "5m", since=int(CANDLES.time_ms[i]), limit=10)
    assert [r[0] for r in since] == [int(t) for t in CANDLES.time_ms[i : i + 3]]
    assert since[1][4] == pytest.approx(CANDLES.close[i + 1])


def test_fetch_balance(client: ccxt.binance) -> None:
    b = client.fetch_balance()
    assert (b["USDT"]["free"], b["USDT"]["used"], b["BTC"]["total"]) == (10000.0, 0.0, 1.0)


def test_resting_limit_buy_fills_on_touch_at_its_price_with_maker_fee(
    client: ccxt.binance, admin: Admin
) -> None:
    i = START_CANDLE
    price = cents_up(CANDLES.low[i])
    assert price < CANDLES.close[i - 1], "the test needs candle 100 to dip below the last close"
    o = client.create_order(SYMBOL, "limit", "buy", 0.01, price, {"clientOrderId": "grid-1-buy-1"})
    assert (o["status"], o["clientOrderId"], o["filled"], o["price"]) == ("open", "grid-1-buy-1", 0.0, price)
    assert client.fetch_balance()["USDT"]["used"] == pytest.approx(price * 0.01)
    assert client.fetch_order(o["id"], SYMBOL)["status"] == "open"
    admin.step(candles=1)
    done = client.fetch_order(None, SYMBOL, {"origClientOrderId": "grid-1-buy-1"})
    assert (done["id"], done["status"], done["filled"], done["average"]) == (o["id"], "closed", 0.01, price)
    [t] = client.fetch_my_trades(SYMBOL)
    assert (t["order"], t["side"], t["price"], t["amount"], t["takerOrMaker"]) == (
        o["id"],
        "buy",
        price,
        0.01,
        "maker",
    )
    assert t["fee"] == {"currency": "BTC", "cost": pytest.approx(0.00001)}
    b = client.fetch_balance()
    assert b["USDT"]["total"] == pytest.approx(10000 - price * 0.01)
    assert b["BTC"]["total"] == pytest.approx(1 + 0.01 - 0.00001)


def test_limit_sell_far_above_stays_open_and_cancel_frees_the_funds(
    client: ccxt.binance, admin: Admin
) -> None:
    o = client.create_order(SYMBOL, "limit", "sell", 0.5, 200000.0)
    admin.step(candles=3)
    [open_] = client.fetch_open_orders(SYMBOL)
    assert (open_["id"], open_["side"], open_["amount"], open_["remaining"]) == (o["id"], "sell", 0.5, 0.5)
    assert client.fetch_balance()["BTC"]["used"] == 0.5
    c = client.cancel_order(o["id"], SYMBOL)
    assert (c["id"], c["status"]) == (o["id"], "canceled")
    assert client.fetch_open_orders(SYMBOL) == []
    assert client.fetch_balance()["BTC"] == {"free": 1.0, "used": 0.0, "total": 1.0}


def test_cancel_answers_with_its_own_client_id_and_the_order_id_as_orig(client: ccxt.binance) -> None:
    a = client.create_order(SYMBOL, "limit", "buy", 0.01, 20000.0, {"clientOrderId": "grid-c-1"})
    client.create_order(SYMBOL, "limit", "buy", 0.01, 20001.0, {"clientOrderId": "grid-c-2"})
    named = client.cancel_order(a["id"], SYMBOL, {"newClientOrderId": "cancel-c-1"})["info"]
    assert (named["origClientOrderId"], named["clientOrderId"], named["status"]) == (
        "grid-c-1",
        "cancel-c-1",
        "CANCELED",
    )
    c = client.create_order(SYMBOL, "limit", "buy", 0.01, 20002.0, {"clientOrderId": "grid-c-3"})
    made = client.cancel_order(None, SYMBOL, {"origClientOrderId": "grid-c-2"})["info"]
    assert made["origClientOrderId"] == "grid-c-2"
    assert re.fullmatch("[A-Za-z0-9]{22}", made["clientOrderId"]), made
    # the fields Binance's cancel answer has, and no others (rest-api.md, "Cancel order")
    assert set(made) == {
        "symbol", "origClientOrderId", "orderId", "orderListId", "clientOrderId", "transactTime", "price",
        "origQty", "executedQty", "origQuoteOrderQty", "cummulativeQuoteQty", "status", "timeInForce", "type",
        "side", "selfTradePreventionMode",
    }  # fmt: skip
    [row] = client.cancel_all_orders(SYMBOL)
    assert (row["info"]["origClientOrderId"], row["info"]["orderId"]) == ("grid-c-3", int(c["id"]))
    assert re.fullmatch("[A-Za-z0-9]{22}", row["info"]["clientOrderId"]), row
    assert [o["status"] for o in client.fetch_orders(SYMBOL)] == ["canceled"] * 3


def test_limit_maker_rests(client: ccxt.binance) -> None:
    o = client.create_order(SYMBOL, "limit", "buy", 0.001, 10000.0, {"postOnly": True})
    got = client.fetch_order(o["id"], SYMBOL)
    assert (got["type"], got["postOnly"], got["status"]) == ("limit", True, "open")
    assert got["info"]["type"] == "LIMIT_MAKER"


def test_market_orders_fill_at_the_last_close_with_taker_fee(client: ccxt.binance) -> None:
    close = CANDLES.close[START_CANDLE - 1]
    buy = client.create_order(SYMBOL, "market", "buy", 0.02)
    assert (buy["status"], buy["filled"], buy["average"]) == ("closed", 0.02, pytest.approx(close))
    assert buy["fee"] == {"currency": "BTC", "cost": pytest.approx(0.00002)}
    sell = client.create_order(SYMBOL, "market", "sell", 0.01)
    assert sell["fee"] == {"currency": "USDT", "cost": pytest.approx(close * 0.01 * 0.001, abs=1e-8)}
    trades = client.fetch_my_trades(SYMBOL)
    assert [(t["side"], t["takerOrMaker"]) for t in trades] == [("buy", "taker"), ("sell", "taker")]
    assert [t["id"] for t in client.fetch_my_trades(SYMBOL, params={"fromId": trades[1]["id"]})] == [
        trades[1]["id"]
    ]


def test_fetch_my_trades_since_and_all_orders(client: ccxt.binance, admin: Admin) -> None:
    client.create_order(SYMBOL, "market", "buy", 0.01)
    admin.step(candles=2)
    later = client.create_order(SYMBOL, "market", "buy", 0.01)
    trades = client.fetch_my_trades(SYMBOL, since=later["timestamp"])
    assert [t["order"] for t in trades] == [later["id"]]
    assert [o["status"] for o in client.fetch_orders(SYMBOL)] == ["closed", "closed"]


def test_a_rotated_key_reaches_the_same_account_and_a_revoked_one_is_refused(client_factory, admin) -> None:  # type: ignore[no-untyped-def]
    old = client_factory()
    old.create_order(SYMBOL, "limit", "buy", 0.01, 20000.0)
    admin.call("POST", "keys", {"account": KEY, "key": "bot-a-2", "secret": "secret-a-2"})
    new = client_factory(key="bot-a-2", secret="secret-a-2")
    before = admin.call("GET", "keys")
    assert [o["price"] for o in new.fetch_open_orders(SYMBOL)] == [20000.0]
    after = admin.call("GET", "keys")
    assert after["bot-a-2"]["account"] == KEY
    assert after["bot-a-2"]["requests"] == before["bot-a-2"]["requests"] + 1
    assert after[KEY]["requests"] == before[KEY]["requests"], "the old key was not used"
    assert "secret" not in str(after)
    admin.call("DELETE", "keys?key=bot-a-2")
    # -2015 on a key that worked before is a temporary ban to ccxt (as on Binance); on a new client, bad keys
    with pytest.raises(ccxt.DDoSProtection):
        new.fetch_open_orders(SYMBOL)
    with pytest.raises(ccxt.AuthenticationError):
        client_factory(key="bot-a-2", secret="secret-a-2").fetch_open_orders(SYMBOL)
    assert len(old.fetch_open_orders(SYMBOL)) == 1


def test_admin_keys_refuse_a_taken_key_and_an_unknown_account(admin) -> None:  # type: ignore[no-untyped-def]
    for body, field in (({"account": KEY, "key": "bot-b", "secret": "x"}, "'key'"),
                        ({"account": "nobody", "key": "k-new", "secret": "x"}, "'account'"),
                        ({"account": KEY, "key": "k-new"}, "'secret'")):  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as e:
            admin.call("POST", "keys", body)
        assert field in json.loads(e.value.read())["msg"]
    with pytest.raises(urllib.error.HTTPError):
        admin.call("DELETE", "keys?key=k-new")


def test_accounts_are_separate(client_factory) -> None:  # type: ignore[no-untyped-def]
    a, b = client_factory(), client_factory(key="bot-b", secret="secret-b")
    a.create_order(SYMBOL, "limit", "buy", 0.01, 20000.0)
    assert b.fetch_open_orders(SYMBOL) == []
    assert b.fetch_balance()["USDT"]["used"] == 0.0
    assert len(a.fetch_open_orders(SYMBOL)) == 1
