"""Grid math: level placement, exchange rounding, order sizing. Pure functions, no I/O.

A grid of n levels holds at most n-1 round trips: a buy at level i is closed by a sell at level i+1.

The exchange's rounding in both number systems, here and nowhere else. The core decides in float64 (numpy:
`round_to_tick`, `floor_to_step`, on the config's tick and lot step, which `live.preflight` holds to multiples
of the exchange's); an order leaves for the exchange through one door, `exact`, as the Decimal of its 15
significant digits, which every price, quantity and minimum an exchange states fits in. Values the core
rounded pass that door unchanged, and the one comparison where float64 and the exchange's exact arithmetic
can part, a notional at its minimum (3.0 x 64.6 is 193.79999999999998 in float64), is judged exactly
(`meets_min_notional`): what the core places, the exchange accepts, and the other way round
(`bot/tests/test_rounding.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Spacing = Literal["arithmetic", "geometric"]
Array = NDArray[np.float64]


class GridError(ValueError):
    """A grid that cannot trade profitably or cannot be placed on the market."""


@dataclass(frozen=True)
class Market:
    """What the exchange allows: price tick, quantity step, smallest order value."""

    tick_size: float
    lot_step: float
    min_notional: float = 0.0


def place_levels(lower: float, upper: float, count: int, spacing: Spacing) -> Array:
    """`count` prices from `lower` to `upper` inclusive, evenly (arithmetic) or by ratio (geometric)."""
    if count < 2:
        raise GridError(f"grid.levels must be >= 2, got {count}")
    if not 0 < lower < upper:
        raise GridError(f"grid bounds must satisfy 0 < lower < upper, got lower={lower} upper={upper}")
    if spacing == "arithmetic":
        return np.linspace(lower, upper, count)
    if spacing == "geometric":
        return np.geomspace(lower, upper, count)
    raise GridError(f"grid.spacing must be 'arithmetic' or 'geometric', got {spacing!r}")


def _decimals(step: float) -> int:
    # Enough decimals to print a multiple of `step` exactly (0.01 -> 2, 0.00001 -> 5, 5 -> 0).
    return max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0


def round_to_tick(prices: Array, tick_size: float) -> Array:
    """Round prices to the nearest tick, as the exchange would accept them."""
    return np.round(np.round(np.asarray(prices) / tick_size) * tick_size, _decimals(tick_size) + 2)


def floor_to_step(quantities: Array, lot_step: float) -> Array:
    """Round quantities down to the lot step: never spend more than budgeted."""
    steps = np.floor(np.asarray(quantities) / lot_step + 1e-9)
    return np.round(steps * lot_step, _decimals(lot_step) + 2)


def exact(x: float) -> Decimal:
    """The door from the core's floats to the exchange's decimals: the value the engine means, float noise
    (0.1 + 0.2) left behind."""
    return Decimal(f"{x:.15g}")


# Closer than this (relative) to a minimum notional, a float product's verdict is taken again exactly.
_NEAR_MIN = 1e-9


def meets_min_notional(price: float, qty: float, min_notional: float) -> bool:
    """price x qty >= min_notional as the exchange judges it: exactly, on the decimals `exact` sends."""
    value = price * qty
    if abs(value - min_notional) > _NEAR_MIN * max(value, min_notional):
        return value >= min_notional
    return exact(price) * exact(qty) >= exact(min_notional)


def below_min_notional(prices: Array, qtys: Array, min_notional: float) -> NDArray[np.bool_]:
    """`meets_min_notional` over arrays, negated: numpy's verdict, taken again exactly near the minimum."""
    values = prices * qtys
    below = values < min_notional
    near = np.abs(values - min_notional) <= _NEAR_MIN * np.maximum(values, min_notional)
    for i in np.flatnonzero(near):
        below[i] = not meets_min_notional(float(prices[i]), float(qtys[i]), min_notional)
    return below


def build_levels(lower: float, upper: float, count: int, spacing: Spacing, market: Market) -> Array:
    """Levels placed and rounded to the tick; distinct after rounding or a GridError."""
    levels = round_to_tick(place_levels(lower, upper, count, spacing), market.tick_size)
    if np.any(np.diff(levels) <= 0):
        raise GridError(
            f"grid.levels={count} between {lower} and {upper} collapse onto the same ticks "
            f"(tick_size={market.tick_size}); use fewer levels or a wider range"
        )
    return levels


def min_step_ratio(levels: Array) -> float:
    """Smallest relative gap between neighbouring levels: the thinnest round trip's gross margin."""
    return float(np.min(np.diff(levels) / levels[:-1]))


def check_step_covers_fees(levels: Array, fee_rate: float) -> None:
    """A round trip pays the fee twice, the sell's on the higher price: it breaks even only when
    sell * (1 - fee) > buy * (1 + fee), i.e. step > 2 * fee / (1 - fee) (a bit more than twice the fee)."""
    step = min_step_ratio(levels)
    breakeven = 2 * fee_rate / (1 - fee_rate)
    if step <= breakeven:
        raise GridError(
            f"grid step {step:.4%} does not exceed twice the fee ({breakeven:.4%} with the sell's fee on the "
            "higher price): every round trip would lose money; widen grid bounds or use fewer grid.levels"
        )


def size_orders(levels: Array, budget_quote: float, market: Market) -> Array:
    """Base quantity per level for an equal quote budget per buy level (the top level never buys).

    Quantities are floored to the lot step; a level whose order would fall below the exchange's minimum
    notional gets 0 (no order there).
    """
    buy_levels = len(levels) - 1
    per_level = budget_quote / buy_levels
    qty = floor_to_step(np.full(len(levels), per_level) / levels, market.lot_step)
    qty[-1] = 0.0
    qty[below_min_notional(levels, qty, market.min_notional)] = 0.0
    return qty


def centred_bounds(price: float, width_pct: float) -> tuple[float, float]:
    """Bounds spanning `width_pct` percent of `price`, centred on it geometrically."""
    half = math.sqrt(1 + width_pct / 100.0)
    return price / half, price * half


def atr_bounds(price: float, atr: float, count: int, multiplier: float) -> tuple[float, float]:
    """Bounds whose arithmetic step is `multiplier` x ATR, centred on `price`."""
    half_span = multiplier * atr * (count - 1) / 2
    return max(price - half_span, price * 0.01), price + half_span


def atr_step_ratios(close: Array, atr: Array, count: int, multiplier: float, spacing: Spacing) -> Array:
    """The smallest relative step of the ATR grid `atr_bounds` gives at each close (before tick rounding)."""
    half_span = multiplier * atr * (count - 1) / 2
    lower = np.maximum(close - half_span, close * 0.01)
    upper = close + half_span
    if spacing == "geometric":
        return (upper / lower) ** (1 / (count - 1)) - 1
    return (upper - lower) / (count - 1) / lower
