"""Backoff, retry budget and circuit breaker: the math as properties, the state machine on a fake clock."""

from __future__ import annotations

from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridbot.live.ccxt_calls import parse_retry_after
from gridbot.live.resilience import Backoff, BreakerOpenError, CircuitBreaker, RetryPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


units = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
backoffs = st.builds(
    lambda base, factor: Backoff(base_s=base, cap_s=base * factor),
    st.floats(min_value=0.001, max_value=5.0),
    st.floats(min_value=1.0, max_value=1000.0),
)


@given(backoffs, st.integers(min_value=0, max_value=5000), units)
def test_backoff_delay_is_jittered_within_half_to_full_ceiling(b: Backoff, attempt: int, r: float) -> None:
    d = b.ceiling(attempt)
    assert d == min(b.cap_s, b.base_s * 2.0 ** min(attempt, 64))
    assert d / 2 <= b.delay(attempt, lambda: r) <= d <= b.cap_s


@given(backoffs, st.integers(min_value=0, max_value=200))
def test_backoff_ceiling_doubles_until_the_cap(b: Backoff, attempt: int) -> None:
    lo, hi = b.ceiling(attempt), b.ceiling(attempt + 1)
    assert hi == min(b.cap_s, 2 * lo) or hi == b.cap_s


@given(
    backoffs,
    st.integers(min_value=0, max_value=20),
    st.floats(min_value=0.01, max_value=100.0),
    st.lists(units, min_size=21, max_size=21),
    st.floats(min_value=0.0, max_value=5.0),
)
def test_retries_stay_within_count_and_time_budget(
    b: Backoff, retries: int, budget: float, rands: list[float], call_s: float
) -> None:
    """Simulated reads that always fail, each taking `call_s`: the policy stops within both budgets, and
    only when the next wait would break one of them."""
    p = RetryPolicy(max_retries=retries, budget_s=budget, backoff=b)
    elapsed, attempt = call_s, 0
    while (d := p.next_delay(attempt, elapsed, lambda a=attempt: rands[a])) is not None:
        assert d > 0
        elapsed += d
        assert elapsed <= budget
        attempt += 1
        elapsed += call_s
    assert attempt <= retries
    if attempt < retries:  # stopped early: the wait it would have needed did not fit
        assert elapsed + b.delay(attempt, lambda: rands[attempt]) > budget


def test_bad_parameters_are_named() -> None:
    with pytest.raises(ValueError, match="base_s"):
        Backoff(base_s=0)
    with pytest.raises(ValueError, match="cap_s"):
        Backoff(base_s=2, cap_s=1)
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="budget_s"):
        RetryPolicy(budget_s=0)
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(FakeClock(), failure_threshold=0)
    with pytest.raises(ValueError, match="attempt"):
        Backoff().ceiling(-1)


def test_breaker_rate_limit_opens_for_retry_after_then_one_probe() -> None:
    clock, seen = FakeClock(), []
    b = CircuitBreaker(clock, cooldown_s=30, on_change=seen.append)
    b.before_call()
    b.rate_limited(2.0)
    assert b.state == "open"
    with pytest.raises(BreakerOpenError) as e:
        b.before_call()
    assert e.value.remaining_s == 2.0
    assert e.value.rate_limited
    clock.now += 1.999
    assert b.state == "open"
    clock.now += 0.001
    assert b.state == "half-open"
    b.before_call()  # the probe
    with pytest.raises(BreakerOpenError):
        b.before_call()  # everyone else waits for the probe's outcome
    b.success()
    assert b.state == "closed"
    b.before_call()
    assert seen == ["open", "half-open", "closed"]


def test_breaker_opens_after_consecutive_failures_and_a_failed_probe_reopens() -> None:
    clock = FakeClock()
    b = CircuitBreaker(clock, failure_threshold=3, cooldown_s=10)
    b.failure()
    b.failure()
    b.success()  # a success in between resets the count
    b.failure()
    b.failure()
    assert b.state == "closed"
    b.failure()
    assert b.state == "open"
    with pytest.raises(BreakerOpenError) as e:
        b.before_call()
    assert not e.value.rate_limited
    clock.now += 10
    b.before_call()
    b.failure()  # the probe failed: open again at once, for a full cooldown
    assert b.state == "open"
    assert b.remaining_s() == 10


def test_an_abandoned_probe_lets_the_next_call_probe() -> None:
    clock = FakeClock()
    b = CircuitBreaker(clock)
    b.rate_limited(1)
    clock.now += 1
    b.before_call()
    b.abandon()  # the probe ended in neither success nor failure (a bug, an interrupt)
    b.before_call()
    b.success()
    assert b.state == "closed"


def test_a_shorter_retry_after_never_shortens_an_open_breaker() -> None:
    clock = FakeClock()
    b = CircuitBreaker(clock)
    b.rate_limited(30)
    b.rate_limited(1)
    assert b.remaining_s() == 30


events = st.lists(
    st.one_of(
        st.tuples(st.just("call"), st.just(0.0)),
        st.tuples(st.just("ok"), st.just(0.0)),
        st.tuples(st.just("fail"), st.just(0.0)),
        st.tuples(st.just("limit"), st.floats(min_value=0, max_value=60)),
        st.tuples(st.just("wait"), st.floats(min_value=0, max_value=60)),
    ),
    max_size=60,
)


@given(events)
def test_breaker_invariants(seq: list[tuple[str, float]]) -> None:
    """Whatever happens: the gauge callback always agrees with the state, an open breaker lets nothing
    through, and it never stays open past the longest wait it was given."""
    clock, changes = FakeClock(), ["closed"]
    b = CircuitBreaker(clock, failure_threshold=2, cooldown_s=5, on_change=changes.append)
    longest_until = clock.now
    for kind, x in seq:
        if kind == "call":
            state = b.state
            try:
                b.before_call()
                assert state != "open"
            except BreakerOpenError:
                assert state in ("open", "half-open")
        elif kind == "ok":
            b.success()
        elif kind == "fail":
            b.failure()
            longest_until = max(longest_until, clock.now + 5)
        elif kind == "limit":
            b.rate_limited(x)
            longest_until = max(longest_until, clock.now + max(x, 0.001))
        else:
            clock.now += x
        state = b.state
        assert changes[-1] == state
        if clock.now >= longest_until:
            assert b.state != "open"


def test_retry_after_header_forms() -> None:
    assert parse_retry_after("2", 0) == 2.0
    assert parse_retry_after(" 0.5 ", 0) == 0.5
    assert parse_retry_after("-3", 0) == 0.0
    assert parse_retry_after(None, 0) is None
    assert parse_retry_after("soon", 0) is None
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now + 7, usegmt=True), now) == 7.0
    assert parse_retry_after(formatdate(now - 7, usegmt=True), now) == 0.0
