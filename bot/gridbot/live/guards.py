"""The trading loop's risk guards, as pure functions: numbers and errors in, a verdict or a reason out.

Which exchange errors spend the error budget is the one judgement that decides whether a bot left alone
rides out an outage or stops until someone types `gridbot resume`:

- the exchange is unavailable (`UnavailableError`: timeouts, 5xx, maintenance, the breaker holding calls
  back; `RateLimitedError`: 429/418 and their Retry-After; `OutcomeUnknownError`: a create whose answer was
  lost, looked up by client id afterwards; `MarketClosedError`: the market halted, `market_watch`): the
  breaker's and the retry policy's job. It is waited out, for as long as it lasts, and never counted: an
  outage of two minutes or of two hours ends with the bot trading again by itself.
- the exchange refused what the bot asked (`RejectedError`: a filter such as PRICE_FILTER, LOT_SIZE, NOTIONAL
  or MAX_NUM_ORDERS, a duplicate client id; `InsufficientFundsError`), or answered what the adapter cannot
  read (a plain `VenueError`): the bot itself is wrong (its books, its config, its rules). Counted; more
  than `risk.max_errors_per_hour` in an hour halts trading.
- the exchange refused the credentials (`AuthFailedError`): halts at once.

The drawdown halt is no guard of the live shell's: the engine judges it candle by candle (`core.risk`), as
a backtest does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from gridbot.live.venue import (
    AuthFailedError,
    MarketClosedError,
    OutcomeUnknownError,
    RateLimitedError,
    UnavailableError,
    VenueError,
)

Verdict = Literal["wait", "count", "halt"]


def verdict(exc: VenueError) -> Verdict:
    """What an exchange error does to the loop (see the module doc): wait it out, count it, or halt."""
    if isinstance(exc, AuthFailedError):
        return "halt"
    if isinstance(exc, (UnavailableError, RateLimitedError, OutcomeUnknownError, MarketClosedError)):
        return "wait"
    return "count"


def within_the_hour(times: Iterable[float], now: float) -> list[float]:
    """Error times of the last hour, in order. Wall-clock: a Pi without an RTC may step its clock at boot, so
    a time ahead of now (more than a minute) is a clock that was wrong then, not an error still to come."""
    return sorted(t for t in times if now - 3600 <= t <= now + 60)


def budget_spent(errors: int, limit: int | None, last: str) -> str | None:
    """The halt's reason once the hour's counted errors exceed the budget, naming the last one; else None."""
    if limit is None or errors <= limit:
        return None
    return f"error budget: {errors} exchange errors in the last hour (limit {limit}), the last: {last}"


def stale_price(
    age_s: float, max_age_s: float, timeframe_s: float, max_age: str, timeframe: str
) -> str | None:
    """The halt's reason when no new closed candle came for longer than the allowed age on top of one
    timeframe (a new candle closes once per timeframe); else None."""
    if age_s <= max_age_s + timeframe_s:
        return None
    return (
        f"stale price: no new closed candle for {age_s:.0f}s "
        f"(risk.max_price_age {max_age} after the {timeframe} candle)"
    )


def order_cap(levels: int, max_orders: int | None, others: int = 0) -> str | None:
    """Why a grid of `levels` levels cannot fit under the exchange's open-order limit per symbol (Binance's
    MAX_NUM_ORDERS, which counts the account's other orders on the symbol too); None when it fits. A grid
    rests at most one order per gap between levels (a buy at a level, or the sell above it): levels - 1."""
    if max_orders is None:
        return None
    need, room = levels - 1, max_orders - others
    if need <= room:
        return None
    held = f", {others} of them taken by the account's other orders" if others else ""
    return (
        f"grid.levels: {levels} levels rest up to {need} open orders; the exchange allows {max_orders} per "
        f"symbol (MAX_NUM_ORDERS){held}: use at most {room + 1} levels"
    )
