"""The live loop as it runs: real `gridbot run` processes trading against a real local exchange on
127.0.0.1 whose clock the test drives (`--speed 0` + Admin.step), judged from the exchange's admin API."""

import csv
import json
import random
import subprocess
import sys
import threading
import time
import urllib.error
from collections import Counter
from decimal import ROUND_FLOOR, Decimal
from urllib.parse import urlsplit

import pytest
from endpoints import free_port, get, sample
from live_harness import (
    KEY,
    SECRET,
    SETTINGS,
    Bot,
    drive,
    drive_until_halted,
    fills_of,
    judge_against_the_exchange,
    reference,
)

from gridbot.config.model import load_config, parse_config
from gridbot.live import guards, live_trader, run, trader
from gridbot.live.client_ids import parse_client_id
from gridbot.ops.candle_files import load_embedded
from gridbot.ops.health import heartbeat_age, judge
from gridbot.ops.metrics import Metrics
from gridbot.ops.service import open_store


def test_a_live_session_takes_the_backtests_decisions_and_exits_0_on_sigterm(tmp_path, exchange, bots):
    ex = exchange()
    bot = bots(tmp_path, ex.base)
    bot.start()
    n = 300

    def sigterm_mid_cycle(k: int) -> None:
        if k == 150:  # the candle is being read, decided on, committed, sent: SIGTERM lands in that cycle
            time.sleep(0.005)
            t0 = time.monotonic()
            assert bot.term() == 0
            assert time.monotonic() - t0 < 10  # the container's stop grace period
            bot.start()

    drive(ex, bot, n, sigterm_mid_cycle)
    rows, engine = reference(n)
    got = [(side, Decimal(p), Decimal(q)) for side, p, q, _f, _id in fills_of(bot)]
    want = [(r["side"], Decimal(f"{r['price']:.8f}").normalize(), Decimal(f"{r['amount']:.8f}").normalize())
            for r in rows]  # fmt: skip
    assert len(want) >= 6
    assert [(s, p.normalize(), q.normalize()) for s, p, q in got] == want
    s = bot.status()
    assert s["round_trips"] == engine.stats.round_trips > 0
    assert s["realized_pnl"] == pytest.approx(engine.portfolio.realized, abs=0.011)
    judge_against_the_exchange(ex, bot)
    assert bot.term() == 0
    assert "stopped after cycle" in bot.log.read_text()


def final_fills(bot: Bot) -> list[tuple]:
    return [(side, Decimal(p).normalize(), Decimal(q).normalize()) for side, p, q, _f, _id in fills_of(bot)]


def wanted(rows: list[dict]) -> list[tuple]:
    return [(r["side"], Decimal(f"{r['price']:.8f}").normalize(), Decimal(f"{r['amount']:.8f}").normalize())
            for r in rows]  # fmt: skip


def test_sigkills_at_random_moments_lose_nothing_and_place_nothing_twice(tmp_path, exchange, bots):
    """Killed 20+ times (some while an order is on the wire: creates are slowed down), a session on a
    volatile stretch ends as an uninterrupted one over the same path does, and the exchange's own records
    agree with the bot's. (The reference is a live session, not the backtest: on this stretch some
    counter-orders are marketable when placed, and the exchange fills those at once as takers.)"""
    n = 160
    args = ("--fault", "latency:ms=40,path=/api/v3/order", "--start-candle", "4001")  # 67 fills in 160
    results = []
    for killing in (False, True):
        ex = exchange(*args)
        bot = bots(tmp_path / str(killing), ex.base, run={"unknown_order_deadline_s": 1.0})
        bot.start()
        bot.wait(1)
        rnd = random.Random(20)
        kills = 0

        def maybe_kill(k: int, bot=bot, killing=killing, rnd=rnd) -> None:
            nonlocal kills
            if killing and (k % 7 == 3 or rnd.random() < 0.08):
                time.sleep(rnd.uniform(0.0, 0.08))  # mid-cycle: reading, deciding, committing or sending
                bot.kill()
                kills += 1
                bot.start()

        drive(ex, bot, n, maybe_kill, seen=1)
        judge_against_the_exchange(ex, bot)
        results.append((final_fills(bot), bot.status(), len(ex.orders())))
        assert bot.term() == 0
    print(f"sigkills: {kills}, orders: {results[1][2]}, fills: {len(results[1][0])}")
    assert kills >= 20
    (calm, calm_status, calm_orders), (killed, killed_status, killed_orders) = results
    assert len(calm) > 40
    assert killed == calm
    assert killed_orders == calm_orders  # nothing placed twice, nothing lost and re-placed
    for key in ("realized_pnl", "end_equity", "round_trips", "open_orders", "base_held"):
        assert killed_status[key] == calm_status[key], key


