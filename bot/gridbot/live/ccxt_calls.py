"""How the ccxt adapter calls the exchange: every error classified, reads retried within a budget, writes sent
once, one circuit breaker, and the metrics of each call.

Safety (docs/live-trading.md): a create or cancel is sent exactly once (ccxt's `maxRetriesOnFailure` is 0
and nothing here retries it); when its answer is lost (timeout, dropped connection, 5xx, garbled answer)
`write` raises OutcomeUnknownError and the loop looks the order up by its client id. The one exception is
InvalidNonce (Binance -1021): the exchange refused the request on its timestamp before looking at it, so after
a clock resync it is sent once more, under the same client id. Reads are retried by `resilience.RetryPolicy`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol, TypeVar

from gridbot.live.ccxt_loader import ccxt_module
from gridbot.live.quiet import IpQuiet, QuietFile
from gridbot.live.resilience import BreakerOpenError, CircuitBreaker, RetryPolicy
from gridbot.live.venue import (
    AuthFailedError,
    InsufficientFundsError,
    MarketClosedError,
    OutcomeUnknownError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
    VenueError,
)
from gridbot.live.weights import WeightMeter, weight_of
from gridbot.ops.metrics import Metrics

log = logging.getLogger(__name__)  # each request at debug: `--log-level gridbot.live.ccxt_calls=debug`
T = TypeVar("T")
USED_WEIGHT = "x-mbx-used-weight-1m"  # Binance's header: the IP's request weight used this minute

Kind = Literal[
    "not_found",
    "insufficient_funds",
    "auth",
    "rate_limited",
    "nonce",
    "transient",
    "market_closed",
    "rejected",
]


# Binance -2015 "Invalid API-key, IP, or permissions for action": ccxt raises DDoSProtection for it once the
# client has signed in before (a key revoked mid-run), AuthenticationError on a fresh client
_KEY_REFUSED = re.compile(r'"code"\s*:\s*-2015\b')
# Binance -1015 "Too many new orders": the account's unfilled-order count, which a restart does not make worse
# (only an IP that asks inside a 429's Retry-After is banned)
_ORDER_COUNT = re.compile(r'"code"\s*:\s*-1015\b')


def parse_retry_after(value: str | None, now_s: float) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    v = value.strip()
    try:
        return max(0.0, float(v))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(v).timestamp() - now_s)
    except (TypeError, ValueError, IndexError):
        return None


def _classify(e: BaseException) -> Kind:
    """Every ccxt error class the adapter can see, mapped to what the loop does about it (first match wins:
    subclasses come before their bases)."""
    x = ccxt_module("ccxt.base.errors")
    if isinstance(e, x.DDoSProtection) and _KEY_REFUSED.search(str(e)):
        return "auth"  # the key, its IP whitelist or its permissions: the operator's to fix, not a rate limit
    table: tuple[tuple[type[BaseException], Kind], ...] = (
        (x.OrderNotFound, "not_found"),
        (x.InsufficientFunds, "insufficient_funds"),
        (x.AuthenticationError, "auth"),  # PermissionDenied, AccountSuspended, AccountNotEnabled
        (x.DDoSProtection, "rate_limited"),  # Binance 418/429
        (x.RateLimitExceeded, "rate_limited"),
        (x.InvalidNonce, "nonce"),  # Binance -1021: timestamp outside recvWindow, refused unread
        (x.RequestTimeout, "transient"),
        (x.ExchangeNotAvailable, "transient"),  # 5xx, OnMaintenance
        (x.NetworkError, "transient"),  # dropped connection, refused, reset
        (x.OperationFailed, "transient"),  # BadResponse, NullResponse, CancelPending
        (x.MarketClosed, "market_closed"),  # Binance -1013 "Market is closed." (BREAK, HALT)
        (x.ExchangeError, "rejected"),  # InvalidOrder, BadRequest (min notional), BadSymbol, ...
    )
    for cls, kind in table:
        if isinstance(e, cls):
            return kind
    return "transient"  # OSError below ccxt


class VenueClock(Protocol):
    """What the adapter reads of a clock (the `time` module in production)."""

    def time(self) -> float: ...
    def monotonic(self) -> float: ...
    def sleep(self, seconds: float, /) -> None: ...


class NotFoundError(VenueError):
    """OrderNotFound inside the adapter: `order` and `cancel` answer None; elsewhere it is a rejection."""


class _FailedError(Exception):
    def __init__(self, kind: Kind, error: BaseException) -> None:
        super().__init__(kind)
        self.kind = kind
        self.error = error


class _BreakerOpenError(Exception):
    def __init__(self, remaining_s: float, rate_limited: bool) -> None:
        super().__init__(f"circuit breaker open for another {remaining_s:.3f} s")
        self.remaining_s = remaining_s
        self.rate_limited = rate_limited

    def venue_error(self, method: str) -> VenueError:
        if self.rate_limited:
            return RateLimitedError(f"{method}: held back, rate limited ({self})", self.remaining_s)
        return UnavailableError(f"{method}: held back ({self})")


class CcxtCalls:
    """The call policy over one ccxt exchange object: `read` (retried) and `write` (sent once)."""

    def __init__(
        self,
        ex: Any,  # a ccxt Exchange: ccxt ships no types
        exchange_id: str,
        *,
        metrics: Metrics | None,
        clock: VenueClock,
        retry: RetryPolicy,
        breaker_failures: int,
        breaker_cooldown_s: float,
        resync: Callable[[], None],
        quiet: QuietFile | None = None,
        meter: WeightMeter | None = None,
        ip_quiet: IpQuiet | None = None,
    ) -> None:
        self._ex = ex
        self.exchange_id = exchange_id
        self._metrics = metrics
        self._clock = clock
        self._retry = retry
        self._resync = resync
        self._breaker = CircuitBreaker(
            clock,
            failure_threshold=breaker_failures,
            cooldown_s=breaker_cooldown_s,
            on_change=self._breaker_changed,
        )
        self._quiet = quiet
        self._ip_quiet = ip_quiet
        self._meter = meter
        if quiet is not None:  # a Retry-After given to the process before this one, not yet over
            left = quiet.left(clock.time())
            if left > 0:
                self._breaker.rate_limited(left)

    def _breaker_changed(self, state: str) -> None:
        log.debug("circuit breaker %s", state)
        if self._metrics is not None:
            self._metrics.breaker_open.set(0 if state == "closed" else 1)
            if state == "open":
                self._metrics.breaker_openings.inc()

    def _attempt(self, method: str, fn: Callable[[], T]) -> T:
        """One request: breaker gate, timing, metrics. A ccxt (or socket) error comes out as _FailedError
        with its kind; anything else is a bug and propagates as is."""
        base_error = ccxt_module("ccxt.base.errors").BaseError
        self._pace(method)
        self._heed_neighbours()  # after the pacing's wait (up to a minute), right before the call
        try:
            self._breaker.before_call()
        except BreakerOpenError as e:
            self._count(method, "breaker_open")
            raise _BreakerOpenError(e.remaining_s, e.rate_limited) from None
        t0 = self._clock.monotonic()
        try:
            result = fn()
        except (base_error, OSError) as e:
            self._weighed(method)
            took = self._observe(method, t0)
            kind = _classify(e)
            log.debug("%s: %s after %.0f ms (%s: %s)", method, kind, took * 1000, type(e).__name__, e)
            self._count(method, kind)
            if self._metrics is not None:
                self._metrics.api_errors.labels(error=type(e).__name__).inc()
            if kind == "rate_limited":
                self._breaker.rate_limited(self._retry_after())
                if not _ORDER_COUNT.search(str(e)):  # the IP's limit, not the account's order count
                    now = self._clock.time()
                    for quiet in (self._quiet, self._ip_quiet):
                        if quiet is not None:
                            quiet.write(now + self._breaker.remaining_s(), now)
            elif kind in ("not_found", "rejected", "insufficient_funds", "market_closed"):
                self._breaker.success()  # the exchange answered
            else:  # a probe that failed once is not the verdict: the read's retry budget is
                self._breaker.abandon()
            raise _FailedError(kind, e) from e
        except BaseException:
            self._breaker.abandon()
            raise
        self._weighed(method)
        log.debug("%s: ok in %.0f ms", method, self._observe(method, t0) * 1000)
        self._count(method, "ok")
        self._breaker.success()
        return result

    def _heed_neighbours(self) -> None:
        """A Retry-After another bot behind this IP was given (the shared file) holds this bot's calls too:
        Binance bans the IP that asks inside it, whichever bot asks."""
        if self._ip_quiet is None:
            return
        left = self._ip_quiet.news(self._clock.time())
        if left > 0:
            log.info("a bot behind this IP was rate limited: not asking the exchange for %.1f s", left)
            self._breaker.rate_limited(left)

    def _pace(self, method: str) -> None:
        """Held back while this bot's minute or the IP's is past its share (`weights`)."""
        if self._meter is not None:
            while (wait := self._meter.hold(method, self._clock.time())) > 0:
                log.debug("%s: held back %.2f s by the request weight's budget", method, wait)
                self._clock.sleep(wait)

    def _weighed(self, method: str) -> None:
        """The call's weight counted, and the IP's as the answer reports it (`X-MBX-USED-WEIGHT-1M`)."""
        now = self._clock.time()
        headers = self._ex.last_response_headers or {}
        text = str(next((v for k, v in headers.items() if str(k).lower() == USED_WEIGHT), ""))
        used = int(text) if text.isdigit() else None
        if self._meter is not None:
            self._meter.spent(method, now)
            if used is not None:
                self._meter.reported(used, now)
        if self._metrics is not None:
            self._metrics.request_weight.labels(method=method).inc(weight_of(method))
            if used is not None:
                self._metrics.ip_weight.set(used)

    def _retry_after(self) -> float:
        headers = self._ex.last_response_headers or {}
        got = parse_retry_after(headers.get("Retry-After"), self._clock.time())
        return got if got is not None else self._retry.backoff.cap_s

    def read(self, method: str, fn: Callable[[], T]) -> T:
        start = self._clock.monotonic()
        attempt = 0
        resynced = False
        while True:
            try:
                return self._attempt(method, fn)
            except _BreakerOpenError as b:
                elapsed = self._clock.monotonic() - start
                wait = b.remaining_s or self._retry.backoff.delay(0)  # 0: another caller's probe in flight
                if not self._retry.may_wait(wait, elapsed):
                    raise b.venue_error(method) from None
                log.debug("%s: circuit breaker open, asking again in %.2f s", method, wait)
                self._clock.sleep(wait)
                continue
            except _FailedError as f:
                kind, e = f.kind, f.error
                elapsed = self._clock.monotonic() - start
                if kind == "rate_limited":
                    wait = self._breaker.remaining_s()
                    if not self._retry.may_wait(wait, elapsed):
                        raise RateLimitedError(
                            f"{method}: rate limited by {self.exchange_id}: {e}", wait
                        ) from e
                    log.debug("%s: rate limited, asking again in %.2f s", method, wait)
                    self._clock.sleep(wait)
                    continue
                if kind == "nonce" and not resynced and method != "clock":
                    resynced = True
                    self._resync()
                    continue
                if kind == "transient":
                    delay = self._retry.next_delay(attempt, elapsed)
                    if delay is None:
                        self._breaker.failure()
                        raise UnavailableError(
                            f"{method}: {self.exchange_id} unavailable after {attempt + 1} tries: {e}"
                        ) from e
                    attempt += 1
                    log.debug("%s: try %d in %.2f s", method, attempt + 1, delay)
                    self._clock.sleep(delay)
                    continue
                raise self._final(method, kind, e) from e

    def write(self, method: str, fn: Callable[[], T]) -> T:
        """Sent once. Only a refusal on the timestamp (InvalidNonce) is sent again, after a clock resync."""
        resynced = False
        while True:
            try:
                return self._attempt(method, fn)
            except _BreakerOpenError as b:
                raise b.venue_error(method) from None
            except _FailedError as f:
                kind, e = f.kind, f.error
                if kind == "nonce" and not resynced:
                    resynced = True
                    self._resync()
                    continue
                if kind == "transient":
                    raise OutcomeUnknownError(
                        f"{method}: the answer was lost ({type(e).__name__}: {e})"
                    ) from e
                if kind == "rate_limited":
                    wait = self._breaker.remaining_s()
                    raise RateLimitedError(f"{method}: rate limited by {self.exchange_id}: {e}", wait) from e
                raise self._final(method, kind, e) from e

    def _final(self, method: str, kind: Kind, e: BaseException) -> Exception:
        msg = f"{method}: {type(e).__name__}: {e}"
        if kind == "not_found":
            return NotFoundError(msg)
        if kind == "insufficient_funds":
            return InsufficientFundsError(msg)
        if kind == "auth":
            return AuthFailedError(msg)
        if kind == "market_closed":
            return MarketClosedError(msg)
        if kind == "nonce":
            return UnavailableError(f"{msg} (still after a clock resync)")
        return RejectedError(msg)

    def _count(self, method: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.api_requests.labels(method=method, outcome=outcome).inc()

    def _observe(self, method: str, t0: float) -> float:
        """The call's time (seconds), into the latency histogram."""
        took = self._clock.monotonic() - t0
        if self._metrics is not None:
            self._metrics.api_latency.labels(method=method).observe(took)
        return took
