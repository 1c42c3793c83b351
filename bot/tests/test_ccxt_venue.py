"""CcxtVenue against a real gridbot-exchange process on 127.0.0.1 (speed 0: the tests step the market clock),
every fault of the exchange injected at the adapter level and judged from the exchange's admin API."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from gridbot_exchange.fixtures import exchange_fixtures
from gridbot_exchange.testing import Admin, start
from hypothesis import given
from hypothesis import strategies as st

from gridbot.live.ccxt_loader import exchange_class, rebase_urls
from gridbot.live.ccxt_venue import CcxtVenue, _text
from gridbot.live.credentials import read_credentials
from gridbot.live.quiet import IpQuiet
from gridbot.live.resilience import Backoff, RetryPolicy
from gridbot.live.venue import (
    AuthFailedError,
    InsufficientFundsError,
    OutcomeUnknownError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
)
from gridbot.ops.metrics import Metrics

KEY, SECRET = "bot-1", "s3cret-value-1"
SYMBOL = "BTC/USDT"
FAST = RetryPolicy(max_retries=3, budget_s=3.0, backoff=Backoff(base_s=0.02, cap_s=0.1))


base_url, admin = exchange_fixtures(
    "--start-candle", "101", "--account", f"{KEY}:{SECRET}", "--balance", "USDT=10000", "--balance", "BTC=1"
)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


def make(base_url: str, metrics: Metrics | None = None, **kw: object) -> CcxtVenue:
    args: dict[str, object] = {
        "api_key": KEY, "secret": SECRET, "timeout_s": 2.0, "retry": FAST, "throttle": False,
    }  # fmt: skip
    v = CcxtVenue("binance", SYMBOL, api_url=base_url, metrics=metrics, **{**args, **kw})  # type: ignore[arg-type]
    v.load_market(SYMBOL)
    return v


@pytest.fixture
def venue(base_url: str, admin: Admin, metrics: Metrics) -> CcxtVenue:  # noqa: ARG001 (admin: reset first)
    return make(base_url, metrics)


def sample(m: Metrics, name: str, **labels: str) -> float:
    return m.registry.get_sample_value(name, labels) or 0.0


def ours(admin: Admin) -> list[dict]:
    return admin.call("GET", f"orders?key={KEY}")  # type: ignore[return-value]


def last_price(admin: Admin) -> Decimal:
    return Decimal(admin.call("GET", "state")["last_price"])  # type: ignore[index]


# -- market data ---------------------------------------------------------------------------------------------


def test_market_rules_come_from_the_exchange() -> None:
    proc, url = start(
        "--speed", "0", "--account", f"{KEY}:{SECRET}", "--tick", "0.5", "--step", "0.001",
        "--min-notional", "12", "--maker-fee", "0.0002", "--taker-fee", "0.0007", "--balance", "USDT=1000",
    )  # fmt: skip
    try:
        keyed = make(url)
        keyless = CcxtVenue("binance", SYMBOL, api_url=url)
        for rules in (keyed.load_market(SYMBOL), keyless.load_market(SYMBOL)):
            assert (rules.base, rules.quote) == ("BTC", "USDT")
            assert (rules.tick_size, rules.lot_step, rules.min_notional) == (
                Decimal("0.5"),
                Decimal("0.001"),
                Decimal("12"),
            )
        # the account's own commission, read from /api/v3/account (keyless: ccxt's Binance default)
        assert (keyed.load_market(SYMBOL).maker_fee, keyed.load_market(SYMBOL).taker_fee) == (
            Decimal("0.0002"),
            Decimal("0.0007"),
        )
        # amounts go out as exact text on this market's grid; the exchange (it checks the grid) stored them
        keyed.create_limit("buy", Decimal("40000.50"), Decimal("0.0030"), "gb-p-1")
        assert "quantity=0.003&price=40000.5&" in keyed._ex.last_request_body
        [row] = Admin(url).call("GET", "orders")  # type: ignore[misc]
        assert (row["price"], row["origQty"]) == ("40000.50000000", "0.00300000")
        with pytest.raises(RejectedError, match="tick"):
            keyed.create_limit("buy", Decimal("40000.25"), Decimal("0.003"), "gb-p-2")
        with pytest.raises(RejectedError, match="NOTIONAL"):
            keyed.create_limit("buy", Decimal("3000"), Decimal("0.003"), "gb-p-3")  # 9 < 12 USDT
        with pytest.raises(RejectedError, match="ETH/USDT"):
            CcxtVenue("binance", "ETH/USDT", api_url=url).load_market("ETH/USDT")
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_closed_candles_never_include_the_forming_one(base_url: str, admin: Admin) -> None:
    v = CcxtVenue("binance", SYMBOL, api_url=base_url)  # keyless: paper mode on the exchange's candles
    v.load_market(SYMBOL)
    step = 300_000  # the embedded data is 5m
    for _ in range(2):
        market_ms = admin.call("GET", "state")["market_ms"]  # type: ignore[index]
        latest = v.closed_candles("5m", None, 3)
        assert len(latest) == 3
        assert [c.time_ms for c in latest] == [latest[0].time_ms + i * step for i in range(3)]
        # the newest returned candle has closed by market time; the one after it is the forming one
        assert latest[-1].time_ms + step <= market_ms < latest[-1].time_ms + 2 * step
        admin.step(candles=1)
    since = latest[0].time_ms - 10 * step
    page = v.closed_candles("5m", since, 4)
    assert [c.time_ms for c in page] == [since + i * step for i in range(4)]
    assert all(c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high for c in page)
    # from a recent since, only what has closed: fewer than asked
    tail = v.closed_candles("5m", latest[-1].time_ms, 10)
    assert [c.time_ms for c in tail] == [latest[-1].time_ms, latest[-1].time_ms + step]
    with pytest.raises(ValueError, match=r"run\.timeframe: '7m'"):
        v.closed_candles("7m", None, 3)
    with pytest.raises(AuthFailedError):
        v.balances()  # keyless: private calls are refused by name, not sent


# -- orders --------------------------------------------------------------------------------------------------


def test_order_lifecycle_by_client_id(venue: CcxtVenue, admin: Admin, metrics: Metrics) -> None:
    price = last_price(admin) - Decimal("1000.01")
    o = venue.create_limit("buy", price, Decimal("0.00123"), "gb-1-b-1")
    assert (o.client_id, o.side, o.price, o.qty, o.filled, o.status) == (
        "gb-1-b-1", "buy", price, Decimal("0.00123"), 0, "open",
    )  # fmt: skip
    [row] = ours(admin)
    # sent as exact text at the market's precision, judged by what the exchange stored
    assert (row["clientOrderId"], Decimal(row["price"]), Decimal(row["origQty"])) == (
        "gb-1-b-1", price, Decimal("0.00123"),
    )  # fmt: skip
    assert venue.order("gb-1-b-1") == o
    assert venue.order("gb-1-b-404") is None
    assert [x.client_id for x in venue.open_orders()] == ["gb-1-b-1"]
    with pytest.raises(RejectedError, match="Duplicate"):
        venue.create_limit("buy", price, Decimal("0.00123"), "gb-1-b-1")
    cancelled = venue.cancel("gb-1-b-1")
    assert cancelled is not None
    assert cancelled.status == "canceled"
    assert venue.cancel("gb-1-b-1") is None
    assert venue.open_orders() == []
    assert admin.call("GET", "duplicates")["duplicate_client_ids"] == {}  # type: ignore[index]
    assert sample(metrics, "gridbot_api_requests_total", method="create_limit", outcome="ok") == 1
    assert sample(metrics, "gridbot_api_requests_total", method="cancel", outcome="not_found") == 1
    assert sample(metrics, "gridbot_api_request_seconds_count", method="create_limit") == 2
    assert 0 < sample(metrics, "gridbot_api_request_seconds_sum", method="create_limit") < 2


def test_a_cancel_answer_names_the_order_by_its_own_client_id(base_url: str, admin: Admin) -> None:
    """Binance answers a cancel with the cancel's own clientOrderId and the order's in origClientOrderId:
    the adapter reads the order's, so a trade naming the order by its exchange id maps to our client id."""
    placer, canceller = make(base_url), make(base_url)  # the canceller has seen no answer naming the order
    placed = placer.create_limit("buy", last_price(admin) - Decimal(500), Decimal("0.002"), "gb-o-1")
    cancelled = canceller.cancel("gb-o-1")
    assert cancelled is not None
    [row] = ours(admin)
    assert (cancelled.client_id, cancelled.exchange_id, cancelled.status) == (
        "gb-o-1", placed.exchange_id, "canceled",
    )  # fmt: skip
    assert row["clientOrderId"] == "gb-o-1"
    trade = {"id": 1, "order": placed.exchange_id, "side": "buy", "price": "1", "amount": "1", "timestamp": 1}
    assert canceller._trade(trade).client_id == "gb-o-1"


