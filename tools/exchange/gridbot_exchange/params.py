"""Parsing request parameters the way Binance validates them (errors name the parameter)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from gridbot_exchange import errors
from gridbot_exchange.errors import ApiError

_DECIMAL = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")
_CLIENT_ID = re.compile(r"^[.A-Za-z0-9_:/-]{1,36}$")


def decimal(params: dict[str, str], name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _DECIMAL.match(raw):
        raise ApiError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '{_DECIMAL.pattern}'.",
        )
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise errors.illegal(name) from None


def integer(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 20:
        raise errors.illegal(name)
    return int(raw)


def required(params: dict[str, str], name: str) -> str:
    raw = params.get(name)
    if not raw:
        raise errors.bad_param(name)
    return raw


def client_id(params: dict[str, str], name: str) -> str | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not _CLIENT_ID.match(raw):
        raise ApiError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '{_CLIENT_ID.pattern}'.",
        )
    return raw


def limit(params: dict[str, str], default: int, most: int) -> int:
    """`limit`, `default` if absent; more than `most` is served as `most`, as Binance's spot API truncates
    (its depth docs say so; ccxt's maintainers observed it on aggTrades, ccxt PR #19247)."""
    n = integer(params, "limit")
    if n is None:
        return default
    if n < 1:
        raise ApiError(400, -1130, "Invalid data sent for a parameter: 'limit' must be at least 1.")
    return min(n, most)
