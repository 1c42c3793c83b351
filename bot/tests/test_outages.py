"""Outages and errors: an unavailable exchange is waited out and never halts; a bot that is wrong does.

Real `gridbot run` processes against the local exchange (the live harness), judged from the
exchange's admin API; the classification itself as a pure function, exhaustively."""

import time
from decimal import Decimal

import pytest
from live_harness import KEY, SECRET, Bot, Exchange, drive, drive_until_halted, judge_against_the_exchange

from gridbot.config.model import parse_config
from gridbot.live import guards, venue
from gridbot.live.ccxt_venue import CcxtVenue
from gridbot.live.live_trader import LiveTrader
from gridbot.ops.candle_files import load_embedded
from gridbot.ops.metrics import Metrics
from gridbot.ops.service import open_store

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
    drive(ex, bot, 5 if cycle < 1 else 4, seen=6)
    s = bot.status()
    assert not s["halted"], s["halted"]
    assert s["api_errors"] == 0, "the budget is untouched by unavailability"
    log = bot.log.read_text()
    assert log.count("exchange unavailable") == 1, log[-2000:]
    assert "exchange available again after" in log
    assert {o["clientOrderId"] for o in ex.orders()} - before, "new orders after the outage"
    judge_against_the_exchange(ex, bot)
    assert bot.term() == 0


def test_a_bot_restarted_inside_a_retry_after_waits_it_out_and_is_never_banned(tmp_path, exchange, bots):
    """Binance bans an IP (418, 2 minutes and doubling) that sends before a 429's Retry-After is over. A bot
    SIGKILLed right after a 429 and started again at once, as its container's restart policy does, waits out
    what is left of the Retry-After: never banned, trading on after it. Before, the new process knew nothing
    of the wait, sent at once and was banned."""
    ex = exchange("--rate-limits", "weight=0,window=10", "--start-candle", "4001")  # fills on both sides
    bot = bots(tmp_path, ex.base)
    bot.start()
    drive(ex, bot, 2)
    while time.time() % 10 > 0.5:  # a window's start: the Retry-After is most of the window
        time.sleep(0.02)
    ex.admin.call("POST", "rate_limits", {"weight_1m": 1})
    deadline = time.monotonic() + 5
    while ex.admin.call("GET", "rate_limits")["refused_429"] == 0:  # type: ignore[index]
        assert time.monotonic() < deadline, "the bot never met the weight limit"
        time.sleep(0.01)
    told = time.time()
    time.sleep(0.2)
    bot.kill()
    ex.admin.call("POST", "rate_limits", {"weight_1m": 0})  # only the Retry-After stands now
    bot.start()
    ex.admin.step(candles=1)
    bot.wait(3, timeout=40)
    resumed = time.time()
    drive(ex, bot, 5, seen=3)
    assert ex.trades(), "the bot traded on after the wait"
    limits = ex.admin.call("GET", "rate_limits")
    print(f"retry-after: told {told % 10:.2f} s into the window, trading again {resumed - told:.1f} s later")
    assert limits["refused_418"] == 0, limits  # type: ignore[index]
    assert limits["refused_429"] == 1, limits  # type: ignore[index]
    assert resumed - told > 5, "the new process waited out the Retry-After"
    assert "the exchange's last Retry-After" in bot.log.read_text()
    judge_against_the_exchange(ex, bot)
    assert bot.term() == 0


def test_a_burst_of_refused_orders_still_halts_naming_the_cause(tmp_path, exchange, bots):
    """Another client fills the account's open-order limit (MAX_NUM_ORDERS, 200 per account) while the bot
    waits for its trigger price: the grid's orders are refused, each refusal is the bot being wrong about
    what it may do, and a budget of 2 halts it at the third, the halt naming the filter."""
    # the other client places its 200 orders at once: past Binance's 100 orders per 10 s, lifted here
    limits = ("--rate-limits", "weight=0,orders10s=1000")
    ex = exchange("--start-candle", "4001", "--balance", "USDT=3000", *limits)
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
        venue.MarketClosedError: "wait",  # a halted market: creates wait for it to open (test_market_watch)
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


