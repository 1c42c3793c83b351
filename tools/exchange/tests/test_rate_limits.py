"""Binance's rate limits on the wall clock: request weight per IP (429, then 418 bans that grow for an IP that
keeps sending), the unfilled order count per account (429 -1015), the documented weights and headers; a server
of its own with small limits so a test reaches them in a few requests."""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import ccxt
import pytest
from conftest import START_CANDLE, make_client
from gridbot_exchange.data import load_series
from gridbot_exchange.ratelimits import ConfigError, parse_flag
from gridbot_exchange.testing import Admin, running

CANDLES = load_series("embedded").candles  # what the server trades on
SYMBOL = "BTC/USDT"
WEIGHT, ORDERS_10S, ORDERS_1D, BAN_S = 200, 5, 8, 1
LIMITS = f"weight={WEIGHT},orders10s={ORDERS_10S},orders1d={ORDERS_1D},ban={BAN_S}"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running(
        "--speed", "0", "--start-candle", str(START_CANDLE), "--account", "rl:s", "--balance", "USDT=100000",
        "--balance", "BTC=1", "--rate-limits", LIMITS,
    ) as base:  # fmt: skip
        yield base


@pytest.fixture
def admin(url: str) -> Iterator[Admin]:
    a = Admin(url)
    a.call("POST", "reset")
    yield a
    a.call("POST", "rate_limits", {"weight_1m": WEIGHT, "weight_window_s": 60, "enforce": True})
    a.call("POST", "reset")


def get(url: str, path: str) -> tuple[int, dict[str, str], object]:
    try:
        with urllib.request.urlopen(url + path, timeout=10) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def used(url: str, path: str = "/api/v3/ping") -> int:
    return int(get(url, path)[1]["X-MBX-USED-WEIGHT-1M"])


def fresh_window(period: float, needed: float = 6.0) -> None:
    """Start at least `needed` seconds before the wall-clock window's end, so counts do not reset mid-test."""
    into = time.time() % period
    if period - into < needed:
        time.sleep(period - into + 0.05)


def test_exchange_info_lists_the_limits_and_weights_are_binances(url: str, admin: Admin) -> None:  # noqa: ARG001
    info = get(url, "/api/v3/exchangeInfo")[2]
    assert info["rateLimits"] == [  # type: ignore[index]
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": WEIGHT},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": ORDERS_10S},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": ORDERS_1D},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 300_000},
    ]
    fresh_window(60)
    for path, w in (("/api/v3/ping", 1), ("/api/v3/time", 1), ("/api/v3/exchangeInfo", 20),
                    ("/api/v3/klines?symbol=BTCUSDT&interval=1h", 2), ("/api/v3/depth?symbol=BTCUSDT", 5),
                    ("/api/v3/depth?symbol=BTCUSDT&limit=500", 25), ("/api/v3/ticker/24hr?symbol=BTCUSDT", 2),
                    ("/api/v3/ticker/price", 4), ("/api/v3/trades?symbol=BTCUSDT", 25),
                    ("/api/v3/aggTrades?symbol=BTCUSDT", 4)):  # fmt: skip
        before = used(url)
        assert used(url, path) - before == w, path