def test_off_grid_amounts_are_refused_before_sending(venue: CcxtVenue, admin: Admin) -> None:
    with pytest.raises(RejectedError, match="tick"):
        venue.create_limit("buy", Decimal("50000.005"), Decimal("0.001"), "gb-x-1")
    with pytest.raises(RejectedError, match="lot step"):
        venue.create_limit("buy", Decimal("50000"), Decimal("0.000015"), "gb-x-2")
    with pytest.raises(RejectedError, match="tick"):
        venue.create_limit("buy", Decimal("-1"), Decimal("0.001"), "gb-x-3")
    assert ours(admin) == []


def test_exchange_refusals(venue: CcxtVenue, admin: Admin, metrics: Metrics) -> None:
    with pytest.raises(InsufficientFundsError):
        venue.create_limit("buy", Decimal("50000"), Decimal("5"), "gb-f-1")  # 250 000 USDT of 10 000
    with pytest.raises(InsufficientFundsError):
        venue.create_limit("sell", Decimal("90000"), Decimal("2"), "gb-f-2")  # 2 BTC of 1
    with pytest.raises(RejectedError, match="NOTIONAL") as e:
        venue.create_limit("buy", Decimal("50000"), Decimal("0.00001"), "gb-f-3")  # 0.5 USDT < 5
    assert not isinstance(e.value, InsufficientFundsError)
    assert [o["status"] for o in ours(admin)] == []
    assert sample(metrics, "gridbot_api_errors_total", error="InsufficientFunds") == 2
    assert sample(metrics, "gridbot_api_errors_total", error="BadRequest") == 1
    assert sample(metrics, "gridbot_api_requests_total", method="create_limit", outcome="rejected") == 1
    assert sample(metrics, "gridbot_breaker_open") == 0  # refusals are answers, not outages


