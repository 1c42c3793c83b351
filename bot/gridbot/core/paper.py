"""Paper exchange: fills resting limit orders against OHLCV candles. Pure: no I/O.

A buy fills when the candle's low reaches its price, a sell when the high does, always at the order price
(maker); a buy's fee is taken in base, a sell's in quote, as the exchange charges them. An order placed
while candle t is processed fills from candle t+1 at the earliest: the caller asks for the fills of a
candle before it places new orders, so there is no lookahead.
The engine uses an `OrderBook`: place_limit, cancel, cancel_side, cancel_all, open_orders and fills, plus
best_bid/best_ask to skip candles where nothing can fill; the paper exchange is one, the live book another.
A book is typed by the fills it makes (`OrderBook[F]`), and the engine hands each booked fill back as that
type: the live book's carry their trades to the trader's ledger, typed all the way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count
from typing import NamedTuple, Protocol, TypeVar

import numpy as np

from gridbot.core.portfolio import Side


# Not frozen: a frozen dataclass's __init__ costs four times as much, and a busy buy filter places ~40k
# orders a year in a backtest. Nothing changes an order once placed; `dataclasses.replace` makes a new one.
@dataclass(slots=True)
class Order:
    id: int
    side: Side
    price: float
    qty: float
    level: int
    opened_ms: int = 0


@dataclass(frozen=True, slots=True)
class Fill:
    """`order.qty` is the executed quantity; `fee` is in the currency the exchange charges it in: base for a
    buy (the bought coins pay it), quote for a sell. A live order may fill in parts: `done` is False until
    its last part, and `filled`/`fees` are then the whole order's executed quantity and fees (None: this
    fill's own, as for every fill of the paper exchange, which fills an order whole). `fee_other`: the quote
    value (at fill time) of fees the exchange took in a third asset (BNB), outside base and quote.
    `fee_cross`: fees taken from the market's other asset than the one the order received: quote for a buy,
    base for a sell (BNB fees on a BNB pair: a sell's commission in BNB, the base)."""

    order: Order
    fee: float
    time_ms: int
    done: bool = True
    filled: float | None = None
    fees: float | None = None
    fee_other: float = 0.0
    fee_cross: float = 0.0


# A book's fills: `Fill`, or a subclass carrying what its book knows of them (the live book's trades).
F_co = TypeVar("F_co", bound=Fill, covariant=True)


class Reach(NamedTuple):
    """One candle as a book meets it: its open time and how far its price went. The paper exchange fills
    what the high and low reached; the live book, whatever the exchange traded before the candle's end."""

    time_ms: int
    high: float
    low: float


class OrderBook(Protocol[F_co]):
    """Where the engine's orders rest and fill: `fills` gives the fills of one candle, in booking order."""

    def place_limit(
        self, side: Side, price: float, qty: float, level: int, opened_ms: int = 0
    ) -> Order | None: ...
    def cancel(self, order: Order) -> None: ...
    def cancel_side(self, side: Side) -> None: ...
    def cancel_all(self) -> None: ...
    def open_orders(self) -> list[Order]: ...
    def best_bid(self) -> float: ...
    def best_ask(self) -> float: ...
    def fills(self, candle: Reach) -> Sequence[F_co]: ...
    def sell_at_market(self, qty: float, price: float, fee_rate: float, time_ms: int) -> F_co | None:
        """An exit's market sale: its fill when the book executes it at `price` at once (paper); None when the
        exchange executes it and its trades come back as fills later (live)."""
        ...


class PaperExchange:
    def __init__(self, fee_rate: float) -> None:
        self.fee_rate = fee_rate
        # One book per side: a busy buy filter cancels every buy ~8k times a year, and a candle that
        # reaches only one side's best price looks only at that side.
        self._buys: dict[int, Order] = {}
        self._sells: dict[int, Order] = {}
        self._ids = count(1)
        # The best resting prices, kept as orders come and go: the engine asks for them at every event, and
        # a candle that reaches neither fills nothing.
        self._bid = -np.inf
        self._ask = np.inf

    def place_limit(self, side: Side, price: float, qty: float, level: int, opened_ms: int = 0) -> Order:
        if qty <= 0 or price <= 0:
            raise ValueError(f"order needs positive price and qty, got price={price} qty={qty}")
        order = Order(next(self._ids), side, price, qty, level, opened_ms)
        if side == "buy":
            self._buys[order.id] = order
            self._bid = max(self._bid, price)
        else:
            self._sells[order.id] = order
            self._ask = min(self._ask, price)
        return order

    def cancel(self, order: Order) -> None:
        book = self._buys if order.side == "buy" else self._sells
        if book.pop(order.id, None) is None:
            return
        prices = [o.price for o in book.values()]
        if order.side == "buy":
            self._bid = max(prices, default=-np.inf)
        else:
            self._ask = min(prices, default=np.inf)

    def cancel_side(self, side: Side) -> None:
        if side == "buy":
            self._buys.clear()
            self._bid = -np.inf
        else:
            self._sells.clear()
            self._ask = np.inf

    def cancel_all(self) -> None:
        self.cancel_side("buy")
        self.cancel_side("sell")

    def open_orders(self) -> list[Order]:
        """Sells, then buys, each side in the order it was placed."""
        return [*self._sells.values(), *self._buys.values()]

    def best_bid(self) -> float:
        return self._bid

    def best_ask(self) -> float:
        return self._ask

    def sell_at_market(self, qty: float, price: float, fee_rate: float, time_ms: int) -> Fill:
        # at market: no level, no resting order; the taker fee in quote
        return Fill(Order(0, "sell", price, qty, -1, time_ms), price * qty * fee_rate, time_ms)

    def fills(self, candle: Reach) -> list[Fill]:
        """Fill every order the candle reached: sells first (lowest first), then buys (highest first)."""
        time_ms, high, low = candle
        hit: list[Order] = []
        if high >= self._ask:
            hit = sorted((o for o in self._sells.values() if high >= o.price), key=lambda o: o.price)
            for o in hit:
                del self._sells[o.id]
            self._ask = min((o.price for o in self._sells.values()), default=np.inf)
        if low <= self._bid:
            buys = sorted((o for o in self._buys.values() if low <= o.price), key=lambda o: -o.price)
            for o in buys:
                del self._buys[o.id]
            self._bid = max((o.price for o in self._buys.values()), default=-np.inf)
            hit.extend(buys)
        rate = self.fee_rate
        return [Fill(o, (o.qty if o.side == "buy" else o.price * o.qty) * rate, time_ms) for o in hit]
