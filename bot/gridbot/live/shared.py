"""What the trader's rooms share (`trader`, `sending`, `recovery`, `bookkeeping`): the order states that are
final, an unanswered create's lookup schedule."""

from __future__ import annotations

from dataclasses import dataclass

FINISHED = ("closed", "canceled", "rejected", "expired")
LOST_WATCH_S = 86_400.0  # an order declared lost is looked for this long (epoch seconds) after


@dataclass
class Unknown:
    """An order whose create got no answer: looked up by client id until `deadline`."""

    since: float
    next_check: float
    wait: float = 0.5
