"""A real gridbot-exchange process on 127.0.0.1 (ephemeral port, speed 0: tests step the clock) and
unmodified ccxt.binance clients configured as the issue prescribes."""

from __future__ import annotations

from collections.abc import Callable

import ccxt
import pytest
from gridbot_exchange.fixtures import exchange_fixtures
from gridbot_exchange.testing import Admin

KEY, SECRET = "bot-a", "secret-a"
START_CANDLE = 101  # candle 101 dips below the last close and rises above it


base_url, admin = exchange_fixtures(
    "--start-candle", str(START_CANDLE), "--account", f"{KEY}:{SECRET}", "--account", "bot-b:secret-b",
    "--balance", "USDT=10000", "--balance", "BTC=1", scope="session",
)  # fmt: skip


def make_client(base: str, key: str = KEY, secret: str = SECRET, timeout_ms: int = 5000) -> ccxt.binance:
    ex = ccxt.binance(
        {
            "apiKey": key,
            "secret": secret,
            "timeout": timeout_ms,
            "options": {"fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": ["spot"]}},
        }
    )
    ex.urls["api"] = {"public": base + "/api/v3", "private": base + "/api/v3"}
    return ex


@pytest.fixture
def client(base_url: str, admin: Admin) -> ccxt.binance:  # noqa: ARG001 (admin: reset first)
    ex = make_client(base_url)
    ex.load_markets()
    return ex


@pytest.fixture
def client_factory(base_url: str, admin: Admin) -> Callable[..., ccxt.binance]:  # noqa: ARG001
    def make(**kw: object) -> ccxt.binance:
        ex = make_client(base_url, **kw)  # type: ignore[arg-type]
        ex.load_markets()
        return ex

    return make
