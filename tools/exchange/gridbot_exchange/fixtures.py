"""pytest fixtures for tests that call a gridbot-exchange directly (the exchange's own tests, the bot's ccxt
adapter tests): one process for a module's or a session's tests, reset before each test and its faults cleared
after it. A test module or conftest takes both under their names:

    base_url, admin = exchange_fixtures("--account", "bot-a:secret-a", scope="session")
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import pytest

from gridbot_exchange.testing import Admin, running


def exchange_fixtures(*args: str, scope: Literal["session", "module"] = "module") -> tuple[object, object]:
    """The fixtures `base_url` (a gridbot-exchange started with `args` at speed 0, the tests step its clock;
    ephemeral port: one per pytest worker) and `admin` (its admin API, the exchange reset first)."""

    @pytest.fixture(scope=scope, name="base_url")
    def base_url() -> Iterator[str]:
        with running("--speed", "0", *args) as url:
            yield url

    @pytest.fixture(name="admin")
    def admin(base_url: str) -> Iterator[Admin]:
        a = Admin(base_url)
        a.call("POST", "reset")
        yield a
        a.call("DELETE", "faults")

    return base_url, admin