def test_faults_end_with_one_order_each_and_the_uninterrupted_result(tmp_path, exchange, bots):
    """An order booked then its answer dropped, an order invisible for a while, 429 with Retry-After, 5xx,
    a hang past the timeout, clock skew, maintenance, a 418 (an IP ban), a 502: the bot survives each, places
    nothing twice, its breaker opens and closes again, and it ends where an undisturbed session ends."""
    ex = exchange()
    venue = {
        "api_url": ex.base,
        "credentials_file": str(tmp_path / "cred"),
        "throttle": False,
        "timeout_s": 1,
    }
    port = free_port()
    bot = bots(tmp_path, ex.base, run={"unknown_order_deadline_s": 3.0, "http_port": port}, exchange=venue)
    bot.start()
    faults = {
        5: {"kind": "drop", "path": "/api/v3/order", "method": "POST", "count": 1},
        25: {"kind": "invisible", "seconds": 1.5, "count": 1},
        26: {"kind": "drop", "path": "/api/v3/order", "method": "POST", "count": 1},
        40: {"kind": "status", "status": 429, "retry_after": 1, "path": "/api/v3/klines", "count": 2},
        55: {"kind": "status", "status": 503, "count": 3},
        70: {"kind": "hang", "seconds": 2, "path": "/api/v3/myTrades", "count": 1},
        85: {"kind": "skew", "ms": -30_000, "for_s": 1},
        # on reads only: a create refused unread this way is unknown, then re-placed past the deadline
        95: {"kind": "maintenance", "for_s": 1, "path": "/api/v3/klines"},
        102: {"kind": "status", "status": 418, "retry_after": 1, "path": "/api/v3/klines", "count": 1},
        110: {"kind": "status", "status": 502, "path": "/api/v3/myTrades", "count": 1},
    }
    n = 120
    drive(ex, bot, n, lambda k: ex.admin.fault(**faults[k]) if k in faults else None)
    assert final_fills(bot) == wanted(reference(n)[0])
    judge_against_the_exchange(ex, bot)
    log = bot.log.read_text()
    assert log.count("outcome unknown") >= 2, log
    assert "placing it again" not in log  # each unknown order was found, none re-placed
    assert ex.admin.call("GET", "state")["duplicate_rejects"] == 0  # type: ignore[index]
    text = get(port, "/metrics")[1]
    errors = {k: sample(text, "gridbot_api_errors_total", f'error="{k}"') for k in
              ("DDoSProtection", "ExchangeNotAvailable", "NetworkError", "RequestTimeout", "InvalidNonce",
               "OrderNotFound", "OnMaintenance")}  # fmt: skip
    # metrics count each injected fault under ccxt's class: the counted ones exactly, the timed ones (skew for
    # 1 s, an order invisible for 1.5 s) once per call that met them
    assert errors["DDoSProtection"] == 3  # 429 x2, 418
    assert errors["ExchangeNotAvailable"] == 4  # 503 x3, 502
    assert errors["OnMaintenance"] >= 1  # each read during the second of maintenance
    assert errors["NetworkError"] == 2  # two answers dropped
    assert errors["RequestTimeout"] == 1  # one hang
    assert errors["InvalidNonce"] >= 1
    assert errors["OrderNotFound"] >= 1
    # the breaker opened (the 429s: once each, the second on the probe; the 418) and is closed again
    assert sample(text, "gridbot_breaker_openings_total") >= 3
    assert sample(text, "gridbot_breaker_open") == 0
    api = urlsplit(ex.base).netloc  # the bot's exchange.api_url
    assert sample(text, "gridbot_exchange_info", f'api="{api}",exchange="binance"') == 1
    assert bot.term() == 0


class Beats:
    """The heartbeat sampled every 50 ms in a thread, judged as the container's healthcheck judges it."""

    def __init__(self, path) -> None:
        self.path = path
        self.oldest = 0.0
        self.unhealthy: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            if not self.path.exists():
                continue
            age, _limit = heartbeat_age(self.path)
            ok, why = judge(self.path)
            self.oldest = max(self.oldest, age)
            self.samples += 1
            if not ok:
                self.unhealthy.append(why)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def test_a_rate_limit_keeps_the_heartbeat_fresh_and_the_bot_trades_on(tmp_path, exchange, bots):
    """429s with a Retry-After of 3 s: on a create (the loop waits it out) and on a read (the adapter waits it
    out, then reads again). Both waits beat: the heartbeat is never older than about a second (it would be 3 s
    old otherwise, and with a real exchange's 60 s past its allowed age of 3 cycles + 10 s: a healthy bot
    reported unhealthy, a rollout gate failed). After the waits the bot trades on, nothing placed twice."""
    ex = exchange("--fault", "status:status=429,retry_after=3,path=/api/v3/order,method=POST,count=1")
    port = free_port()
    bot = bots(tmp_path, ex.base, run={"http_port": port})
    beats = Beats(tmp_path / "hb")
    bot.start()
    n = 60
    klines = {"kind": "status", "status": 429, "retry_after": 3, "path": "/api/v3/klines", "count": 1}
    t0 = time.monotonic()
    drive(ex, bot, n, lambda k: ex.admin.fault(**klines) if k == 20 else None)
    beats.stop()
    assert time.monotonic() - t0 > 6, "both Retry-Afters were waited out"
    assert beats.samples > 50
    assert beats.unhealthy == []
    assert beats.oldest < 2.0, f"the heartbeat went {beats.oldest:.1f}s without a beat"
    assert sample(get(port, "/metrics")[1], "gridbot_api_errors_total", 'error="DDoSProtection"') == 2
    rows = reference(n)[0]
    assert len(rows) >= 2
    assert final_fills(bot) == wanted(rows)
    judge_against_the_exchange(ex, bot)
    assert bot.term() == 0


def test_sigterm_during_a_long_retry_after_exits_0_at_once(tmp_path, exchange, bots):
    """A read waiting out an 8 s Retry-After (within the adapter's retry budget, so it waits rather than
    giving up) is cut short by SIGTERM: exit 0 well inside the stop grace period, not after the wait; the
    next start waits out what is left of it (Binance bans an IP that asks before), then trades on."""
    ex = exchange()
    port = free_port()
    bot = bots(tmp_path, ex.base, run={"http_port": port})
    bot.start()
    drive(ex, bot, 2)
    ex.admin.fault(kind="status", status=429, retry_after=8, path="/api/v3/klines", count=1)
    ex.admin.step(candles=1)
    deadline = time.monotonic() + 10
    while sample(get(port, "/metrics")[1], "gridbot_breaker_open") != 1:
        assert time.monotonic() < deadline, "the read never met the rate limit"
        time.sleep(0.05)
    time.sleep(0.5)
    t0 = time.monotonic()
    assert bot.term() == 0
    assert time.monotonic() - t0 < 3
    assert "stopped after cycle" in bot.log.read_text()
    bot.start()
    drive(ex, bot, 2, seen=2)
    assert time.monotonic() - t0 > 6, "the next start asked before the Retry-After was over"
    assert "the exchange's last Retry-After" in bot.log.read_text()
    assert ex.admin.call("GET", "duplicates")["count"] == 0  # type: ignore[index]
    assert bot.term() == 0


def test_the_last_candle_age_grows_while_the_feed_stalls(tmp_path, exchange, bots):
    """`gridbot_last_candle_age_seconds` is the age when scraped: with no new candle it grows with the clock
    (an alert on it fires during a stall), and a new candle brings it down. Counted from the candle's coming
    on the bot's own clock, as its stale-price guard counts: this exchange replays candles of 2025, which a
    fresh candle's date would make years old (the demo's BotNoCandle that fired from its first minute)."""
    ex = exchange()
    port = free_port()
    bot = bots(tmp_path, ex.base, run={"http_port": port})
    bot.start()
    drive(ex, bot, 3)

    def age() -> float:
        return sample(get(port, "/metrics")[1], "gridbot_last_candle_age_seconds")

    first = age()
    assert first < 1.5, first
    time.sleep(1.5)  # the feed stalls: no candle closes (the exchange's clock stands still)
    stalled = age()
    assert 1.3 < stalled - first < 3, (first, stalled)
    drive(ex, bot, 1, seen=3)
    assert age() < 1.5, "a new candle makes the age young again"
    assert bot.term() == 0