def test_signed_weights_successful_orders_weigh_nothing_and_the_market_clock_does_not_count(
    url: str, admin: Admin
) -> None:
    ex = make_client(url, "rl", "s")
    ex.load_markets()
    fresh_window(60)

    def weight_of(call: object) -> int:
        before = used(url)
        call()  # type: ignore[operator]
        return int(ex.last_response_headers["X-MBX-USED-WEIGHT-1M"]) - before

    o = ex.create_order(SYMBOL, "limit", "buy", 0.01, 20000.0)
    assert weight_of(lambda: ex.create_order(SYMBOL, "limit", "buy", 0.01, 20000.0)) == 0
    assert weight_of(lambda: ex.fetch_order(o["id"], SYMBOL)) == 4
    assert weight_of(lambda: ex.fetch_open_orders(SYMBOL)) == 6
    assert weight_of(lambda: ex.fetch_my_trades(SYMBOL)) == 20
    assert weight_of(lambda: ex.fetch_my_trades(SYMBOL, params={"orderId": o["id"]})) == 5
    assert weight_of(ex.fetch_balance) == 20
    assert weight_of(lambda: ex.fetch_orders(SYMBOL)) == 20
    assert weight_of(lambda: ex.cancel_order(o["id"], SYMBOL)) == 0
    before = used(url)
    with pytest.raises(ccxt.OrderNotFound):
        ex.cancel_order(o["id"], SYMBOL)  # a failed cancel weighs its documented 1
    assert used(url) - before == 1 + 1
    admin.step(candles=500)  # days of market time: the wall-clock window does not move
    assert used(url) - before == 3
    counts = admin.call("GET", "state")["rate_limits"]  # type: ignore[index]
    assert counts["ips"]["127.0.0.1"]["weight_1m"] == before + 3  # type: ignore[index]


def test_past_the_weight_limit_429_then_a_growing_ban_for_an_ip_that_keeps_sending(
    url: str, admin: Admin
) -> None:
    fresh_window(60, needed=10)
    status, headers, body = 200, {}, {}
    for _ in range(WEIGHT + 1):
        status, headers, body = get(url, "/api/v3/ping")
        if status != 200:
            break
    assert (status, body["code"]) == (429, -1003)  # type: ignore[index]
    assert f"current limit is {WEIGHT} request weight per 1 MINUTE" in body["msg"]  # type: ignore[index]
    assert int(headers["X-MBX-USED-WEIGHT-1M"]) == WEIGHT + 1
    assert 1 <= int(headers["Retry-After"]) <= math.ceil(60 - time.time() % 60) + 1
    ex = make_client(url, "rl", "s")
    with pytest.raises(ccxt.DDoSProtection):  # told to wait, sent anyway: banned
        ex.fetch_time()
    status, headers, body = get(url, "/api/v3/ping")
    assert (status, headers["Retry-After"], body["code"]) == (418, str(BAN_S), -1003)  # type: ignore[index]
    assert "IP banned until" in body["msg"]  # type: ignore[index]
    time.sleep(BAN_S + 0.1)
    status, headers, _ = get(url, "/api/v3/ping")  # the ban is over, the 429's Retry-After is not: again
    assert (status, headers["Retry-After"]) == (418, str(2 * BAN_S))
    state = admin.call("GET", "rate_limits")
    assert state["ips"]["127.0.0.1"]["bans"] == 2  # type: ignore[index]
    assert (state["refused_429"], state["refused_418"]) == (1, 3)  # type: ignore[index]
    admin.call("POST", "reset")  # clears counts and bans
    assert get(url, "/api/v3/ping")[0] == 200


def test_unfilled_order_count_per_10s_and_per_day_and_fills_take_it_back(url: str, admin: Admin) -> None:
    ex = make_client(url, "rl", "s")
    ex.load_markets()
    fresh_window(10, needed=5)
    dip = math.ceil(CANDLES.low[START_CANDLE] * 100) / 100
    ex.create_order(SYMBOL, "limit", "buy", 0.01, dip)  # fills at the candle's close
    counts = []
    for k in range(ORDERS_10S - 1):
        ex.create_order(SYMBOL, "limit", "buy", 0.01, 20000.0 + k)
        counts.append(ex.last_response_headers["X-MBX-ORDER-COUNT-10S"])
    assert counts == ["2", "3", "4", "5"]
    assert ex.last_response_headers["X-MBX-ORDER-COUNT-1D"] == "5"
    with pytest.raises(ccxt.DDoSProtection, match="10 SECOND"):
        ex.create_order(SYMBOL, "limit", "buy", 0.01, 20100.0)
    with pytest.raises(ccxt.DDoSProtection):
        ex.create_order(SYMBOL, "market", "buy", 0.001)
    admin.step(candles=1)  # the dip order's first fill (as maker) takes one off
    ex.create_order(SYMBOL, "market", "buy", 0.001)  # traded on arrival: counts nothing
    assert ex.last_response_headers["X-MBX-ORDER-COUNT-10S"] == "4"
    ex.create_order(SYMBOL, "limit", "buy", 0.01, 20200.0)
    fresh_window(10, needed=10)  # the next 10 s window: the day's count goes on
    for k in range(ORDERS_1D - 5):
        ex.create_order(SYMBOL, "limit", "buy", 0.01, 20300.0 + k)
    with pytest.raises(ccxt.DDoSProtection, match="1 DAY"):
        ex.create_order(SYMBOL, "limit", "buy", 0.01, 20400.0)
    orders = admin.call("GET", "state")["rate_limits"]["orders"]["rl"]  # type: ignore[index]
    assert orders["orders_1d"] == ORDERS_1D  # type: ignore[index]