def test_trades_since_pages_every_page_oldest_first(base_url: str, admin: Admin) -> None:
    v = make(base_url, page_limit=2)
    px = last_price(admin)
    cids = [f"gb-t-{i}" for i in range(5)]
    for i, cid in enumerate(cids):  # crossing buys fill at once, one trade each
        v.create_limit("buy", px + 100 + i, Decimal("0.001"), cid)
    truth = admin.call("GET", f"trades?key={KEY}")
    assert len(truth) == 5  # type: ignore[arg-type]
    got = v.trades_since(None, None)
    assert [t.trade_id for t in got] == [str(t["id"]) for t in truth]  # type: ignore[index, union-attr]
    assert [t.client_id for t in got] == cids
    assert all(t.side == "buy" and t.qty == Decimal("0.001") and t.fee_currency == "BTC" for t in got)
    assert [t.fee for t in got] == [Decimal("0.000001")] * 5  # taker 0.1% of the base bought
    after = v.trades_since(got[1].trade_id, None)
    assert [t.trade_id for t in after] == [t.trade_id for t in got[2:]]
    assert v.trades_since(got[-1].trade_id, None) == []
    since = v.trades_since(None, got[0].time_ms)
    assert [t.trade_id for t in since] == [t.trade_id for t in got]
    assert v.trades_since(None, got[0].time_ms + 1) == []


