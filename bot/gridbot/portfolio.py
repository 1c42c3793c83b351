"""Portfolio accounting by average cost. Pure: every operation returns a new Portfolio.

Fees are paid in the quote currency. Identity kept exactly (up to float rounding):
start_equity + realized + unrealized(mark) - fees == equity(mark).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, NamedTuple

Side = Literal["buy", "sell"]


@dataclass(frozen=True, slots=True)
class Portfolio:
    start_equity: float
    quote: float
    base: float = 0.0
    cost_basis: float = 0.0  # quote paid for the base still held, fees excluded
    realized: float = 0.0  # gross of fees
    fees: float = 0.0

    @classmethod
    def funded(cls, quote: float) -> Portfolio:
        return cls(start_equity=quote, quote=quote)

    @property
    def avg_cost(self) -> float:
        return self.cost_basis / self.base if self.base > 0 else 0.0

    def unrealized(self, mark: float) -> float:
        return self.base * mark - self.cost_basis

    def equity(self, mark: float) -> float:
        return self.quote + self.base * mark


def apply_fill(p: Portfolio, side: Side, price: float, qty: float, fee: float) -> Portfolio:
    notional = price * qty
    if side == "buy":
        return replace(
            p,
            quote=p.quote - notional - fee,
            base=p.base + qty,
            cost_basis=p.cost_basis + notional,
            fees=p.fees + fee,
        )
    if qty > p.base * (1 + 1e-12):
        raise ValueError(f"cannot sell {qty} with only {p.base} held")
    # Selling everything zeroes the basis exactly instead of leaving float dust.
    released = p.cost_basis if qty >= p.base else p.avg_cost * qty
    return replace(
        p,
        quote=p.quote + notional - fee,
        base=max(p.base - qty, 0.0),
        cost_basis=p.cost_basis - released,
        realized=p.realized + notional - released,
        fees=p.fees + fee,
    )


class RoundTrip(NamedTuple):
    """A buy closed by a sell one level up; profit is net of both fees."""

    opened_ms: int
    closed_ms: int
    qty: float
    buy_price: float
    sell_price: float
    fees: float

    @property
    def profit(self) -> float:
        return self.qty * (self.sell_price - self.buy_price) - self.fees
