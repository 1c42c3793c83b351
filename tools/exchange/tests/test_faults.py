"""Each fault, injected through the admin API, raises the ccxt class a live bot must handle."""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request

import ccxt
import pytest
from conftest import START_CANDLE
from gridbot_exchange.data import load_series
from gridbot_exchange.testing import Admin

SYMBOL = "BTC/USDT"
CANDLES = load_series("embedded").candles  # what the server trades on
# Timed faults last seconds, not tenths: make test runs these beside booting VMs, and a request delayed past a
# short window would meet the exchange already back.
WINDOW_S = 3.0


def sleep_past(ends: float) -> None:
    time.sleep(max(0.0, ends - time.monotonic()) + 0.1)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (429, ccxt.DDoSProtection),
        (418, ccxt.DDoSProtection),
        (500, ccxt.ExchangeNotAvailable),
        (502, ccxt.ExchangeNotAvailable),
        (503, ccxt.ExchangeNotAvailable),
        (504, ccxt.RequestTimeout),
    ],
)
def test_status_faults(client: ccxt.binance, admin: Admin, status: int, cls: type) -> None:
    admin.fault(kind="status", status=status, path="/api/v3/openOrders", count=1)
    with pytest.raises(cls):
        client.fetch_open_orders(SYMBOL)
    assert client.fetch_open_orders(SYMBOL) == []  # count=1: used up


def test_rate_limit_sends_retry_after(base_url: str, admin: Admin) -> None:
    admin.fault(kind="status", status=429, retry_after=7)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(base_url + "/api/v3/ping", timeout=5)
    assert (info.value.code, info.value.headers["Retry-After"]) == (429, "7")


def test_maintenance_window(client: ccxt.binance, admin: Admin) -> None:
    admin.fault(kind="maintenance", for_s=WINDOW_S)
    ends = time.monotonic() + WINDOW_S  # the window opened before the admin call returned
    with pytest.raises(ccxt.OnMaintenance):
        client.fetch_balance()
    sleep_past(ends)
    assert client.fetch_balance()["USDT"]["total"] == 10000.0


def test_hang_past_the_client_timeout(client_factory, admin: Admin) -> None:  # type: ignore[no-untyped-def]
    ex = client_factory(timeout_ms=300)
    admin.fault(kind="hang", seconds=4.0, path="/api/v3/account", count=1)
    t0 = time.monotonic()
    with pytest.raises(ccxt.RequestTimeout):
        ex.fetch_balance()
    assert time.monotonic() - t0 < 3.0


def test_latency_is_added(client: ccxt.binance, admin: Admin) -> None:
    admin.fault(kind="latency", ms=250, path="/api/v3/time")
    t0 = time.monotonic()
    client.fetch_time()
    assert time.monotonic() - t0 >= 0.25


def test_accept_then_drop_connection_creates_exactly_one_order(client: ccxt.binance, admin: Admin) -> None:
    admin.fault(kind="drop", path="/api/v3/order", method="POST", count=1)
    with pytest.raises(ccxt.NetworkError):
        client.create_order(SYMBOL, "limit", "buy", 0.01, 40000.0, {"clientOrderId": "drop-1"})
    found = client.fetch_order(None, SYMBOL, {"origClientOrderId": "drop-1"})
    assert (found["status"], found["price"], found["amount"]) == ("open", 40000.0, 0.01)
    orders = admin.call("GET", "orders")
    assert [(o["key"], o["clientOrderId"]) for o in orders] == [("bot-a", "drop-1")]  # type: ignore[union-attr]