def test_off_counts_but_refuses_nothing(url: str, admin: Admin) -> None:
    admin.call("POST", "rate_limits", {"enforce": False, "weight_1m": 3})
    fresh_window(60)
    for _ in range(10):
        status, headers, _ = get(url, "/api/v3/ping")
        assert status == 200
    assert int(headers["X-MBX-USED-WEIGHT-1M"]) >= 10
    with pytest.raises(urllib.error.HTTPError):
        admin.call("POST", "rate_limits", {"weight_1m": -1})


def test_a_shorter_weight_window_is_named_as_binance_names_intervals_and_its_retry_after_is_honoured(
    url: str, admin: Admin
) -> None:
    """`window=S` (here through the admin API): exchangeInfo says SECOND S, the header X-MBX-USED-WEIGHT-SS,
    the 429's Retry-After runs to the end of that window, and a client that waits it out is served again,
    never banned."""
    admin.call("POST", "rate_limits", {"weight_1m": 100, "weight_window_s": 3})
    info = get(url, "/api/v3/exchangeInfo")[2]
    assert info["rateLimits"][0] == {  # type: ignore[index]
        "rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 3, "limit": 100,
    }  # fmt: skip
    admin.call("POST", "rate_limits", {"weight_1m": 10})
    admin.call("POST", "reset")
    fresh_window(3, needed=1.5)
    status, headers, body = 200, {}, {}
    for _ in range(11):
        status, headers, body = get(url, "/api/v3/ping")
        if status != 200:
            break
    assert (status, body["code"]) == (429, -1003)  # type: ignore[index]
    assert "current limit is 10 request weight per 3 SECOND" in body["msg"]  # type: ignore[index]
    assert int(headers["X-MBX-USED-WEIGHT-3S"]) == 11
    assert "X-MBX-USED-WEIGHT-1M" not in headers
    retry = int(headers["Retry-After"])
    assert 1 <= retry <= 3
    time.sleep(retry + 0.05)
    status, headers, _ = get(url, "/api/v3/ping")
    assert (status, headers["X-MBX-USED-WEIGHT-3S"]) == (200, "1")
    state = admin.call("GET", "rate_limits")
    assert (state["refused_429"], state["refused_418"]) == (1, 0)  # type: ignore[index]
    for bad in (0, 86_401, 1.5, True):
        with pytest.raises(urllib.error.HTTPError):
            admin.call("POST", "rate_limits", {"weight_window_s": bad})


@pytest.mark.parametrize(
    ("flag", "error"),
    [("window=0", "window: the weight window is 1 to 86400 seconds"), ("window=x", "window: not a number")],
)
def test_a_bad_window_flag_is_refused_naming_it(flag: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        parse_flag(flag)
    assert parse_flag("weight=50,window=120").rate_limits()[0] == {
        "rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 2, "limit": 50,
    }  # fmt: skip
    assert [parse_flag(f"window={w}").weight_header() for w in (1, 60, 7200, 86400)] == [
        "X-MBX-USED-WEIGHT-1S", "X-MBX-USED-WEIGHT-1M", "X-MBX-USED-WEIGHT-2H", "X-MBX-USED-WEIGHT-1D",
    ]  # fmt: skip