def test_trades_since_a_time_finds_trades_days_later(base_url: str, admin: Admin) -> None:
    """Binance answers a startTime for 24 hours only: a first quiet day must not hide later trades."""
    v = make(base_url, page_limit=2)
    v.create_limit("buy", last_price(admin) + 100, Decimal("0.001"), "gb-w-0")
    [first] = v.trades_since(None, None)
    admin.step(candles=12 * 60)  # 60 hours of 5m candles later
    px = last_price(admin)
    for i in range(3):
        v.create_limit("buy", px + 100, Decimal("0.001"), f"gb-w-{i + 1}")
    later = v.trades_since(None, first.time_ms + 1)
    assert [t.client_id for t in later] == ["gb-w-1", "gb-w-2", "gb-w-3"]
    assert later[0].time_ms - first.time_ms >= 60 * 3_600_000
    assert [t.trade_id for t in v.trades_since(None, first.time_ms)] == [first.trade_id] + [
        t.trade_id for t in later
    ]


def test_balances_follow_the_exchange(venue: CcxtVenue, admin: Admin) -> None:
    venue.create_limit("buy", Decimal("50000"), Decimal("0.01"), "gb-b-1")
    b = venue.balances()
    assert (b["USDT"].free, b["USDT"].locked, b["USDT"].total) == (
        Decimal("9500"), Decimal("500"), Decimal("10000"),
    )  # fmt: skip
    assert b["BTC"].total == 1
    acct = admin.call("GET", "balances")["accounts"][KEY]  # type: ignore[index]
    assert Decimal(acct["USDT"]["free"]) == b["USDT"].free


# -- faults --------------------------------------------------------------------------------------------------


def test_create_dropped_after_accept_is_unknown_and_placed_once(venue: CcxtVenue, admin: Admin) -> None:
    admin.fault(kind="drop", path="/api/v3/order", method="POST", count=1)
    with pytest.raises(OutcomeUnknownError):
        venue.create_limit("buy", Decimal("50000"), Decimal("0.001"), "gb-d-1")
    assert [o["clientOrderId"] for o in ours(admin)] == ["gb-d-1"]  # booked once, never re-sent
    found = venue.order("gb-d-1")
    assert found is not None
    assert found.status == "open"
    dup = admin.call("GET", "duplicates")
    assert dup["duplicate_client_ids"] == {}  # type: ignore[index]
    assert dup["duplicate_rejects"] == 0  # type: ignore[index]


def test_cancel_dropped_after_accept_is_unknown_then_seen_cancelled(venue: CcxtVenue, admin: Admin) -> None:
    venue.create_limit("buy", Decimal("50000"), Decimal("0.001"), "gb-c-1")
    admin.fault(kind="drop", path="/api/v3/order", method="DELETE", count=1)
    with pytest.raises(OutcomeUnknownError):
        venue.cancel("gb-c-1")
    found = venue.order("gb-c-1")
    assert found is not None
    assert found.status == "canceled"
    assert [o["status"] for o in ours(admin)] == ["CANCELED"]


def test_create_lost_to_5xx_or_hang_is_unknown_never_retried(base_url: str, admin: Admin) -> None:
    v = make(base_url, timeout_s=0.5)
    admin.fault(kind="status", status=502, path="/api/v3/order", method="POST", count=1)
    with pytest.raises(OutcomeUnknownError):
        v.create_limit("buy", Decimal("50000"), Decimal("0.001"), "gb-u-1")
    admin.fault(kind="hang", seconds=1, path="/api/v3/order", method="POST", count=1)
    with pytest.raises(OutcomeUnknownError):
        v.create_limit("buy", Decimal("50000"), Decimal("0.001"), "gb-u-2")
    # the faults hit one request each: a retry would have placed the order
    assert admin.call("GET", "state")["orders_placed"] == 0  # type: ignore[index]