def test_the_clock_skew_is_measured_again_at_every_reconciliation(tmp_path, exchange, bots):
    """`gridbot_clock_skew_seconds` follows the exchange's clock while the bot runs, not only at its start or
    after a refused timestamp: a host clock that drifts shows, and one corrected clears, within a
    reconciliation (else BotClockSkew fires on, or stays firing until a restart)."""
    ex = exchange()
    port = free_port()
    bot = bots(tmp_path, ex.base, run={"http_port": port, "reconcile_every": 5})
    bot.start()
    drive(ex, bot, 2)

    def skew_becomes(seconds: float) -> None:
        deadline = time.monotonic() + 10
        while abs((now := sample(get(port, "/metrics")[1], "gridbot_clock_skew_seconds")) - seconds) > 0.5:
            assert time.monotonic() < deadline, f"clock skew {now} s, not {seconds} s"
            time.sleep(0.05)

    skew_becomes(0)
    ex.admin.fault(kind="skew", ms=-4000)  # within Binance's 5 s recvWindow: no request is refused for it
    skew_becomes(-4)
    ex.admin.call("DELETE", "faults")
    skew_becomes(0)
    assert bot.term() == 0


def test_insufficient_funds_skip_the_level_refresh_the_balances_and_trade_on(tmp_path, exchange, bots):
    """The account holds less quote than the grid's budget: the buys that do not fit are refused by the
    exchange (InsufficientFunds), each level skipped (its intent rejected), the balances refreshed, the
    levels that fit placed, and the bot trades on: no crash, nothing placed twice, every fill booked once."""
    ex = exchange("--balance", "USDT=450")  # two of the grid's three buys (~200 USDT each)
    bot = bots(tmp_path, ex.base)
    bot.start()
    drive(ex, bot, 2)
    placed = {o["clientOrderId"] for o in ex.orders()}
    refused = {r[0] for r in bot.query("SELECT client_id FROM orders WHERE status = 'rejected'")}
    assert len(placed) == 2, placed
    assert len(refused) == 1, refused
    assert not placed & refused
    assert bot.log.read_text().count("insufficient funds") == 1
    bal = ex.admin.call("GET", "balances")["accounts"][KEY]["USDT"]  # type: ignore[index]
    (free, locked) = bot.query("SELECT free, locked FROM balances WHERE asset = 'USDT'")[0]
    assert (Decimal(free), Decimal(locked)) == (Decimal(bal["free"]), Decimal(bal["locked"])), "refreshed"
    k = 2
    while not ex.trades():  # a buy that fitted fills, its counter-sell is placed
        assert k < 120, "it trades on"
        drive(ex, bot, 1, seen=k)
        k += 1
    drive(ex, bot, 5, seen=k)
    assert bot.proc is not None
    assert bot.proc.poll() is None
    assert ex.admin.call("GET", "duplicates")["count"] == 0  # type: ignore[index]
    known = {r[0] for r in bot.query("SELECT client_id FROM orders")}
    assert {o["clientOrderId"] for o in ex.orders()} <= known
    assert any(o["side"] == "SELL" for o in ex.orders())
    recorded = [r[4] for r in fills_of(bot)]
    assert sorted(recorded) == sorted(str(t["id"]) for t in ex.trades())
    assert not bot.status()["halted"]
    assert bot.term() == 0


@pytest.mark.parametrize("how", ["gridbot halt --cancel", "risk.cancel_on_halt"])
def test_a_halt_that_cancels_takes_the_resting_orders_off_the_exchange(tmp_path, exchange, bots, how):
    """Live: the halt reaches the running bot, which cancels every resting order on the exchange (the
    store agrees) and places nothing new while the market moves on."""
    ex = exchange()
    bot = bots(tmp_path, ex.base, risk={"cancel_on_halt": how == "risk.cancel_on_halt"},
               regrid={"cooldown": "1d"})  # fmt: skip
    bot.start()
    drive(ex, bot, 5)

    def resting() -> list[dict]:
        return [o for o in ex.orders() if o["status"] in ("NEW", "PARTIALLY_FILLED")]

    def halt_until_nothing_rests() -> None:
        halt = [sys.executable, "-m", "gridbot.cli", "halt", "-c", str(bot.cfg), "--reason", "by hand"]
        out = subprocess.run(halt + ["--cancel"] * (how != "risk.cancel_on_halt"), capture_output=True,
                             text=True, check=False)  # fmt: skip
        assert out.returncode == 0, out.stderr
        deadline = time.monotonic() + 10
        while resting():
            assert time.monotonic() < deadline, f"still resting: {resting()}"
            time.sleep(0.05)

    assert len(resting()) >= 3
    halt_until_nothing_rests()
    placed = len(ex.orders())
    assert {o["status"] for o in ex.orders()} <= {"CANCELED", "FILLED"}
    for _ in range(10):
        ex.admin.step(candles=1)
        time.sleep(0.05)
    time.sleep(0.3)
    assert len(ex.orders()) == placed, "nothing new while halted"
    assert resting() == []
    busy = "SELECT count(*) FROM orders WHERE status IN ('open', 'intent', 'unknown', 'cancel')"
    assert bot.query(busy) == [(0,)]
    assert bot.status()["halted"] == "by hand"
    # lifted: the grid goes back on the book at once, no candle needed, around the last close (buys below it,
    # the inventory's sells above); the second time within the regrid cooldown (a day) the first re-placing
    # started: an operator's resume is not held back by it
    resume = [sys.executable, "-m", "gridbot.cli", "resume", "-c", str(bot.cfg)]
    for again in (False, True):
        if again:
            halt_until_nothing_rests()
        assert subprocess.run(resume, capture_output=True, check=False).returncode == 0
        deadline = time.monotonic() + 20
        while len(resting()) < 2 and time.monotonic() < deadline:  # 6 levels, 2% wide: 2 or 3 below the price
            time.sleep(0.05)
        assert len(resting()) >= 2, f"no grid at once after the resume: {resting()}"
        buys = [float(o["price"]) for o in resting() if o["side"] == "BUY"]
        sells = [float(o["price"]) for o in resting() if o["side"] == "SELL"]
        assert buys
        assert not sells or max(buys) < min(sells)
        assert bool(sells) == (bot.status()["base_held"] > 0), "the inventory offered above, all of it"
    assert "grid placed again at once around" in bot.log.read_text()
    assert bot.query("SELECT count(*) FROM cursors WHERE name = 'halt_cancelled'") == [(0,)]
    assert ex.admin.call("GET", "duplicates")["count"] == 0  # type: ignore[index]
    assert bot.term() == 0