class MemoryVenue:
    """An exchange in memory, for the loop's own logic: the embedded candles up to `now` (the forming one),
    every order accepted and left resting; `down` is raised by every call, as by an exchange that is away."""

    def __init__(self) -> None:
        self.candles = load_embedded()
        self.now = 1
        self.down: venue.VenueError | None = None
        self.orders: dict[str, venue.OrderState] = {}

    def _gate(self) -> None:
        if self.down is not None:
            raise self.down

    def load_market(self, symbol: str) -> venue.MarketRules:
        return venue.MarketRules(symbol, "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"), Decimal(5),
                                 Decimal("0.001"), Decimal("0.001"), 200)  # fmt: skip

    def closed_candles(self, timeframe: str, since_ms: int | None, limit: int) -> list[venue.Candle]:  # noqa: ARG002
        self._gate()
        c = self.candles
        rows = [venue.Candle(int(c.time_ms[i]), *(float(x[i]) for x in (c.open, c.high, c.low, c.close)), 1.0)
                for i in range(self.now)]  # fmt: skip
        return [r for r in rows if since_ms is None or r.time_ms >= since_ms][:limit]

    def create_limit(self, side, price: Decimal, qty: Decimal, client_id: str) -> venue.OrderState:
        self._gate()
        state = venue.OrderState(
            client_id, str(len(self.orders) + 1), side, price, qty, Decimal(0), "open", 0
        )
        self.orders[client_id] = state
        return state

    def sell_at_market(self, qty: Decimal, client_id: str) -> venue.OrderState:  # noqa: ARG002
        raise AssertionError("no exit here")

    def cancel(self, client_id: str) -> venue.OrderState | None:
        self._gate()
        return self.orders.pop(client_id, None)

    def order(self, client_id: str) -> venue.OrderState | None:
        self._gate()
        return self.orders.get(client_id)

    def open_orders(self) -> list[venue.OrderState]:
        self._gate()
        return list(self.orders.values())

    def trades_since(self, after_trade_id: str | None, since_ms: int | None) -> list[venue.Trade]:  # noqa: ARG002
        self._gate()
        return []

    def balances(self) -> dict[str, venue.Balance]:
        self._gate()
        return {}

    def clock_skew_ms(self) -> float:
        return 0.0

    def measure_clock(self) -> float:
        self._gate()
        return 0.0


def test_a_thirty_minute_outage_cycle_by_cycle_leaves_the_budget_untouched(tmp_path):
    """30 minutes of an away exchange at the default 1 s cycle: 1 800 cycles cut short (unavailable, rate
    limited with Retry-After 0), in-process against an in-memory venue. Not one is counted: no halt, the
    budget at 0, and the first cycle after it trades on. (Before: each counted, the 61st halted the bot.)"""
    run = {"data": "exchange", "state_dir": str(tmp_path / "data"), "heartbeat_file": str(tmp_path / "hb"),
           "http_port": None}  # fmt: skip
    cfg = parse_config({"mode": "live", "grid": {"width_pct": 2, "levels": 6}, "run": run,
                        "filters": {"trend": {"mode": "off"}}})  # fmt: skip
    memory = MemoryVenue()
    store, metrics = open_store(cfg), Metrics()
    try:
        t = LiveTrader(cfg, memory, store, metrics)
        t.step(full=True)
        placed = set(memory.orders)
        assert placed, "the grid rests"
        away = [venue.UnavailableError("503 Service Unavailable"), venue.RateLimitedError("429", 0.0)]
        for n in range(1800):
            memory.down = away[n % 2]
            t.step(full=n % 60 == 0)
        assert store.halt_state() is None
        assert t.status()["api_errors"] == 0
        memory.down, memory.now = None, memory.now + 6  # back, 30 minutes of 5-minute candles later
        t.step(full=True)
        assert t.status()["candles"] == 7
        assert not t.status()["halted"]
        assert set(memory.orders) >= placed, "the grid still rests, nothing cancelled by the outage"
    finally:
        store.close()