def test_invisible_order_is_unknown_then_found(venue: CcxtVenue, admin: Admin) -> None:
    admin.fault(kind="invisible", seconds=1.0)
    o = venue.create_limit("buy", Decimal("50000"), Decimal("0.001"), "gb-i-1")
    admin.call("DELETE", "faults")
    t0 = time.monotonic()
    assert venue.order("gb-i-1") is None
    assert venue.open_orders() == []
    seen = None
    while seen is None and time.monotonic() - t0 < 5:
        time.sleep(0.1)
        seen = venue.order("gb-i-1")
    assert seen is not None
    assert (seen.exchange_id, seen.status) == (o.exchange_id, "open")
    assert 0.7 < time.monotonic() - t0 < 2.5
    assert len(ours(admin)) == 1


def test_rate_limit_honours_retry_after_and_trips_the_breaker(
    venue: CcxtVenue, admin: Admin, metrics: Metrics
) -> None:
    admin.fault(kind="status", status=429, retry_after=1, path="/api/v3/order", method="POST", count=1)
    with pytest.raises(RateLimitedError) as e:
        venue.create_limit("buy", Decimal("50000"), Decimal("0.001"), "gb-r-1")
    assert 0.8 < e.value.retry_after <= 1.0
    assert sample(metrics, "gridbot_breaker_open") == 1
    # open: the next call is held back without reaching the exchange
    with pytest.raises(RateLimitedError):
        venue.create_limit("buy", Decimal("50000"), Decimal("0.001"), "gb-r-2")
    assert sample(metrics, "gridbot_api_requests_total", method="create_limit", outcome="breaker_open") == 1
    assert ours(admin) == []
    # a read waits out the Retry-After, probes (half-open) and closes the breaker
    t0 = time.monotonic()
    assert venue.open_orders() == []
    waited = time.monotonic() - t0
    assert 0.7 < waited < 2.0
    assert sample(metrics, "gridbot_breaker_open") == 0
    venue.create_limit("buy", Decimal("50000"), Decimal("0.001"), "gb-r-3")
    assert [o["clientOrderId"] for o in ours(admin)] == ["gb-r-3"]
    assert sample(metrics, "gridbot_api_errors_total", error="DDoSProtection") == 1


def test_a_retry_after_given_to_one_bot_holds_back_the_other_bots_behind_its_ip(
    base_url: str, admin: Admin, tmp_path: Path
) -> None:
    """Two bots, one IP, one shared quiet directory: the 429 one is given holds the other's order back
    without reaching the exchange (Binance would ban the IP for it), and the other's read waits it out."""
    one, other = (make(base_url, ip_quiet=IpQuiet(tmp_path, bot)) for bot in ("pi5", "pi5-wide"))
    admin.fault(kind="status", status=429, retry_after=3, path="/api/v3/order", method="POST", count=1)
    with pytest.raises(RateLimitedError):
        one.create_limit("buy", Decimal("50000"), Decimal("0.001"), "gb-s-1")
    told = time.monotonic()
    with pytest.raises(RateLimitedError) as e:
        other.create_limit("buy", Decimal("50000"), Decimal("0.001"), "gb-s-2")
    assert 2.0 < e.value.retry_after <= 3.0
    assert ours(admin) == []
    assert other.open_orders() == []
    assert time.monotonic() - told >= e.value.retry_after - 0.1, "the read waited the neighbour's wait out"
    other.create_limit("buy", Decimal("50000"), Decimal("0.001"), "gb-s-3")
    assert [o["clientOrderId"] for o in ours(admin)] == ["gb-s-3"]
    alone = make(base_url)  # a bot that shares no directory is not held back
    admin.fault(kind="status", status=429, retry_after=3, path="/api/v3/order", method="POST", count=1)
    with pytest.raises(RateLimitedError):
        one.create_limit("buy", Decimal("50000"), Decimal("0.001"), "gb-s-4")
    alone.create_limit("buy", Decimal("50000"), Decimal("0.001"), "gb-s-5")
    assert [o["clientOrderId"] for o in ours(admin)] == ["gb-s-3", "gb-s-5"]


