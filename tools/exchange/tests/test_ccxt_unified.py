"""ccxt's own unified spot tests, as the installed ccxt ships them (ccxt/test/exchange/sync), run against the
exchange with an unmodified ccxt.binance. Their checks read the wall clock (fetchOHLCV asks for the last ten
1m candles before now; timestamps must not be ahead of now), so this exchange trades 1-minute candles whose
last one opens at the current minute, and the market clock stands there (--speed 0)."""

from __future__ import annotations

import importlib
import inspect
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import ccxt
import numpy as np
import pytest
from conftest import KEY, SECRET, make_client
from gridbot_exchange.data import synthetic_candles
from gridbot_exchange.testing import running

SYMBOL = "BTC/USDT"
MINUTE = 60_000
HISTORY = 3 * 1440  # three days of 1m candles: ccxt's fetchTrades asks for 12 000 (served: the newest 1000)
# markets, ticker, order book, candles, public trades, balance, own trades, open orders, all orders (ccxt
# ships no fetchTime test; its fetchMarkets test asserts a dict where Python's fetch_markets returns a list,
# and its createOrder test adds floats to strings in Python: both fail against Binance itself)
UNIFIED = ["load_markets", "fetch_ticker", "fetch_order_book", "fetch_ohlcv", "fetch_trades", "fetch_balance",
           "fetch_my_trades", "fetch_open_orders", "fetch_orders"]  # fmt: skip
# what ccxt's skip-tests.json would say for Binance: its /api/v3/depth answer has no time (rest-api.md)
SKIPS = {"fetch_order_book": {"timestamp": "depth has no time", "datetime": "depth has no time"}}


def unified(name: str) -> Callable[..., object]:
    """ccxt's test function for a method, from the installed package (named so pytest does not collect it)."""
    module = importlib.import_module(f"ccxt.test.exchange.sync.test_{name}")
    fn: Callable[..., object] = getattr(module, f"test_{name}")
    return fn


def write_minutes(path: Path) -> None:
    """A ccxt OHLCV CSV of HISTORY 1-minute candles, the last opening at the current minute."""
    now = int(time.time() * 1000) // MINUTE * MINUTE
    c = synthetic_candles(HISTORY, 5, 60_000.0, now - (HISTORY - 1) * MINUTE, MINUTE)
    rows = np.column_stack([c.time_ms, *c.prices()])
    np.savetxt(
        path, rows, fmt=["%d"] + ["%.8f"] * 5, delimiter=",", header="timestamp,open,high,low,close,volume"
    )


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ccxt.binance]:
    data = tmp_path_factory.mktemp("unified") / "btc_1m.csv"
    write_minutes(data)
    with running(
        "--speed", "0", "--data", str(data), "--start-candle", str(HISTORY - 1),
        "--account", f"{KEY}:{SECRET}", "--balance", "USDT=10000", "--balance", "BTC=1",
    ) as url:  # fmt: skip
        ex = make_client(url)
        ex.enableLastJsonResponse = True
        # the client loads spot markets only (fetchMarkets types), so it claims no other kind of market
        ex.has = {**ex.has, "swap": False, "future": False, "option": False}
        ex.load_markets()
        ex.create_order(SYMBOL, "market", "buy", 0.01)  # a trade for fetchMyTrades
        ex.create_order(SYMBOL, "limit", "buy", 0.01, 20000.0)  # an open order for fetchOpenOrders
        yield ex


@pytest.mark.parametrize("name", UNIFIED)
def test_ccxt_unified_spot_test_passes(exchange: ccxt.binance, name: str) -> None:
    check = unified(name)
    args = (SYMBOL,) if "symbol" in inspect.signature(check).parameters else ()
    check(exchange, SKIPS.get(name, {}), *args)  # raises AssertionError on a failed check
    # ccxt 4.5.90's assert_non_emtpy_array returns before its length check unless "emptyResponse" is skipped:
    # an empty answer would pass, so the answer its checks ran over must have had something in it
    assert exchange.last_json_response
