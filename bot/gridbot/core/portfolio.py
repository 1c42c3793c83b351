"""Portfolio accounting by FIFO lots. Pure: every operation returns a new Portfolio.

One cost basis everywhere: each buy opens a lot costing its notional plus its fee; a sell closes the oldest
lots first, and its realized PnL is its proceeds minus its fee minus the cost of the lots (or parts of lots)
it closed. A sell's fee is paid in quote; a grid buy's in base, as the exchange charges it (`buy_fee_in_base`,
valued in quote at the buy's price). Fees are inside both figures, so the identity is exact (up to
float rounding): start_equity + realized + unrealized(mark) == equity(mark). `fees` is the total paid, for
information only; it is already counted in realized and unrealized.

A fee paid in a third asset (Binance's BNB) leaves base and quote whole: it is valued in quote at that
asset's price when the fill happened (`outside`), counted in the lot's or the sell's fee like any other, and
kept in `fees_outside`, which equity subtracts: the bot's equity is what it holds less what its trading cost
in other assets, so the identity stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, NamedTuple

Side = Literal["buy", "sell"]
DUST = 1e-12  # relative: a remainder this small of a lot or of the holding is float noise, not inventory


@dataclass(frozen=True, slots=True)
class Lot:
    qty: float
    price: float
    fee: float  # the buy fee still attached to `qty` (quote)
    opened_ms: int = 0

    @property
    def cost(self) -> float:
        return self.qty * self.price + self.fee


class RoundTrip(NamedTuple):
    """One sell and the FIFO lots it closed; `buy_price` is their quantity-weighted price.

    `fees` is the sell's fee plus the buy fees of the closed quantity, so `profit` is exactly the sell's
    realized PnL, and the sum over a run is the portfolio's realized PnL.
    """

    opened_ms: int
    closed_ms: int
    qty: float
    buy_price: float
    sell_price: float
    fees: float

    @property
    def profit(self) -> float:
        return self.qty * (self.sell_price - self.buy_price) - self.fees


@dataclass(frozen=True, slots=True)
class Portfolio:
    start_equity: float
    quote: float
    base: float = 0.0
    lots: tuple[Lot, ...] = ()  # oldest first
    realized: float = 0.0  # net of every fee of the closed quantity
    fees: float = 0.0
    fees_outside: float = 0.0  # the part of `fees` paid in a third asset (BNB), valued in quote at fill time

    @classmethod
    def funded(cls, quote: float) -> Portfolio:
        return cls(start_equity=quote, quote=quote)

    @property
    def cost_basis(self) -> float:
        """What the base still held cost, buy fees included."""
        return sum(lot.cost for lot in self.lots)

    @property
    def avg_cost(self) -> float:
        return self.cost_basis / self.base if self.base > 0 else 0.0

    def unrealized(self, mark: float) -> float:
        return self.base * mark - self.cost_basis

    def equity(self, mark: float) -> float:
        return self.quote + self.base * mark - self.fees_outside


def buy(p: Portfolio, price: float, qty: float, fee: float, time_ms: int = 0) -> Portfolio:
    return replace(
        p,
        quote=p.quote - price * qty - fee,
        base=p.base + qty,
        lots=(*p.lots, Lot(qty, price, fee, time_ms)),
        fees=p.fees + fee,
    )


def buy_fee_in_base(
    p: Portfolio,
    price: float,
    qty: float,
    fee_base: float,
    time_ms: int = 0,
    outside: float = 0.0,
    fee_quote: float = 0.0,
) -> Portfolio:
    """A buy whose fee the exchange takes from the bought base (Binance without BNB): `qty - fee_base` is
    held, for `price * qty` of quote; the fee, valued at the price, is the lot's fee, so the lot still costs
    exactly the quote paid. `outside`: the quote value of a fee paid in a third asset (all `qty` is held),
    part of the lot's cost as well; `fee_quote`: a fee taken from the quote on top of the price (the quote is
    the fee asset), paid from the holding and part of the lot's cost."""
    fee = fee_base * price + outside + fee_quote
    net = qty - fee_base
    return replace(
        p,
        quote=p.quote - price * qty - fee_quote,
        base=p.base + net,
        lots=(*p.lots, Lot(net, price, fee, time_ms)),
        fees=p.fees + fee,
        fees_outside=p.fees_outside + outside,
    )


def sell(
    p: Portfolio, price: float, qty: float, fee: float, time_ms: int = 0, outside: float = 0.0
) -> tuple[Portfolio, RoundTrip]:
    """`fee` in quote, taken from the proceeds; `outside` the quote value of a fee paid in a third asset."""
    if qty > p.base * (1 + DUST) or qty <= 0:
        raise ValueError(f"cannot sell {qty} with only {p.base} held")
    whole = qty >= p.base * (1 - DUST)  # selling everything closes every lot: no float dust left behind
    left, closed_cost, closed_fees, lots = qty, 0.0, 0.0, list(p.lots)
    opened_ms = lots[0].opened_ms
    while lots and (whole or left > 0):
        lot = lots[0]
        if whole or left >= lot.qty * (1 - DUST):
            closed_cost += lot.qty * lot.price
            closed_fees += lot.fee
            left -= lot.qty
            lots.pop(0)
            continue
        share = left / lot.qty
        closed_cost += left * lot.price
        closed_fees += lot.fee * share
        lots[0] = replace(lot, qty=lot.qty - left, fee=lot.fee * (1 - share))
        left = 0.0
    trip = RoundTrip(opened_ms, time_ms, qty, closed_cost / qty, price, fee + outside + closed_fees)
    new = replace(
        p,
        quote=p.quote + price * qty - fee,
        base=0.0 if whole else p.base - qty,
        lots=tuple(lots),
        realized=p.realized + price * qty - fee - outside - closed_cost - closed_fees,
        fees=p.fees + fee + outside,
        fees_outside=p.fees_outside + outside,
    )
    return new, trip