def test_read_rate_limited_beyond_budget_gives_up_at_once(venue: CcxtVenue, admin: Admin) -> None:
    admin.fault(kind="status", status=418, retry_after=30, path="/api/v3/openOrders", count=1)
    t0 = time.monotonic()
    with pytest.raises(RateLimitedError) as e:
        venue.open_orders()
    assert time.monotonic() - t0 < 10  # not the 30 s asked: a loaded CI host stretches a quick answer
    assert 29 < e.value.retry_after <= 30


@pytest.mark.parametrize("fault", [{"kind": "status", "status": 503}, {"kind": "maintenance"}])
def test_5xx_reads_retried_then_unavailable(
    venue: CcxtVenue, admin: Admin, metrics: Metrics, fault: dict
) -> None:
    admin.fault(**fault, path="/api/v3/openOrders", count=2)
    assert venue.open_orders() == []  # two failures, retried, third try answers
    assert sample(metrics, "gridbot_api_requests_total", method="open_orders", outcome="transient") == 2
    assert sample(metrics, "gridbot_api_requests_total", method="open_orders", outcome="ok") == 1
    admin.fault(**fault, path="/api/v3/openOrders")
    t0 = time.monotonic()
    with pytest.raises(UnavailableError, match="after 4 tries"):
        venue.open_orders()
    assert time.monotonic() - t0 < FAST.budget_s
    assert sample(metrics, "gridbot_api_requests_total", method="open_orders", outcome="transient") == 6
    name = "ExchangeNotAvailable" if fault["kind"] == "status" else "OnMaintenance"
    assert sample(metrics, "gridbot_api_errors_total", error=name) == 6


def test_hanging_reads_time_out_retried_then_unavailable(
    base_url: str, admin: Admin, metrics: Metrics
) -> None:
    retry = RetryPolicy(max_retries=1, budget_s=3.0, backoff=Backoff(base_s=0.02, cap_s=0.05))
    v = make(base_url, metrics, timeout_s=0.3, retry=retry)
    admin.fault(kind="hang", seconds=0.5, path="/api/v3/openOrders", count=1)
    assert v.open_orders() == []
    admin.fault(kind="hang", seconds=0.5, path="/api/v3/openOrders", count=2)
    t0 = time.monotonic()
    with pytest.raises(UnavailableError):
        v.open_orders()
    assert 0.6 < time.monotonic() - t0 < 2.5  # two tries of 0.3 s and a backoff
    assert sample(metrics, "gridbot_api_errors_total", error="RequestTimeout") == 3


def test_repeated_outages_open_the_breaker_then_a_probe_closes_it(
    base_url: str, admin: Admin, metrics: Metrics
) -> None:
    retry = RetryPolicy(max_retries=0, budget_s=2.0, backoff=Backoff(base_s=0.02, cap_s=0.05))
    v = make(base_url, metrics, retry=retry, breaker_failures=2, breaker_cooldown_s=0.5)
    admin.fault(kind="status", status=500, path="/api/v3/openOrders")
    for _ in range(2):
        with pytest.raises(UnavailableError):
            v.open_orders()
    assert sample(metrics, "gridbot_breaker_open") == 1
    with pytest.raises(UnavailableError, match="held back"):
        v.create_limit("buy", Decimal("50000"), Decimal("0.001"), "gb-o-1")
    admin.call("DELETE", "faults")
    t0 = time.monotonic()
    assert v.open_orders() == []  # waits out the cooldown inside its budget, then the probe succeeds
    assert 0.3 < time.monotonic() - t0 < 2.5
    assert sample(metrics, "gridbot_breaker_open") == 0
    assert ours(admin) == []