def test_our_unknown_order_is_adopted_and_a_foreign_one_left_alone(tmp_path, exchange, bots):
    """Three orders appear on the bot's account mid-run, placed with ccxt directly: one with the bot's prefix
    and its state directory's tag (ours, say from a lost answer) is recorded at the next reconcile, its id
    never reused, and cancelled once the engine has passed the candle it was placed in without deciding it
    (no grid of the engine's holds it); one with another prefix (someone else's) and one with the bot's
    prefix under another state directory's tag (another bot's on this account under the same run.bot_id) are
    neither recorded nor touched, not even by `gridbot halt --cancel`."""
    from gridbot.live.ccxt_venue import CcxtVenue  # noqa: PLC0415

    ex = exchange()
    bot = bots(tmp_path, ex.base, run={"reconcile_every": 5})
    bot.start()
    drive(ex, bot, 3)
    other = CcxtVenue("binance", "BTC/USDT", api_url=ex.base, api_key=KEY, secret=SECRET, throttle=False)
    other.load_market("BTC/USDT")
    ((tag,),) = bot.query("SELECT value FROM cursors WHERE name = 'id_epoch'")
    ours, foreign, namesake = f"gridbot-0b-999-{tag}", "other-0b-1", "gridbot-0b-998-zz99zz"
    for cid in (ours, foreign, namesake):
        other.create_limit("buy", Decimal("50000"), Decimal("0.002"), cid)
    deadline = time.monotonic() + 10
    while not bot.query(f"SELECT status FROM orders WHERE client_id = '{ours}'"):
        assert time.monotonic() < deadline, "our order was never adopted"
        time.sleep(0.05)
    ((level, side, price, qty, status),) = bot.query(
        f"SELECT level, side, price, qty, status FROM orders WHERE client_id = '{ours}'"
    )
    assert (level, side, Decimal(price), Decimal(qty), status) == (0, "buy", 50000, Decimal("0.002"), "found")
    assert f"adopting our order {ours}" in bot.log.read_text()
    drive(ex, bot, 3, seen=3)
    assert {o["clientOrderId"]: o["status"] for o in ex.orders()}[ours] == "CANCELED"
    assert bot.query(f"SELECT status FROM orders WHERE client_id = '{ours}'") == [("canceled",)]
    assert f"order {ours}: the candles since did not decide it again; cancelled" in bot.log.read_text()
    # its id is never reused: every id the bot makes carries its state directory's tag, past the one found
    made = [o["clientOrderId"] for o in ex.orders() if o["clientOrderId"] not in (ours, foreign, namesake)]
    assert made
    assert all(cid.endswith(f"-{tag}") for cid in made)
    assert int(bot.query("SELECT value FROM cursors WHERE name = 'seq'")[0][0]) > 999
    for theirs in (foreign, namesake):
        assert bot.query(f"SELECT * FROM orders WHERE client_id = '{theirs}'") == []
        assert theirs not in bot.log.read_text()
    halt = [sys.executable, "-m", "gridbot.cli", "halt", "-c", str(bot.cfg), "--reason", "x", "--cancel"]
    assert subprocess.run(halt, capture_output=True, check=False).returncode == 0
    deadline = time.monotonic() + 10
    while [o for o in ex.orders() if o["clientOrderId"].endswith(f"-{tag}") and o["status"] == "NEW"]:
        assert time.monotonic() < deadline, "the bot's own orders were never cancelled"
        time.sleep(0.05)
    time.sleep(0.3)
    state = {o["clientOrderId"]: o["status"] for o in ex.orders()}
    assert state[foreign] == state[namesake] == "NEW", "someone else's orders are left alone"
    assert sorted(c for c, st in state.items() if st == "NEW") == sorted([foreign, namesake])
    assert ex.admin.call("GET", "duplicates")["count"] == 0  # type: ignore[index]
    assert bot.term() == 0


def _crash_path(tmp_path):
    """A calm range, then a 30% fall: a grid's buys fill all the way down."""
    candles = load_embedded().slice(0, 60)
    import numpy as np  # noqa: PLC0415

    fall = np.concatenate([np.ones(20), np.linspace(1.0, 0.7, 40)])
    rows = []
    for i in range(len(candles)):
        f = fall[i]
        o, h, low, c = (
            float(x) * f for x in (candles.open[i], candles.high[i], candles.low[i], candles.close[i])
        )
        rows.append(f"{int(candles.time_ms[i])},{o:.2f},{max(o, h, c):.2f},{min(o, low, c):.2f},{c:.2f},1\n")
    path = tmp_path / "crash.csv"
    path.write_text("".join(rows))
    return path


