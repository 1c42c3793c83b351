"""Errors come back as Binance's code and message, so ccxt raises the class a live bot handles; bad input
never gets a 500 or a traceback."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import ccxt
import pytest
from conftest import make_client
from gridbot_exchange.testing import Admin

SYMBOL = "BTC/USDT"


def raw(
    base: str, method: str, path: str, body: str = "", headers: dict[str, str] | None = None
) -> tuple[int, dict]:
    req = urllib.request.Request(
        base + path, data=body.encode() or None, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_insufficient_balance(client: ccxt.binance) -> None:
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order(SYMBOL, "limit", "buy", 1.0, 50000.0)
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order(SYMBOL, "market", "sell", 2.0)


def test_duplicate_client_id_of_an_open_order(client: ccxt.binance, admin: Admin) -> None:
    client.create_order(SYMBOL, "limit", "buy", 0.01, 30000.0, {"clientOrderId": "dup-1"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        client.create_order(SYMBOL, "limit", "buy", 0.01, 30000.0, {"clientOrderId": "dup-1"})
    assert len(client.fetch_open_orders(SYMBOL)) == 1
    dups = admin.call("GET", "duplicates")
    assert dups == {"duplicate_client_ids": {}, "count": 0, "duplicate_rejects": 1}


def test_unknown_orders(client: ccxt.binance) -> None:
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order("999999", SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order(None, SYMBOL, {"origClientOrderId": "never-placed"})
    with pytest.raises(ccxt.OrderNotFound):
        client.cancel_order("999999", SYMBOL)


def test_cancel_of_a_filled_order_is_unknown(client: ccxt.binance) -> None:
    o = client.create_order(SYMBOL, "market", "buy", 0.001)
    with pytest.raises(ccxt.OrderNotFound):
        client.cancel_order(o["id"], SYMBOL)


@pytest.mark.parametrize(
    ("params", "cls", "filter_"),
    [
        ({"price": "50000.001", "quantity": "0.01"}, ccxt.InvalidOrder, "PRICE_FILTER"),
        ({"price": "50000", "quantity": "0.000015"}, ccxt.InvalidOrder, "LOT_SIZE"),
        # Binance's -1013 without a filter name in ccxt's legacy checks: ccxt raises BadRequest, as live.
        ({"price": "50000", "quantity": "0.00001"}, ccxt.BadRequest, "NOTIONAL"),
    ],
)
def test_filter_failures(client: ccxt.binance, params: dict, cls: type, filter_: str) -> None:
    with pytest.raises(cls, match=f"Filter failure: {filter_}"):
        client.private_post_order(
            {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", **params}
        )


def test_limit_maker_that_would_take_is_rejected(client: ccxt.binance) -> None:
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        client.create_order(SYMBOL, "limit", "buy", 0.001, 90000.0, {"postOnly": True})


@pytest.mark.usefixtures("admin")
def test_unknown_key_and_bad_signature(base_url: str) -> None:
    with pytest.raises(ccxt.AuthenticationError):
        make_client(base_url, key="nobody", secret="x").fetch_balance()
    with pytest.raises(ccxt.AuthenticationError):
        make_client(base_url, secret="wrong-secret").fetch_balance()


def test_clock_skew_is_invalid_nonce(client: ccxt.binance, admin: Admin) -> None:
    admin.fault(kind="skew", ms=-20000)
    with pytest.raises(ccxt.InvalidNonce):
        client.fetch_balance()
    admin.call("DELETE", "faults")
    admin.fault(kind="skew", ms=30000)
    with pytest.raises(ccxt.InvalidNonce):
        client.fetch_balance()


def test_unknown_symbol(client: ccxt.binance) -> None:
    with pytest.raises(ccxt.BadSymbol):
        client.public_get_ticker_price({"symbol": "ETHUSDT"})
    with pytest.raises(ccxt.BadSymbol):
        client.private_get_openorders({"symbol": "DOGEUSDT"})


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("GET", "/api/v3/klines?symbol=BTCUSDT", "", -1102),
        ("GET", "/api/v3/klines?symbol=BTCUSDT&interval=1s", "", -1120),  # finer than the data's 5m
        ("GET", "/api/v3/klines?symbol=BTCUSDT&interval=1m", "", -1120),  # not invented from 5m
        ("GET", "/api/v3/klines?symbol=BTCUSDT&interval=7m", "", -1120),  # no such Binance interval
        ("GET", "/api/v3/depth?symbol=BTCUSDT&limit=0", "", -1130),
        ("GET", "/api/v3/trades?symbol=BTCUSDT&limit=0", "", -1130),  # more than 1000 is served as 1000
        ("GET", "/api/v3/ticker/24hr?symbols=%5B%22NOPE%22%5D", "", -1121),
        ("GET", "/api/v3/klines?symbol=BTCUSDT&interval=5m&limit=abc", "", -1100),
        ("GET", "/api/v3/klines?symbol=BTCUSDT&interval=5m&limit=0", "", -1130),
        ("GET", "/api/v3/klines?symbol=NOPE&interval=5m", "", -1121),
        ("GET", "/api/v3/account", "", -2014),
        ("GET", "/api/v3/nowhere", "", -1000),
        ("POST", "/admin/faults", '{"kind": "meteor"}', -1102),
        ("POST", "/admin/faults", "not json", -1102),
        ("POST", "/admin/step", '{"candles": -1}', -1102),
    ],
)
def test_bad_public_input_gets_binance_error_json(
    base_url: str, method: str, path: str, body: str, code: int
) -> None:
    status, payload = raw(base_url, method, path, body)
    assert 400 <= status < 500
    assert payload["code"] == code
    assert "Traceback" not in payload["msg"]


@pytest.mark.parametrize(
    ("params", "code", "name"),
    [
        ({"side": "BUY", "type": "LIMIT", "quantity": "0.01"}, -1102, "price"),
        ({"side": "BUY", "type": "LIMIT", "price": "1e5", "quantity": "0.01"}, -1100, "price"),
        ({"side": "BUY", "type": "LIMIT", "price": "50000", "quantity": "-1"}, -1100, "quantity"),
        ({"side": "UP", "type": "LIMIT", "price": "50000", "quantity": "0.01"}, -1117, ""),
        ({"side": "BUY", "type": "STOP", "price": "50000", "quantity": "0.01"}, -1116, ""),
        ({"side": "BUY", "type": "MARKET"}, -1102, "quantity"),
        ({"type": "MARKET", "quantity": "0.01"}, -1102, "side"),
        ({"side": "BUY", "type": "LIMIT", "price": "5", "quantity": "2", "newClientOrderId": "a b"}, -1100,
         "newClientOrderId"),
    ],
)  # fmt: skip
def test_bad_order_params_get_binance_error_json(
    client: ccxt.binance, params: dict, code: int, name: str
) -> None:
    with pytest.raises(ccxt.BadRequest) as info:
        client.private_post_order({"symbol": "BTCUSDT", **params})
    body = json.loads(str(info.value).split(" ", 1)[1])
    assert body["code"] == code
    assert name in body["msg"]