def test_a_probe_that_fails_once_is_retried_not_looped(base_url: str, admin: Admin, metrics: Metrics) -> None:
    retry = RetryPolicy(max_retries=2, budget_s=2.0, backoff=Backoff(base_s=0.05, cap_s=0.1))
    v = make(base_url, metrics, retry=retry, breaker_failures=1, breaker_cooldown_s=0.3)
    admin.fault(kind="status", status=500, path="/api/v3/openOrders", count=3)
    with pytest.raises(UnavailableError, match="after 3 tries"):
        v.open_orders()
    opened = time.monotonic()  # the cooldown runs from the failure that opened the breaker, just before
    assert sample(metrics, "gridbot_breaker_open") == 1
    admin.fault(kind="status", status=500, path="/api/v3/openOrders", count=1)
    assert v.open_orders() == []  # cooldown, a probe that fails, a backoff, a probe that answers
    assert 0.3 < time.monotonic() - opened < 2.5
    assert sample(metrics, "gridbot_breaker_open") == 0
    assert sample(metrics, "gridbot_api_requests_total", method="open_orders", outcome="transient") == 4
    assert sample(metrics, "gridbot_api_requests_total", method="open_orders", outcome="ok") == 1


@pytest.mark.parametrize("skew_ms", [15_000, -5_000])
def test_clock_skew_resyncs_once_then_succeeds(
    venue: CcxtVenue, admin: Admin, metrics: Metrics, skew_ms: int
) -> None:
    assert abs(venue.clock_skew_ms()) < 1000
    admin.fault(kind="skew", ms=skew_ms)
    o = venue.create_limit("buy", Decimal("50000"), Decimal("0.001"), "gb-s-1")
    assert o.status == "open"
    assert abs(venue.clock_skew_ms() - skew_ms) < 1000
    assert abs(sample(metrics, "gridbot_clock_skew_seconds") - skew_ms / 1000) < 1
    assert sample(metrics, "gridbot_api_errors_total", error="InvalidNonce") == 1
    assert [x["clientOrderId"] for x in ours(admin)] == ["gb-s-1"]
    assert venue.balances()["USDT"].locked == Decimal("50")  # reads sign with the corrected clock too


@pytest.mark.parametrize(("key", "secret"), [("nobody", SECRET), (KEY, "wrong-secret-xyz")])
def test_bad_credentials_are_auth_failures(base_url: str, admin: Admin, key: str, secret: str) -> None:  # noqa: ARG001
    v = CcxtVenue("binance", SYMBOL, api_url=base_url, api_key=key, secret=secret, retry=FAST)
    with pytest.raises(AuthFailedError) as e:
        v.load_market(SYMBOL)  # the account's fees are read at start: bad keys show at once
    assert secret not in str(e.value)
    assert secret not in repr(v)


# -- construction, import, credentials -----------------------------------------------------------------------


def test_unknown_exchange_names_the_field() -> None:
    for bad in ("nosuchexchange", "base", "Binance", "../x", ""):
        with pytest.raises(ValueError, match=r"exchange\.id"):
            exchange_class(bad)
    with pytest.raises(ValueError, match=r"'nosuchexchange' \(this installation's ccxt has \d+ exchanges\)"):
        exchange_class("nosuchexchange")
    with pytest.raises(ValueError, match="secret"):
        CcxtVenue("binance", SYMBOL, api_key="k")
    with pytest.raises(
        ValueError, match=r"exchange\.id: live trading supports binance, binanceus, not 'kraken'"
    ):
        CcxtVenue("kraken", SYMBOL, api_key="k", secret="s")
    assert CcxtVenue("kraken", SYMBOL).keyed is False  # candles and rules: any exchange
    with pytest.raises(ValueError, match=r"api_url"):
        CcxtVenue("binance", SYMBOL, api_url="127.0.0.1:9")


