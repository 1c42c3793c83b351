"""A grid's plan checked before any order: its levels land on distinct ticks and every step pays its fees."""

from __future__ import annotations

from gridbot.core.grid import Array, GridError, build_levels, centred_bounds, check_step_covers_fees
from gridbot.core.settings import GridPlan, StrategySettings


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


def _trades_with(cfg: GridPlan, count: int, prices: tuple[float, ...]) -> bool:
    g = cfg.grid
    for price in prices:
        bounds = (g.lower, g.upper) if g.lower is not None and g.upper is not None else None
        try:
            levels = build_levels(*(bounds or centred_bounds(price, g.width_pct)), count, g.spacing,
                                  cfg.market.market())  # fmt: skip
            check_step_covers_fees(levels, cfg.market.maker_fee)
        except GridError:
            return False
    return True


def levels_that_trade(cfg: GridPlan, low: float, high: float) -> int | None:
    """The most levels, up to the configured count, whose grid lands on distinct ticks and pays its fees at
    both ends of the price range: the nearest config that would trade (None: not even two levels)."""
    return next((n for n in range(cfg.grid.levels, 1, -1) if _trades_with(cfg, n, (low, high))), None)


def tradability_problems(cfg: StrategySettings, low: float, high: float, first_low: float,
                         first_high: float) -> list[str]:  # fmt: skip
    """Why a valid config would not trade on prices [low, high] whose first candle spans
    first_low..first_high, each naming its field, its number and the nearest value that trades."""
    g, m, x = cfg.grid, cfg.market.market(), cfg.exits
    problems = []
    if g.budget_quote > cfg.start_quote:
        problems.append(
            f"grid.budget_quote ({g.budget_quote:g}) is above start_quote ({cfg.start_quote:g}): the grid "
            f"cannot spend what the bot does not start with, and returns would be measured against "
            f"start_quote; set grid.budget_quote: {cfg.start_quote:g} or start_quote: {g.budget_quote:g}"
        )
    budget = min(g.budget_quote, cfg.start_quote)
    per_order = budget / (g.levels - 1)
    if per_order < m.min_notional:
        fits = int(budget // m.min_notional) + 1
        nearest = f"grid.levels: {fits} or less, or " if fits >= 2 else ""
        problems.append(
            f"grid.budget_quote ({budget:g}) over grid.levels ({g.levels}) is {per_order:.4g} per order, "
            f"below market.min_notional ({m.min_notional:g}): no order would be placed; set {nearest}"
            f"grid.budget_quote: {m.min_notional * (g.levels - 1):g} or more"
        )
    if (
        g.range == "fixed"
        and g.lower is not None
        and g.upper is not None
        and (g.upper < low or g.lower > high)
    ):
        lo, hi = centred_bounds(first_high, g.width_pct)
        problems.append(
            f"grid.lower..grid.upper ({g.lower:g}..{g.upper:g}) is outside every price of the data "
            f"({low:g}..{high:g}): the fixed grid would never trade; set e.g. grid.lower: {lo:.6g} and "
            f"grid.upper: {hi:.6g} (grid.width_pct around the first price) or grid.range: follow"
        )
    if x.stop_loss is not None and x.stop_loss >= first_low:
        problems.append(
            f"exits.stop_loss ({x.stop_loss:g}) is at or above the first candle's low ({first_low:g}): the "
            f"bot would sell out and halt on the first candle; set it below {first_low:g}"
        )
    if x.take_profit is not None and x.take_profit <= first_high:
        problems.append(
            f"exits.take_profit ({x.take_profit:g}) is at or below the first candle's high ({first_high:g}): "
            f"the bot would sell out and halt on the first candle; set it above {first_high:g}"
        )
    if x.trigger_price is not None and not low <= x.trigger_price <= high:
        problems.append(
            f"exits.trigger_price ({x.trigger_price:g}) is outside every price of the data "
            f"({low:g}..{high:g}): no grid would ever be placed"
        )
    return problems
