"""Outages and errors: an unavailable exchange is waited out and never halts; a bot that is wrong does.

Real `gridbot run` processes against the local exchange (the harness of test_trader), judged from the
exchange's admin API; the classification itself as a pure function, exhaustively."""

import time
from decimal import Decimal

import pytest
from test_trader import KEY, SECRET, Bot, Exchange, drive, drive_until_halted, judge_against_the_exchange

from gridbot.live import guards, venue
from gridbot.live.ccxt_venue import CcxtVenue

OUTAGES = {
    "503 storm": {"kind": "status", "status": 503},
    "timeouts": {"kind": "hang", "seconds": 1.0},
    "429 storm": {"kind": "status", "status": 429, "retry_after": 1},
}


def _bot(tmp_path, ex: Exchange, make, cycle: float, **extra: object) -> Bot:
    """Short timeouts, retries and breaker: a fault window of seconds is a whole outage to the loop."""
    venue = {"api_url": ex.base, "credentials_file": str(tmp_path / "cred"), "throttle": False,
             "timeout_s": 0.5, "retry_budget_s": 1, "breaker_cooldown_s": 1}  # fmt: skip
    return make(tmp_path, ex.base, exchange=venue, run={"cycle_seconds": cycle}, **extra)


@pytest.mark.parametrize(
    ("outage", "cycle"), [(name, 0.2) for name in OUTAGES] + [("503 storm", 1.0)], ids=str
)
def test_an_outage_is_waited_out_and_the_bot_trades_again_by_itself(tmp_path, exchange, bots, outage, cycle):
    """Every /api/v3 call fails for 2.5 s while the market moves 3 candles. With a budget of ONE error an
    hour the bot does not halt: unavailability never spends the budget (it stays at 0), so an outage of any
    length is ridden out. It logs the outage once, trades again by itself (new orders after it), and its
    books equal the exchange's trades. Before: every cycle cut short counted, the second halted the bot."""
    ex = exchange("--start-candle", "4001")  # a volatile stretch: fills before and after the outage
    bot = _bot(tmp_path, ex, bots, cycle, risk={"max_errors_per_hour": 1})
    bot.start()
    drive(ex, bot, 3)
    ex.admin.fault(**OUTAGES[outage], for_s=2.5)
    for _ in range(3):
        ex.admin.step(candles=1)
    time.sleep(3)
    before = {o["clientOrderId"] for o in ex.orders()}
    bot.wait(6, timeout=30)
    drive(ex, bot, 8 if cycle < 1 else 5, seen=6)
    s = bot.status()
    assert not s["halted"], s["halted"]
    assert s["api_errors"] == 0, "the budget is untouched by unavailability"
    log = bot.log.read_text()
    assert log.count("exchange unavailable") == 1, log[-2000:]
    assert "exchange available again after" in log
    assert {o["clientOrderId"] for o in ex.orders()} - before, "new orders after the outage"
    judge_against_the_exchange(ex, bot)
    assert bot.term() == 0


def test_a_burst_of_refused_orders_still_halts_naming_the_cause(tmp_path, exchange, bots):
    """Another client fills the account's open-order limit (MAX_NUM_ORDERS, 200 per account) while the bot
    waits for its trigger price: the grid's orders are refused, each refusal is the bot being wrong about
    what it may do, and a budget of 2 halts it at the third, the halt naming the filter."""
    ex = exchange("--start-candle", "4001", "--balance", "USDT=3000")
    bot = bots(tmp_path, ex.base, risk={"max_errors_per_hour": 2}, exits={"trigger_price": 58700})
    bot.start()
    drive(ex, bot, 2)
    assert ex.orders() == [], "no grid before the price trades at the trigger (candle 4007)"
    other = CcxtVenue("binance", "BTC/USDT", api_url=ex.base, api_key=KEY, secret=SECRET, throttle=False)
    other.load_market("BTC/USDT")
    for n in range(200):
        other.create_limit("buy", Decimal("1000"), Decimal("0.005"), f"other-{n}")
    drive_until_halted(ex, bot, 30, "refused orders must spend a budget of two")
    halted = bot.status()["halted"]
    assert halted.startswith(
        "error budget: 3 exchange errors in the last hour (limit 2), the last: order "
    ), halted
    assert "MAX_NUM_ORDERS" in halted
    assert not [o for o in ex.orders() if o["clientOrderId"].startswith("gridbot")]
    assert bot.term() == 0


def _subclasses(cls: type) -> set[type]:
    out = set(cls.__subclasses__())
    for sub in list(out):
        out |= _subclasses(sub)
    return out


def test_every_venue_error_has_its_verdict():
    """Exhaustive over the loop's error classes (a new one must be placed here): unavailability is waited out,
    refusals and unreadable answers count, refused credentials halt."""
    want = {
        venue.VenueError: "count",
        venue.RejectedError: "count",
        venue.InsufficientFundsError: "count",
        venue.UnavailableError: "wait",
        venue.RateLimitedError: "wait",
        venue.OutcomeUnknownError: "wait",
        venue.AuthFailedError: "halt",
    }
    public = {c for c in _subclasses(venue.VenueError) if c.__module__ == venue.__name__} | {venue.VenueError}
    assert public == set(want)
    for cls, verdict in want.items():
        exc = cls("x", 1.0) if cls is venue.RateLimitedError else cls("x")
        assert guards.verdict(exc) == verdict, cls


@pytest.mark.parametrize(
    ("errors", "limit", "halts"),
    [(0, 1, False), (1, 1, False), (2, 1, True), (60, 60, False), (61, 60, True), (10_000, None, False)],
)
def test_the_budget_halts_past_its_limit_naming_the_last_error(errors, limit, halts):
    reason = guards.budget_spent(errors, limit, "order x rejected (MAX_NUM_ORDERS)")
    assert (reason is not None) == halts
    if halts:
        assert reason == (f"error budget: {errors} exchange errors in the last hour (limit {limit}), "
                          "the last: order x rejected (MAX_NUM_ORDERS)")  # fmt: skip
