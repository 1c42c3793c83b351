"""A real gridbot-exchange process on 127.0.0.1 (ephemeral port, speed 0: tests step the clock) and
unmodified ccxt.binance clients configured as the issue prescribes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import ccxt
import pytest

KEY, SECRET = "bot-a", "secret-a"
START_CANDLE = 101  # candle 101 dips below the last close and rises above it


def exe() -> str:
    found = shutil.which("gridbot-exchange", path=str(Path(sys.executable).parent))
    assert found, "gridbot-exchange is not installed in this venv (pip install -e tools/exchange)"
    return found


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start the console script; returns once it printed the URL it listens on."""
    proc = subprocess.Popen(
        [exe(), "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    line = proc.stdout.readline() if proc.stdout else ""
    if "listening on" not in line:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise RuntimeError(f"gridbot-exchange did not start: {line!r} {err}")
    return proc, line.split()[3]


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    proc, url = start(
        "--speed", "0", "--start-candle", str(START_CANDLE), "--account", f"{KEY}:{SECRET}",
        "--account", "bot-b:secret-b", "--balance", "USDT=10000", "--balance", "BTC=1",
    )  # fmt: skip
    try:
        yield url
    finally:
        proc.kill()
        proc.wait(timeout=10)


class Admin:
    def __init__(self, base: str) -> None:
        self.base = base

    def call(self, method: str, path: str, body: dict | None = None) -> object:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + "/admin/" + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def fault(self, **spec: object) -> object:
        return self.call("POST", "faults", spec)

    def step(self, candles: int = 0, ms: int = 0) -> dict:
        return self.call("POST", "step", {"candles": candles, "ms": ms})  # type: ignore[return-value]


@pytest.fixture
def admin(base_url: str) -> Iterator[Admin]:
    a = Admin(base_url)
    a.call("POST", "reset")
    yield a
    a.call("DELETE", "faults")


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
