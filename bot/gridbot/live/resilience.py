"""How an exchange adapter waits and when it stops asking: pure logic over an injected clock.

- `Backoff`: the delay before retry n of a read, exponential with "equal jitter" (half fixed, half random), so
  clients that failed together do not come back together, and no wait is ever near zero.
- `RetryPolicy`: how many retries and how long in total a read may take before it becomes UnavailableError.
- `CircuitBreaker`: closed -> open (a 429/418 for its Retry-After, or `failure_threshold` reads in a row that
  ran out of retries, for `cooldown_s`) -> half-open (one probe call passes) -> closed on its success, open
  again on its failure. While open, calls fail fast without touching the network.

Nothing here sleeps or reads a clock by itself: the caller passes `clock` (anything with `monotonic()`; the
`time` module in production, a fake in tests) and does the sleeping.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

BreakerState = Literal["closed", "open", "half-open"]


class Clock(Protocol):
    def monotonic(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry `attempt` (0-based): uniform in [d/2, d], d = min(cap_s, base_s * 2**attempt)."""

    base_s: float = 0.25
    cap_s: float = 8.0

    def __post_init__(self) -> None:
        if not 0 < self.base_s <= self.cap_s:
            raise ValueError(
                f"backoff: need 0 < base_s <= cap_s, got base_s={self.base_s} cap_s={self.cap_s}"
            )

    def ceiling(self, attempt: int) -> float:
        if attempt < 0:
            raise ValueError(f"backoff: attempt must be >= 0, got {attempt}")
        # 2**attempt overflows a float past ~1024: the cap is reached long before
        return self.cap_s if attempt >= 64 else min(self.cap_s, self.base_s * 2.0**attempt)

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        d = self.ceiling(attempt)
        return d / 2 + d / 2 * rand()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A read is tried at most `1 + max_retries` times and never started once `budget_s` has passed since its
    first attempt; a Retry-After longer than what is left of the budget is not waited for."""

    max_retries: int = 4
    budget_s: float = 20.0
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"retry: max_retries must be >= 0, got {self.max_retries}")
        if self.budget_s <= 0:
            raise ValueError(f"retry: budget_s must be > 0, got {self.budget_s}")

    def next_delay(
        self, attempt: int, elapsed_s: float, rand: Callable[[], float] = random.random
    ) -> float | None:
        """The wait before retry `attempt` (0-based) after `elapsed_s` spent; None: the read gives up."""
        if attempt >= self.max_retries:
            return None
        d = self.backoff.delay(attempt, rand)
        return d if elapsed_s + d <= self.budget_s else None

    def may_wait(self, wait_s: float, elapsed_s: float) -> bool:
        return elapsed_s + wait_s <= self.budget_s


class BreakerOpenError(Exception):
    """Raised by `CircuitBreaker.before_call` while open; `remaining_s` until a probe may pass."""

    def __init__(self, remaining_s: float, rate_limited: bool) -> None:
        super().__init__(f"circuit breaker open for another {remaining_s:.3f} s")
        self.remaining_s = remaining_s
        self.rate_limited = rate_limited


class CircuitBreaker:
    def __init__(
        self,
        clock: Clock,
        *,
        failure_threshold: int = 3,
        cooldown_s: float = 30.0,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"breaker: failure_threshold must be >= 1, got {failure_threshold}")
        if cooldown_s <= 0:
            raise ValueError(f"breaker: cooldown_s must be > 0, got {cooldown_s}")
        self._clock = clock
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._on_change = on_change
        self._state: BreakerState = "closed"
        self._open_until = 0.0
        self._failures = 0
        self._rate_limited = False
        self._probing = False

    @property
    def state(self) -> BreakerState:
        if self._state == "open" and self._clock.monotonic() >= self._open_until:
            self._set("half-open")
        return self._state

    def remaining_s(self) -> float:
        return max(0.0, self._open_until - self._clock.monotonic()) if self.state == "open" else 0.0

    def before_call(self) -> None:
        """Let a call through, or raise BreakerOpenError. Half-open, exactly one call (the probe) passes until
        its outcome is reported."""
        state = self.state
        if state == "open" or (state == "half-open" and self._probing):
            raise BreakerOpenError(max(self.remaining_s(), 0.0), self._rate_limited)
        if state == "half-open":
            self._probing = True

    def success(self) -> None:
        self._failures = 0
        self._probing = False
        self._rate_limited = False
        if self._state != "closed":
            self._set("closed")

    def failure(self) -> None:
        """A call that failed for the exchange's sake (its retries ran out); `failure_threshold` in a row open
        the breaker, and a failed probe opens it again at once."""
        self._failures += 1
        if self._probing or self._failures >= self.failure_threshold:
            self._open(self.cooldown_s, rate_limited=False)

    def abandon(self) -> None:
        """A call ended without an outcome the breaker can judge: a probe in flight is released, not lost."""
        self._probing = False

    def rate_limited(self, retry_after_s: float) -> None:
        """A 429/418: open for the exchange's Retry-After (at least a moment: a 0 still means back off)."""
        self._open(max(retry_after_s, 0.001), rate_limited=True)

    def _open(self, for_s: float, *, rate_limited: bool) -> None:
        self._probing = False
        self._rate_limited = rate_limited
        self._open_until = max(self._open_until, self._clock.monotonic() + for_s)
        self._set("open")

    def _set(self, state: BreakerState) -> None:
        changed = state != self._state
        self._state = state
        if changed and self._on_change is not None:
            self._on_change(state)
