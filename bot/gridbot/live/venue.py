"""What the trading loop asks of an exchange, and the few ways an exchange call can end.

The loop speaks only this protocol; `ccxt_venue` implements it over ccxt (live mode, and the candle feed of
`run.data: exchange`). Amounts are `Decimal` at this boundary: what is sent to and read from an exchange is
exact text, never a float that prints as 0.30000000000000004.

The error classes are the loop's decisions, not the exchange library's names: an adapter maps its own errors
onto them, and the loop never sees a ccxt class.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

Side = Literal["buy", "sell"]
Status = Literal["open", "closed", "canceled", "rejected", "expired"]


@dataclass(frozen=True, slots=True)
class MarketRules:
    """One symbol's trading rules as the exchange states them; the config's values are judged by them."""

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_step: Decimal
    min_notional: Decimal
    maker_fee: Decimal
    taker_fee: Decimal
    max_orders: int | None = (
        None  # open orders allowed per symbol, the account's others included (None: no limit)
    )
    trading: bool = True  # False: the market is halted (Binance BREAK, HALT): no order is accepted


@dataclass(frozen=True, slots=True)
class OrderState:
    """An order as the exchange reports it. `filled` is the executed base quantity (partial fills count)."""

    client_id: str
    exchange_id: str
    side: Side
    price: Decimal
    qty: Decimal
    filled: Decimal
    status: Status
    time_ms: int


@dataclass(frozen=True, slots=True)
class Trade:
    """One execution. `trade_id` is unique per symbol on the exchange: the store's key against recording a
    fill twice. `fee` is in `fee_currency` (Binance without BNB: a buy pays in base, a sell in quote)."""

    trade_id: str
    exchange_order_id: str
    client_id: str | None
    side: Side
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_currency: str
    time_ms: int


@dataclass(frozen=True, slots=True)
class Balance:
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True, slots=True)
class Candle:
    """A closed candle; prices as the exchange sent them, converted to float only by the feed's consumer."""

    time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class VenueError(Exception):
    """Base of every error an adapter raises to the loop."""


class OutcomeUnknownError(VenueError):
    """A create or cancel whose request may or may not have been executed (timeout, dropped connection, 5xx).
    Never retried as is: the order is looked up by its client id until the exchange's visibility lag has
    passed, and only then placed again under a new client id."""


class RejectedError(VenueError):
    """The exchange refused this request and nothing happened (invalid price or size, min notional, duplicate
    client id, would take as a maker-only order)."""


class MarketClosedError(VenueError):
    """The market is not trading (Binance -1013 "Market is closed." during a BREAK or HALT): nothing was
    placed, and nothing is wrong with the bot; creates wait for the market to open, no error is counted."""


class InsufficientFundsError(RejectedError):
    """Refused for lack of balance: the loop refreshes balances and skips the level."""


class RateLimitedError(VenueError):
    """429/418: wait `retry_after` seconds (the exchange's Retry-After, or the adapter's backoff)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnavailableError(VenueError):
    """The exchange did not answer usefully after the adapter's retries (network, maintenance, 5xx, breaker
    open). Reads are retried inside the adapter; this reaches the loop only when they ran out."""


class AuthFailedError(VenueError):
    """Keys refused or lacking permission: trading halts with this reason, it does not crash-loop."""


class Venue(Protocol):
    """An exchange as the trading loop uses it, for one symbol."""

    def load_market(self, symbol: str) -> MarketRules: ...

    def closed_candles(self, timeframe: str, since_ms: int | None, limit: int) -> list[Candle]:
        """Closed candles from `since_ms` (inclusive) on, oldest first; never the forming candle."""
        ...

    def create_limit(self, side: Side, price: Decimal, qty: Decimal, client_id: str) -> OrderState:
        """Place a GTC limit order. Sent once: raises OutcomeUnknownError when the answer was lost."""
        ...

    def sell_at_market(self, qty: Decimal, client_id: str) -> OrderState:
        """Sell `qty` at market (an exit). Sent once: raises OutcomeUnknownError when the answer was lost."""
        ...

    def cancel(self, client_id: str) -> OrderState | None:
        """Cancel by client id; None when the exchange does not know the order (never placed, or gone)."""
        ...

    def order(self, client_id: str) -> OrderState | None:
        """Look an order up by client id; None while the exchange does not know it."""
        ...

    def order_by_id(self, exchange_id: str) -> OrderState | None:
        """Look an order up by the exchange's id (a trade's only name for its order); None when unknown."""
        ...

    def open_orders(self) -> list[OrderState]:
        """Every open order on the symbol, ours and anyone else's (one call)."""
        ...

    def trades_since(self, after_trade_id: str | None, since_ms: int | None) -> list[Trade]:
        """Our executions on the symbol after `after_trade_id` (or from `since_ms` on the first call),
        oldest first, every page fetched."""
        ...

    def trades_of(self, exchange_order_id: str) -> list[Trade]:
        """Every execution of one order (Binance's myTrades by orderId), oldest first: the trades of an order
        that became visible after the trade cursor had passed them."""
        ...

    def asset_price(self, asset: str, timeframe: str, at_ms: int) -> Decimal | None:
        """`asset`'s price in this symbol's quote at `at_ms`, as the exchange's candles tell it without
        looking ahead: the close of its `asset/quote` candle that closed last at or before `at_ms` (what its
        ticker showed then, to within one candle). None when the exchange has no such candle."""
        ...

    def balances(self) -> dict[str, Balance]: ...

    def clock_skew_ms(self) -> float:
        """Exchange time minus local time, as last measured."""
        ...

    def measure_clock(self) -> float:
        """Measure exchange time minus local time again and return it: at every reconciliation, so that a
        host clock that drifts, or is corrected, shows within one (and its metric with it)."""
        ...