def test_a_price_crash_trips_the_drawdown_halt_which_survives_a_restart_until_resume(
    tmp_path, exchange, bots
):
    ex = exchange("--data", str(_crash_path(tmp_path)))
    bot = bots(tmp_path, ex.base, risk={"max_drawdown_pct": 5})
    bot.start()
    k = drive_until_halted(ex, bot, 55, "the fall must trip the halt")
    assert bot.status()["halted"].startswith("max drawdown")
    placed = len(ex.orders())
    for _ in range(3):
        ex.admin.step(candles=1)
        time.sleep(0.2)
    assert len(ex.orders()) == placed, "nothing new is placed while halted"
    bot.kill()
    bot.start()
    time.sleep(1.5)
    assert len(ex.orders()) == placed
    assert bot.status()["halted"].startswith("max drawdown"), "the halt survives a restart"
    out = subprocess.run([sys.executable, "-m", "gridbot.cli", "resume", "-c", str(bot.cfg)],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "was halted: max drawdown" in out.stdout
    deadline = time.monotonic() + 10
    while bot.status().get("candles", 0) < k + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bot.status()["candles"] >= k + 3, "resumed: the bot takes the candles it missed"
    assert not bot.status()["halted"], "the drawdown counts again from the equity at resume"
    assert "resumed: trading again" in bot.log.read_text()
    assert bot.term() == 0


def test_bad_credentials_halt_with_the_reason_and_never_crash_loop(tmp_path, exchange, bots):
    ex = exchange()
    port = free_port()
    bot = bots(tmp_path, ex.base, secret="wrong", run={"http_port": port})
    bot.start()
    deadline = time.monotonic() + 15
    while not bot.query("SELECT reason FROM halt") and time.monotonic() < deadline:
        time.sleep(0.05)
    (reason,) = bot.query("SELECT reason FROM halt")[0]
    assert reason.startswith("exchange refused the credentials")
    time.sleep(0.5)
    assert bot.proc is not None
    assert bot.proc.poll() is None, "it stays up, halted, heartbeating"
    assert gridbot_health(tmp_path / "hb") == 0
    assert ex.orders() == []
    assert "exchange refused the credentials" in bot.log.read_text()
    # visible where an operator looks: the saved status, /status, /readyz, the metric, `gridbot status`
    assert bot.status()["halted"] == reason
    assert bot.status()["mode"] == "live"
    code, body = get(port, "/status")
    assert code == 200
    assert json.loads(body)["halted"] == reason
    assert json.loads(body)["mode"] == "live"
    assert get(port, "/readyz") == (200, f"halted: {reason}\n")
    assert sample(get(port, "/metrics")[1], "gridbot_halted") == 1
    out = subprocess.run([sys.executable, "-m", "gridbot.cli", "status", "-c", str(bot.cfg)],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["halted"] == reason
    assert bot.term() == 0
    # the key fixed and the halt lifted: the bot starts trading as a fresh one would
    (tmp_path / "cred").write_text(f"GRIDBOT_API_KEY={KEY}\nGRIDBOT_API_SECRET={SECRET}\n")
    out = subprocess.run([sys.executable, "-m", "gridbot.cli", "resume", "-c", str(bot.cfg)],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    bot.start()
    drive(ex, bot, 3)
    assert not bot.status()["halted"]
    assert ex.orders() != []
    assert bot.term() == 0


@pytest.mark.parametrize("cancel_on_halt", [False, True])
def test_a_key_revoked_mid_run_halts_trading_with_the_reason_and_never_crash_loops(
    tmp_path, exchange, bots, cancel_on_halt
):
    """The exchange revokes the bot's key while it trades: Binance answers -2015, which ccxt reports as
    DDoSProtection on a client that signed in before. The adapter takes it for what it is (the key, its IP
    or its permissions refused), not for a rate limit to wait out for hours: trading halts at once with the
    reason, the process stays up and healthy, nothing more is sent (not even the halt's cancels: they wait,
    committed, for a restart with a good key), nothing was placed twice."""
    ex = exchange()
    port = free_port()
    bot = bots(tmp_path, ex.base, run={"http_port": port}, risk={"cancel_on_halt": cancel_on_halt})
    bot.start()
    drive(ex, bot, 3)
    placed = len(ex.orders())
    assert placed > 0
    ex.admin.call("DELETE", f"keys?key={KEY}")
    deadline = time.monotonic() + 10
    while not bot.status().get("halted"):
        ex.admin.step(candles=1)
        assert time.monotonic() < deadline, f"never halted: {bot.status()}"
        time.sleep(0.1)
    reason = bot.status()["halted"]
    assert reason.startswith("exchange refused the credentials: "), reason
    assert "-2015" in reason

    def calls() -> float:
        lines = get(port, "/metrics")[1].splitlines()
        return sum(float(x.split()[-1]) for x in lines if x.startswith("gridbot_api_requests_total{"))

    before = calls()
    for _ in range(5):
        ex.admin.step(candles=1)
        time.sleep(0.1)
    assert bot.proc is not None
    assert bot.proc.poll() is None, "it stays up, halted, heartbeating"
    assert gridbot_health(tmp_path / "hb") == 0
    assert calls() == before, "halted: nothing more is sent"
    assert len(ex.orders()) == placed
    assert ex.admin.call("GET", "duplicates")["count"] == 0  # type: ignore[index]
    text = get(port, "/metrics")[1]
    assert sample(text, "gridbot_halted") == 1
    assert sample(text, "gridbot_breaker_open") == 0, "not taken for a rate limit"
    assert bot.log.read_text().count("trading halted: exchange refused the credentials") == 1
    assert bot.term() == 0
    if not cancel_on_halt:
        return
    # a new key for the account, the bot restarted on it: still halted, the halt's cancels go out now
    assert [o["status"] for o in ex.orders()].count("NEW") == placed
    ex.admin.call("POST", "keys", {"account": KEY, "key": "bot-1-new", "secret": "secret-2"})
    (tmp_path / "cred").write_text("GRIDBOT_API_KEY=bot-1-new\nGRIDBOT_API_SECRET=secret-2\n")
    bot.start()
    deadline = time.monotonic() + 10
    while "NEW" in [o["status"] for o in ex.orders()]:
        assert time.monotonic() < deadline, "the committed cancels never went out"
        time.sleep(0.05)
    assert len(ex.orders()) == placed
    assert bot.status()["halted"] == reason
    assert bot.term() == 0


def gridbot_health(beat) -> int:
    return subprocess.run([sys.executable, "-m", "gridbot.cli", "health", "--heartbeat", str(beat)],
                          capture_output=True, check=False).returncode  # fmt: skip


def test_paper_on_the_exchanges_candles_needs_no_keys_and_places_nothing_there(tmp_path, exchange, bots):
    ex = exchange()
    bot = bots(tmp_path, ex.base, mode="paper", exchange={"api_url": ex.base, "throttle": False})
    bot.start()
    drive(ex, bot, 120)
    rows, _engine = reference(120)
    got = bot.query("SELECT side, price, qty FROM fills ORDER BY rowid")
    assert [(side, float(p), float(q)) for side, p, q in got] == [
        (r["side"], r["price"], r["amount"]) for r in rows
    ]
    assert len(rows) > 4
    assert ex.orders() == []
    assert bot.term() == 0


def test_live_refuses_a_missing_credentials_file_and_a_config_the_exchange_contradicts(
    tmp_path, exchange, capsys
):
    from gridbot.cli import main  # noqa: PLC0415

    ex = exchange()
    bot = Bot(tmp_path, ex.base)
    (tmp_path / "cred").unlink()
    assert main(["run", "-c", str(bot.cfg), "--max-cycles", "1"]) == 2
    assert f"exchange.credentials_file: {tmp_path / 'cred'}: cannot read" in capsys.readouterr().err
    (tmp_path / "cred").write_text(f"GRIDBOT_API_KEY={KEY}\nGRIDBOT_API_SECRET={SECRET}\n")
    cfg = json.loads(bot.cfg.read_text())
    cfg["market"] = {"tick_size": 0.005, "maker_fee": 0.0005}
    bot.cfg.write_text(json.dumps(cfg))
    assert main(["run", "-c", str(bot.cfg), "--max-cycles", "1"]) == 2
    err = capsys.readouterr().err
    assert "market.tick_size: 0.005 is not a multiple of the exchange's 0.01" in err
    assert "market.maker_fee: 0.0005 is below the exchange's 0.001" in err
    assert ex.orders() == []


def test_check_config_names_the_live_fields(tmp_path, capsys):
    from gridbot.cli import main  # noqa: PLC0415

    cfg = tmp_path / "bot.yml"
    cfg.write_text("mode: live\nrun: {data: embedded}\n")
    assert main(["check-config", str(cfg)]) == 2
    assert "run.data: mode live trades on the exchange's own candles" in capsys.readouterr().err
    live_exit = parse_config({"mode": "live", "run": {"data": "exchange"}, "exits": {"stop_loss": 10}})
    assert live_exit.exits.stop_loss == 10, "live exits are carried out (test_live_exits)"


def test_partial_fills_are_booked_as_the_exchange_executed_them(tmp_path, exchange, bots):
    """At most 0.001 BTC per order per candle: orders fill in parts, over several candles; each part is
    booked once, as executed, and the books still match the exchange's."""
    ex = exchange("--fill-cap", "0.001")
    bot = bots(tmp_path, ex.base)
    bot.start()
    drive(ex, bot, 150)
    trades = ex.trades()
    per_order: dict[int, int] = {}
    for t in trades:
        per_order[t["orderId"]] = per_order.get(t["orderId"], 0) + 1
    assert max(per_order.values()) > 1, "some order filled in parts"
    judge_against_the_exchange(ex, bot)
    assert bot.term() == 0


def test_partial_fills_give_one_counter_order_per_level_sized_from_the_whole_fill(tmp_path, exchange, bots):
    """Orders fill in parts (at most 0.001 BTC per candle): a level never holds two of our open orders (a
    level is taken by its buy or by the sell above it), and a buy's counter-sell comes once, after its last
    part, for its whole executed quantity net of the fee, floored to the lot step."""
    ex = exchange("--fill-cap", "0.001")
    bot = bots(tmp_path, ex.base)
    bot.start()
    crowded: list[tuple] = []

    def one_per_level(_k: int) -> None:
        taken: Counter[int] = Counter()
        for o in ex.orders():
            if o["status"] in ("NEW", "PARTIALLY_FILLED"):
                level, side = parse_client_id("gridbot", o["clientOrderId"])  # type: ignore[misc]
                taken[level if side == "buy" else level - 1] += 1
        crowded.extend((level, n) for level, n in taken.items() if n > 1)

    drive(ex, bot, 150, one_per_level)
    one_per_level(150)
    assert crowded == []
    step = Decimal(str(parse_config(SETTINGS).market.lot_step))
    orders = sorted(ex.orders(), key=lambda o: o["orderId"])
    parts: dict[int, list[dict]] = {}
    for t in ex.trades():
        parts.setdefault(t["orderId"], []).append(t)
    checked = 0
    for b in orders:
        level, side = parse_client_id("gridbot", b["clientOrderId"])  # type: ignore[misc]
        if side != "buy" or b["status"] != "FILLED":
            continue
        mine = parts[b["orderId"]]
        first, last = min(t["time"] for t in mine), max(t["time"] for t in mine)
        sells = [o for o in orders if o["orderId"] > b["orderId"] and o["time"] >= first and
                 parse_client_id("gridbot", o["clientOrderId"]) == (level + 1, "sell")]  # fmt: skip
        assert sells, f"{b['clientOrderId']} filled: its counter-sell"
        s = sells[0]
        assert s["time"] > last, f"{s['clientOrderId']} placed before {b['clientOrderId']} had filled whole"
        executed = sum(Decimal(str(t["qty"])) for t in mine)
        fees = sum(Decimal(str(t["commission"])) for t in mine)
        assert executed == Decimal(b["executedQty"]) == Decimal(b["origQty"])
        assert Decimal(s["origQty"]) == ((executed - fees) / step).to_integral_value(ROUND_FLOOR) * step
        checked += len(mine) > 1
    assert checked >= 2, "buys filled in parts, then paired up"
    judge_against_the_exchange(ex, bot)
    assert bot.term() == 0


def test_a_fresh_bot_starts_at_the_newest_closed_candle_not_on_history(tmp_path, exchange, bots):
    ex = exchange("--start-candle", "200")  # 200 candles of history before the bot's first start
    bot = bots(tmp_path, ex.base)
    bot.start()
    bot.wait(1)
    assert bot.status()["candles"] == 1  # candle 199, the newest closed one
    for k in range(100):
        ex.admin.step(candles=1)
        bot.wait(k + 2)
    rows, _engine = reference(101, start=199)
    assert final_fills(bot) == wanted(rows)
    assert len(rows) > 2
    judge_against_the_exchange(ex, bot)
    assert bot.term() == 0


def test_the_error_budget_counts_across_a_restart(tmp_path, exchange, bots):
    """Two buys refused for funds (the account holds a quarter of the grid's budget), a crash, a third
    refusal at the next grid: the budget of two is exceeded (a restart is not a way around it)."""
    ex = exchange("--balance", "USDT=250")
    bot = bots(tmp_path, ex.base, risk={"max_errors_per_hour": 2})
    bot.start()
    drive(ex, bot, 1)
    deadline = time.monotonic() + 20
    while bot.status()["api_errors"] < 2:  # the next cycle's status
        assert time.monotonic() < deadline, bot.status()
        time.sleep(0.02)
    assert not bot.status()["halted"]
    bot.kill()
    bot.start()
    drive_until_halted(ex, bot, 200, "the next grid's refusal must exceed the budget")
    assert bot.status()["halted"].startswith("error budget: 3 exchange errors in the last hour (limit 2)")
    assert "insufficient funds" in bot.status()["halted"]
    assert bot.term() == 0


def test_a_bot_down_for_a_while_catches_up_with_the_exchanges_books(tmp_path, exchange, bots):
    """Down for 60 candles while its orders kept trading: on restart it takes the missed candles and trades
    in one go, and its books match the exchange's again."""
    ex = exchange()
    bot = bots(tmp_path, ex.base)
    bot.start()
    drive(ex, bot, 40)
    bot.kill()
    ex.admin.step(candles=60)
    bot.start()
    bot.wait(100)
    for k in range(20):
        ex.admin.step(candles=1)
        bot.wait(101 + k)
    judge_against_the_exchange(ex, bot)
    assert bot.term() == 0


def test_a_live_bots_endpoints_agree_with_the_exchange_and_show_a_manual_halt(tmp_path, exchange, bots):
    port = free_port()
    ex = exchange()
    bot = bots(tmp_path, ex.base, run={"http_port": port})
    bot.start()
    drive(ex, bot, 60)
    code, body = get(port, "/readyz")
    assert (code, body) == (200, "trading\n"), body
    code, body = get(port, "/healthz")
    assert code == 200, body
    assert body.startswith("heartbeat "), body
    code, text = get(port, "/metrics")
    assert code == 200
    resting = ex.orders()
    open_on_exchange = [o for o in resting if o["status"] in ("NEW", "PARTIALLY_FILLED")]
    for side in ("buy", "sell"):
        n = sum(1 for o in open_on_exchange if o["side"] == side.upper())
        assert sample(text, "gridbot_open_orders", f'side="{side}"') == n
    s = bot.status()
    assert sample(text, "gridbot_equity_quote") == pytest.approx(s["end_equity"], abs=0.01)
    assert sample(text, "gridbot_start_equity_quote") == pytest.approx(s["start_equity"], abs=0.01)
    assert sample(text, "gridbot_round_trips_total") == s["round_trips"]
    assert sample(text, "gridbot_fills_total", 'side="buy"') + sample(
        text, "gridbot_fills_total", 'side="sell"'
    ) == len(ex.trades())
    assert sample(text, "gridbot_halted") == 0
    code, body = get(port, "/status")
    assert code == 200
    assert json.loads(body)["mode"] == "live"

    halt = [sys.executable, "-m", "gridbot.cli", "halt", "-c", str(bot.cfg), "--reason", "maint"]
    out = subprocess.run(halt, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    ex.admin.step(candles=1)
    deadline = time.monotonic() + 10
    while sample(get(port, "/metrics")[1], "gridbot_halted") != 1:
        assert time.monotonic() < deadline, "the running bot never showed the halt"
        time.sleep(0.05)
    assert sample(get(port, "/metrics")[1], "gridbot_halt_reason", 'reason="maint"') == 1
    code, body = get(port, "/readyz")
    assert code == 200, body  # a halted bot is not a broken one
    assert body.startswith("halted: "), body
    assert "maint" in body, body
    assert bot.term() == 0
    with pytest.raises(urllib.error.URLError, match="Connection refused"):
        get(port, "/healthz")  # the server went with the process


class _Later:
    """The loop's clock moved `ahead` seconds: a price feed that has stalled that long, without the wait."""

    def __init__(self, ahead: float) -> None:
        self.ahead = ahead

    def monotonic(self) -> float:
        return time.monotonic() + self.ahead

    def time(self) -> float:
        return time.time()


def test_a_stalled_price_feed_halts_new_orders(tmp_path, exchange, bots, monkeypatch):
    """No new closed candle for longer than risk.max_price_age after the timeframe: trading halts, named."""
    ex = exchange()
    cfg = load_config(bots(tmp_path, ex.base, risk={"max_price_age": "30m"}).cfg)
    metrics = Metrics()
    store = open_store(cfg)
    try:
        t = live_trader.LiveTrader(cfg, run.make_venue(cfg, metrics), store, metrics)
        for k in range(3):
            ex.admin.step(candles=1)
            t.step(full=k == 0)
        assert store.halt_state() is None
        placed = len(ex.orders())
        assert placed > 0
        monkeypatch.setattr(trader, "time", _Later(30 * 60 + 5 * 60 - 5))
        t.step(full=False)
        assert store.halt_state() is None, "within the allowed age: 30m after the 5m candle"
        monkeypatch.setattr(trader, "time", _Later(30 * 60 + 5 * 60 + 5))
        t.step(full=False)
        halt = store.halt_state()
        assert halt is not None
        assert halt.reason.startswith("stale price: no new closed candle for 210")  # 2105 s + ms
        assert "risk.max_price_age 30m after the 5m candle" in halt.reason
        t.step(full=False)
        assert len(ex.orders()) == placed, "nothing new while halted"
    finally:
        store.close()


def test_the_error_window_is_the_last_hour_and_ignores_a_stepped_clocks_future():
    """A Pi without an RTC steps its clock at boot: errors stamped ahead of now do not fill the budget."""
    now = 1_000_000.0
    stamps = [now + 3600, now - 3601, now - 10, now - 3600, now + 30]
    assert guards.within_the_hour(stamps, now) == [now - 3600, now - 10, now + 30]


@pytest.mark.parametrize("dies", ["before the cancel is sent", "after the cancel's answer"])
def test_a_fill_while_down_after_a_committed_cancel_is_recorded_once(tmp_path, exchange, bots, dies):
    """A cancel committed, the process dies (before sending it, or after the exchange answered that the order
    had filled), the order fills while the bot is down: the restarted bot (a fresh adapter, which has seen
    no answer naming the order) books the exchange's trade, once, from the store's exchange order ids."""
    ex = exchange()
    cfg = load_config(bots(tmp_path, ex.base).cfg)
    store = open_store(cfg)
    try:
        m1 = Metrics()
        t1 = live_trader.LiveTrader(cfg, run.make_venue(cfg, m1), store, m1)
        for k in range(3):
            ex.admin.step(candles=1)
            t1.step(full=k == 0)
        assert ex.orders()
        assert not ex.trades()
        t1.book.cancel_all()  # as a regrid or `gridbot halt --cancel` decides
        with store.cycle():
            t1._commit_actions()
            t1._save_snapshot()
        k = 0
        while not ex.trades():
            ex.admin.step(candles=1)
            k += 1
            assert k < 100, "an order of the grid fills"
        if dies == "after the cancel's answer":
            t1._send()  # the filled order's cancel fails, its lookup says closed, its trade read, not booked
            # not finished until its trade is booked: the restart finds it among the cancels, reads it again
            by = store.con.execute("SELECT status, count(*) FROM orders GROUP BY status").fetchall()
            statuses = dict(by)
            assert statuses.get("cancel") == 1, statuses
            assert "closed" not in statuses, statuses
        m2 = Metrics()
        t2 = live_trader.LiveTrader(cfg, run.make_venue(cfg, m2), store, m2)
        for j in range(3):
            t2.step(full=j == 0)
        trades = ex.trades()
        recorded = [r[0] for r in store.con.execute("SELECT trade_id FROM fills")]
        assert sorted(recorded) == sorted(str(t["id"]) for t in trades)
        (cid,) = {r[0] for r in store.con.execute("SELECT client_id FROM fills")}
        row = store.order_row(cid)
        status, filled = row[7], row[6]
        assert status == "closed"
        assert Decimal(filled) == sum(Decimal(str(t["qty"])) for t in trades)
        bal = ex.admin.call("GET", "balances")["accounts"][KEY]["BTC"]  # type: ignore[index]
        held = Decimal(str(bal["free"])) + Decimal(str(bal["locked"]))
        assert t2.engine.portfolio.base == pytest.approx(float(held), abs=1e-8)
        assert not store.con.execute("SELECT 1 FROM orders WHERE status IN ('open', 'cancel')").fetchall()
    finally:
        store.close()


def test_the_backtest_and_the_live_bot_halt_on_the_same_drawdown_with_the_same_ledger(
    tmp_path, exchange, bots
):
    """One engine, one set of rules: `gridbot backtest` over the crash's candles and a live bot trading them
    on the local exchange book the same fills and halt on the same candle for the same reason (the
    drawdown, judged by the engine candle by candle in both); after the halt neither books anything more."""
    from gridbot.ops.backtest import backtest  # noqa: PLC0415

    crash = _crash_path(tmp_path)
    ex = exchange("--data", str(crash))
    bot = bots(tmp_path / "live", ex.base, risk={"max_drawdown_pct": 5})
    summary = backtest(load_config(bot.cfg), str(crash), tmp_path / "t.csv", None, show_progress=False)
    with (tmp_path / "t.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert summary["halted"].startswith("max drawdown"), summary
    bot.start()
    k = drive_until_halted(ex, bot, 55, "the live bot must halt where the backtest did")
    judge_against_the_exchange(ex, bot)
    for _ in range(5):  # the market goes on: the halted bot books nothing more, as the backtest
        ex.admin.step(candles=1)
        time.sleep(0.1)
    s = bot.status()
    assert s["halted"] == summary["halted"]
    assert s["halted_at"] == summary["halted_at"]
    assert s["end"] == summary["halted_at"], f"halted on candle {k}, where the backtest did"
    want = [(r["side"], Decimal(r["price"]).normalize(), Decimal(r["amount"]).normalize()) for r in rows]
    assert len(want) >= 4
    assert final_fills(bot) == want
    assert s["realized_pnl"] == pytest.approx(summary["realized_pnl"], abs=0.011)
    assert bot.term() == 0


def test_halt_cancel_on_a_stopped_bot_says_when_and_a_resume_carries_the_cancel_out(tmp_path, exchange, bots):
    """`halt --cancel` on a stopped bot says its orders stay on the exchange until it starts; a `resume`
    before then does not drop the cancel: at its start the bot cancels every resting order and places its
    grid again at once, around the price, before any new candle (the exchange judges)."""
    ex = exchange()
    bot = bots(tmp_path, ex.base, regrid={"cooldown": "1d"})
    bot.start()
    drive(ex, bot, 8)
    assert bot.term() == 0
    before = {o["clientOrderId"] for o in ex.orders() if o["status"] == "NEW"}
    assert before

    def cli(*args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "gridbot.cli", *args, "-c", str(bot.cfg)],
                             capture_output=True, text=True, check=False)  # fmt: skip
        assert out.returncode == 0, out.stderr
        return out.stdout

    said = cli("halt", "--cancel", "--reason", "by hand")
    assert "cancelled when it starts (it is not running: until then they stay on the exchange)" in said
    assert {o["clientOrderId"] for o in ex.orders() if o["status"] == "NEW"} == before, "nothing happens yet"
    said = cli("resume")
    assert "was halted: by hand" in said
    assert "the halt asked to cancel its resting orders: cancelled when it starts" in said
    bot.start()
    deadline = time.monotonic() + 10
    while not (resting := [o for o in ex.orders() if o["status"] == "NEW"]) or before & {
        o["clientOrderId"] for o in resting
    }:
        assert time.monotonic() < deadline, f"old orders kept or no new grid: {resting}"
        time.sleep(0.05)
    assert all(o["status"] == "CANCELED" for o in ex.orders() if o["clientOrderId"] in before)
    buys = [float(o["price"]) for o in resting if o["side"] == "BUY"]
    sells = [float(o["price"]) for o in resting if o["side"] == "SELL"]
    assert buys
    assert not sells or max(buys) < min(sells)
    assert bot.status()["candles"] == 8, "placed at once, no candle taken"
    assert not bot.status()["halted"]
    assert "its orders cancelled (the halt's cancel was still owed)" in bot.log.read_text()
    assert ex.admin.call("GET", "duplicates")["count"] == 0  # type: ignore[index]
    assert {o["clientOrderId"] for o in ex.orders()} <= {
        r[0] for r in bot.query("SELECT client_id FROM orders")
    }
    assert bot.term() == 0