def test_order_unknown_for_n_seconds_after_creation(client: ccxt.binance, admin: Admin) -> None:
    admin.fault(kind="invisible", seconds=WINDOW_S)
    o = client.create_order(SYMBOL, "limit", "buy", 0.01, 40000.0, {"clientOrderId": "lag-1"})
    ends = time.monotonic() + WINDOW_S  # the order was made before its reply came
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order(o["id"], SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order(None, SYMBOL, {"origClientOrderId": "lag-1"})
    assert client.fetch_open_orders(SYMBOL) == []
    sleep_past(ends)
    assert client.fetch_order(None, SYMBOL, {"origClientOrderId": "lag-1"})["id"] == o["id"]


def test_order_invisible_past_a_minute_of_market_time_fills_unseen_then_appears_with_its_fill(
    client: ccxt.binance, admin: Admin
) -> None:
    i = START_CANDLE
    price = math.ceil(CANDLES.low[i] * 100) / 100  # candle START_CANDLE dips to it: a maker fill at its close
    admin.fault(kind="invisible", seconds=400, clock="market", count=1)
    o = client.create_order(SYMBOL, "limit", "buy", 0.01, price, {"clientOrderId": "lag-m-1"})
    seen = client.create_order(SYMBOL, "limit", "buy", 0.01, 20000.0, {"clientOrderId": "lag-m-2"})
    assert admin.call("GET", "faults") == []  # count=1: one order hidden, the rule used up
    admin.step(candles=1)  # 300 s of market time: the hidden order fills, still hidden
    [fill] = admin.call("GET", "trades")  # type: ignore[misc]
    assert (fill["orderId"], fill["qty"]) == (int(o["id"]), "0.01000000")
    hidden = {r["clientOrderId"]: r["visible"] for r in admin.call("GET", "orders")}  # type: ignore[union-attr]
    assert hidden == {"lag-m-1": False, "lag-m-2": True}
    for lookup in (lambda: client.fetch_order(o["id"], SYMBOL),
                   lambda: client.fetch_order(None, SYMBOL, {"origClientOrderId": "lag-m-1"}),
                   lambda: client.cancel_order(o["id"], SYMBOL)):  # fmt: skip
        with pytest.raises(ccxt.OrderNotFound):
            lookup()
    assert [x["id"] for x in client.fetch_orders(SYMBOL)] == [seen["id"]]
    assert client.fetch_my_trades(SYMBOL) == []
    assert client.fetch_balance()["BTC"]["total"] == pytest.approx(1 + 0.01 - 0.00001)  # balances move
    admin.step(ms=99_000)  # 399 s after creation
    assert client.fetch_my_trades(SYMBOL) == []
    admin.step(ms=1_000)
    found = client.fetch_order(None, SYMBOL, {"origClientOrderId": "lag-m-1"})
    assert (found["id"], found["status"], found["filled"]) == (o["id"], "closed", 0.01)
    assert [t["order"] for t in client.fetch_my_trades(SYMBOL)] == [o["id"]]
    assert {x["id"] for x in client.fetch_orders(SYMBOL)} == {o["id"], seen["id"]}


def test_rules_set_together_meet_the_same_order(client: ccxt.binance, admin: Admin) -> None:
    """A create's answer dropped and that same order hidden: the two rules take effect at once."""
    admin.faults(
        {"kind": "drop", "path": "/api/v3/order", "method": "POST", "count": 1},
        {"kind": "invisible", "seconds": WINDOW_S, "count": 1},
    )
    with pytest.raises(ccxt.NetworkError):
        client.create_order(SYMBOL, "limit", "buy", 0.01, 40000.0, {"clientOrderId": "both-1"})
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order(None, SYMBOL, {"origClientOrderId": "both-1"})
    assert admin.call("GET", "faults") == []  # both used up by the one order


def test_a_bad_rule_among_several_adds_none(admin: Admin) -> None:
    with pytest.raises(urllib.error.HTTPError) as e:
        admin.faults({"kind": "drop", "count": 1}, {"kind": "invisible", "clock": "sundial"})
    assert "'clock'" in json.loads(e.value.read())["msg"]
    assert admin.call("GET", "faults") == []
    with pytest.raises(urllib.error.HTTPError) as e:
        admin.call("POST", "faults", {"rules": []})
    assert "'rules'" in json.loads(e.value.read())["msg"]


def test_invisible_clock_is_checked(admin: Admin) -> None:
    with pytest.raises(urllib.error.HTTPError) as e:
        admin.fault(kind="invisible", seconds=5, clock="sundial")
    assert "'clock'" in json.loads(e.value.read())["msg"]


def test_faults_are_scoped_by_path_and_method(client: ccxt.binance, admin: Admin) -> None:
    admin.fault(kind="status", status=503, path="/api/v3/order", method="DELETE")
    o = client.create_order(SYMBOL, "limit", "buy", 0.01, 40000.0)
    assert client.fetch_order(o["id"], SYMBOL)["status"] == "open"
    with pytest.raises(ccxt.ExchangeNotAvailable):
        client.cancel_order(o["id"], SYMBOL)
    assert [f["kind"] for f in admin.call("GET", "faults")] == ["status"]  # type: ignore[union-attr]
