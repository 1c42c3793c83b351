"""The kill switches a backtest and a live bot judge alike, as pure functions: numbers in, a reason out.

The engine applies the drawdown halt candle by candle (`GridEngine`), so `gridbot backtest`, `sweep`, the
paper replay and the live trader halt on the same candle for the same reason; stop-loss and take-profit are
the engine's exits. What only the live shell can see (exchange errors, a stale price feed, the credentials,
holdings against balances) is judged in `gridbot.live.guards`: a backtest has no exchange errors nor a
clock of its own to go stale.
"""

from __future__ import annotations

# The drawdown's equity floor is searched with this much slack (relative to the base equity) and the halt
# decided by `drawdown` itself: the search may stop on a candle that does not halt, never skip one that does.
FLOOR_SLACK = 1e-9


def drawdown(equity: float, base: float, limit_pct: float | None) -> str | None:
    """The halt's reason when equity fell `limit_pct` percent or more below `base`; else None."""
    if limit_pct is None or base <= 0:
        return None
    down = (1 - equity / base) * 100
    if down < limit_pct:
        return None
    return (
        f"max drawdown: equity {equity:.2f} is {down:.1f}% below {base:.2f} "
        f"(risk.max_drawdown_pct {limit_pct:g})"
    )


def drawdown_price(
    quote: float, base_held: float, outside: float, base: float, limit_pct: float | None
) -> float:
    """A close at or below which the books (`quote`, `base_held`, fees paid `outside`) may reach the
    drawdown halt: -inf when no price can (no limit, nothing held above the floor), +inf when every price
    can (nothing held and equity already at the floor). A bound for the event search, not the decision."""
    if limit_pct is None or base <= 0:
        return float("-inf")
    floor = base * (1 - limit_pct / 100 + FLOOR_SLACK)
    if base_held <= 0:
        return float("inf") if quote - outside <= floor else float("-inf")
    return (floor - quote + outside) / base_held