def test_api_url_replaces_every_host_and_keeps_paths() -> None:
    api = {
        "public": "https://api.binance.com/api/v3",
        "sapi": "https://api.binance.com/sapi/v1",
        "nested": {"fapi": "https://fapi.binance.com/fapi/v1"},
    }
    assert rebase_urls(api, "http://127.0.0.1:8900/") == {
        "public": "http://127.0.0.1:8900/api/v3",
        "sapi": "http://127.0.0.1:8900/sapi/v1",
        "nested": {"fapi": "http://127.0.0.1:8900/fapi/v1"},
    }
    v = CcxtVenue("binance", SYMBOL, api_url="http://127.0.0.1:8900/prefix")
    assert v._ex.urls["api"]["public"] == "http://127.0.0.1:8900/prefix/api/v3"
    assert all(u.startswith("http://127.0.0.1:8900/prefix/") for u in v._ex.urls["api"].values())
    sandboxed = CcxtVenue("binance", SYMBOL, sandbox=True)
    assert "testnet" in sandboxed._ex.urls["api"]["public"]


def test_only_the_configured_exchange_is_imported() -> None:
    code = (
        "import sys\n"
        "from gridbot.live.ccxt_venue import CcxtVenue\n"
        "CcxtVenue('binance', 'BTC/USDT')\n"
        "mods = sorted(m for m in sys.modules if m.startswith('ccxt.') and not m.startswith('ccxt.base')"
        " and not m.startswith('ccxt.static_dependencies'))\n"
        "print(mods)\n"
        "import ccxt\n"  # other code in the process still gets the whole library on demand
        "print(ccxt.binance.__name__, ccxt.kraken.__name__, len(ccxt.exchanges) > 100)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    mods, whole = out.stdout.splitlines()
    assert mods == "['ccxt.abstract', 'ccxt.abstract.binance', 'ccxt.binance']"
    assert whole == "binance kraken True"


@given(st.decimals(allow_nan=False, allow_infinity=False, places=8, min_value=0, max_value=10**9))
def test_amount_text_is_exact_and_plain(d: Decimal) -> None:
    text = _text(d)
    assert Decimal(text) == d
    assert "E" not in text.upper()
    assert text == "0" or (not text.endswith(".") and not (("." in text) and text.endswith("0")))


def test_read_credentials(tmp_path: Path) -> None:
    f = tmp_path / "exchange.env"
    f.write_text("# written by the role\nGRIDBOT_API_KEY=abc\n\nGRIDBOT_API_SECRET= hunter2=x \n")
    assert read_credentials(f) == ("abc", "hunter2=x")
    cases = {
        "GRIDBOT_API_KEY=abc\n": "GRIDBOT_API_SECRET is missing",
        "GRIDBOT_API_KEY=abc\nGRIDBOT_API_SECRET=\n": "GRIDBOT_API_SECRET is empty",
        "GRIDBOT_API_SECRET=hunter2\n": "GRIDBOT_API_KEY is missing",
        "GRIDBOT_API_KEY=abc\nGRIDBOT_API_SECRET hunter2\n": "line 2 is not NAME=value",
        "GRIDBOT_API_KEY=abc\nGRIDBOT_API_SECRET=hunter2\nGRIDBOT_API_SECRET=hunter2\n": "set twice",
    }
    for text, msg in cases.items():
        f.write_text(text)
        with pytest.raises(ValueError, match=msg) as e:
            read_credentials(f)
        assert str(f) in str(e.value)
        assert "hunter2" not in str(e.value)
        assert "hunter2" not in repr(e.value)
        assert e.value.__cause__ is None
        assert e.value.__context__ is None or "hunter2" not in str(e.value.__context__)
    with pytest.raises(ValueError, match="cannot read") as e:
        read_credentials(tmp_path / "absent")
    assert "absent" in str(e.value)
