"""A grid's plan checked before any order: its levels land on distinct ticks and every step pays its fees."""

from __future__ import annotations

from gridbot.core.grid import Array, GridError, build_levels, centred_bounds, check_step_covers_fees
from gridbot.core.settings import GridPlan


def check_grid(cfg: GridPlan, lower: float, upper: float) -> Array:
    """The grid's levels between these bounds; GridError unless they land on distinct ticks and every step
    pays twice the fee."""
    levels = build_levels(lower, upper, cfg.grid.levels, cfg.grid.spacing, cfg.market.market())
    check_step_covers_fees(levels, cfg.market.maker_fee)
    return levels


def grid_problems_at(cfg: GridPlan, low: float, high: float) -> list[str]:
    """Why the configured grid cannot be built somewhere in the price range [low, high] (empty: it can).

    A centred grid is judged at both ends of the range (the tick hurts most at the low end). ATR-spaced grids
    depend on volatility: the engine checks each one it builds and skips those that cannot pay their fees.
    """
    g = cfg.grid
    if g.lower is not None and g.upper is not None:
        return []  # fixed bounds were judged when the config was parsed
    problems = []
    for price in sorted({low, high}):
        try:
            check_grid(cfg, *centred_bounds(price, g.width_pct))
        except GridError as exc:
            problems.append(f"at price {price:g}: {exc}")
    return problems
