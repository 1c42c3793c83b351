"""Binance error codes and messages as the real API returns them (ccxt maps them to its exceptions)."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, code: int, msg: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def bad_param(name: str) -> ApiError:
    return ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal(name: str) -> ApiError:
    return ApiError(
        400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
    )


def filter_failure(name: str) -> ApiError:
    return ApiError(400, -1013, f"Filter failure: {name}")


def insufficient() -> ApiError:
    return ApiError(400, -2010, "Account has insufficient balance for requested action.")


def unknown_order() -> ApiError:
    return ApiError(400, -2013, "Order does not exist.")


def unknown_cancel() -> ApiError:
    return ApiError(400, -2011, "Unknown order sent.")


BAD_SYMBOL = ApiError(400, -1121, "Invalid symbol.")
BAD_KEY = ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
BAD_SIGNATURE = ApiError(400, -1022, "Signature for this request is not valid.")
DUPLICATE = ApiError(400, -2010, "Duplicate order sent.")
WOULD_TAKE = ApiError(400, -2010, "Order would immediately match and take.")
MAX_ORDERS = ApiError(400, -2010, "Filter failure: MAX_NUM_ORDERS")
# errors.md lists the message among the matching engine's (-2010), but Binance answers an order on a symbol
# not trading before it reaches the engine: -1013, as ccxt's error map and its users' reports have it
MARKET_CLOSED = ApiError(400, -1013, "Market is closed.")
NOT_FOUND = ApiError(404, -1000, "Not found.")
