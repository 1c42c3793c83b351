"""Where orders rested, for the plot: each order's price from when it was placed until it filled or was
cancelled. Bounded, so a service running for months stays flat; the plot draws these, never a grid level with
no order behind it (an idle grid, all its budget in the coin, shows as no lines)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from gridbot.core.paper import Order
from gridbot.core.portfolio import Side

MAX_SPANS = 20_000  # a plot draws no more lines (ops.plot); a live bot keeps at most ~3 MB of them

# (placed at ms, gone at ms, price, side)
Span = tuple[int, int, float, Side]


class OrderSpans:
    def __init__(self) -> None:
        self.spans: deque[Span] = deque(maxlen=MAX_SPANS)
        self.complete = True  # no span dropped: drawn, they are every order's

    def ended(self, orders: Iterable[Order], at_ms: int) -> None:
        """Orders filled or cancelled at `at_ms`."""
        before = len(self.spans)
        ended = [(o.opened_ms, at_ms, o.price, o.side) for o in orders]
        self.spans.extend(ended)
        self.complete = self.complete and before + len(ended) <= MAX_SPANS

    def until(self, resting: Iterable[Order], end_ms: int) -> list[Span]:
        """Every span, the orders still resting running to `end_ms`."""
        return [*self.spans, *((o.opened_ms, end_ms, o.price, o.side) for o in resting)]
