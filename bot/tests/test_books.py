"""The bot's books against the exchange's, whatever the exchange does: real `gridbot run` processes against
the local exchange (the live harness), judged from the exchange's admin API."""

import random
import re
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal

import pytest
from gridbot_exchange.testing import Admin
from live_harness import KEY, Bot, Exchange, drive, judge_against_the_exchange

from gridbot.config.model import load_config
from gridbot.live import run
from gridbot.live.client_ids import parse_client_id
from gridbot.ops.metrics import Metrics


def cancel_everything(bot: Bot) -> int:
    """The operator takes the bot's orders off the exchange (its own ccxt client): how many."""
    cfg = load_config(bot.cfg)
    venue = run.make_venue(cfg, Metrics())
    venue.load_market(cfg.market.symbol)
    open_now = venue.open_orders()
    for o in open_now:
        venue.cancel(o.client_id)
    return len(open_now)


def test_client_ids_stay_unique_after_the_state_is_reset(tmp_path, exchange, bots):
    """The operator stops the bot, cancels its orders and starts it afresh on an empty state directory: the
    new sequence starts at 1 again, and no client id is used twice on the exchange."""
    ex: Exchange = exchange()
    first: Bot = bots(tmp_path / "before", ex.base)
    first.start()
    drive(ex, first, 10)
    assert first.term() == 0
    assert cancel_everything(first) > 0
    again: Bot = bots(tmp_path / "after", ex.base)
    again.start()
    drive(ex, again, 10)
    placed = [o["clientOrderId"] for o in ex.orders()]
    assert len(placed) >= 6
    dup = Admin(ex.base).call("GET", "duplicates")
    assert dup["count"] == 0, dup  # type: ignore[index]
    assert again.term() == 0


def one_order_per_level(ex: Exchange) -> list[tuple[int, int]]:
    """Levels holding more than one of the bot's visible open orders (a level is taken by its buy or by the
    sell above it)."""
    taken: Counter[int] = Counter()
    for o in ex.orders():
        if o["status"] in ("NEW", "PARTIALLY_FILLED") and o["visible"]:
            parsed = parse_client_id("gridbot", o["clientOrderId"])
            assert parsed is not None, o
            level, side = parsed
            taken[level if side == "buy" else level - 1] += 1
    return [(level, n) for level, n in taken.items() if n > 1]


def step_through(ex: Exchange, bot: Bot, candles: int, on_step=None, seen: int = 0, after=None) -> None:
    """`drive`, for a bot with an order whose outcome stays unknown while the clock moves: each candle
    once the bot has decided on it, unknown orders or not (then `after(k)`); settled at the end."""
    for k in range(candles):
        ex.admin.step(candles=1)
        if on_step is not None:
            on_step(k)
        wait_for(bot, lambda k=k: bot.status().get("candles", 0) >= seen + k + 1, f"candle {seen + k + 1}")
        if after is not None:
            after(k)
    bot.wait(seen + candles)


def wait_for(bot: Bot, done, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert bot.proc is not None
        assert bot.proc.poll() is None, bot.log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"bot not at {what}: {bot.status()}"
        time.sleep(0.01)


def lose_the_next_create(ex: Exchange, seconds: int) -> None:
    """The next create's answer dropped and that order (with its trades) invisible for `seconds` of market
    time: both rules set at once, or an order created between two calls would be dropped but not hidden."""
    ex.admin.faults(
        {"kind": "drop", "path": "/api/v3/order", "method": "POST", "count": 1},
        {"kind": "invisible", "seconds": seconds, "clock": "market", "count": 1},
    )


VOLATILE = ("--start-candle", "4001")  # a stretch where the grid trades every few candles


def kill_or_drop(ex: Exchange, bot: Bot, rnd: random.Random, k: int) -> None:
    """A chaos session's candle `k`: every ninth a SIGKILL mid-cycle and a restart; one in five a create's
    answer dropped."""
    if k % 9 == 4:
        time.sleep(rnd.uniform(0.0, 0.05))
        bot.kill()
        bot.start()
    if rnd.random() < 0.2:
        ex.admin.fault(kind="drop", path="/api/v3/order", method="POST", count=1)


def test_a_fill_of_an_order_whose_answer_was_lost_and_that_lagged_is_booked(tmp_path, exchange, bots):
    """A create's answer dropped and the order (with its trades) invisible for 12 candles of market time,
    within the unknown-order deadline; meanwhile other orders of the bot fill. Every trade is booked once,
    the order's row holds what it executed."""
    ex = exchange(*VOLATILE)
    bot = bots(tmp_path, ex.base, run={"unknown_order_deadline_s": 60.0, "reconcile_every": 1})
    bot.start()
    bot.wait(1)

    def lose_one(k: int) -> None:
        if k == 2:
            lose_the_next_create(ex, seconds=3600)

    step_through(ex, bot, 40, lose_one, seen=1)
    (lagged,) = re.findall(r"order (\S+): outcome unknown", bot.log.read_text())
    trades = ex.trades()
    (order,) = [o for o in ex.orders() if o["clientOrderId"] == lagged]
    own = [t["id"] for t in trades if t["orderId"] == order["orderId"]]
    assert own, "the order whose answer was lost filled"
    assert any(t["id"] > min(own) and t["orderId"] != order["orderId"] for t in trades), "and others after it"
    judge_against_the_exchange(ex, bot)
    ((filled,),) = bot.query(f"SELECT filled FROM orders WHERE client_id = '{lagged}'")
    assert Decimal(filled) == Decimal(order["executedQty"]) > 0
    assert bot.term() == 0


@pytest.mark.parametrize(("lose_at", "hidden_candles"), [(2, 60), (9, 12)])
def test_an_order_declared_lost_that_turns_up_later_is_adopted(
    tmp_path, exchange, bots, lose_at, hidden_candles
):
    """A create's answer dropped and the order invisible for hours of market time, past the unknown-order
    deadline: the bot places the level again; when the first order turns up it takes its replacement's
    place, or, the level having moved on meanwhile, it is cancelled. Never two of the bot's orders on one
    level once the bot has settled, every fill booked."""
    ex = exchange(*VOLATILE)
    bot = bots(tmp_path, ex.base, run={"unknown_order_deadline_s": 0.5, "reconcile_every": 1})
    bot.start()
    bot.wait(1)
    crowded: list[tuple[int, int]] = []

    def lose_one(k: int) -> None:
        if k == lose_at:
            lose_the_next_create(ex, seconds=hidden_candles * 300)

    def check(k: int) -> None:
        log = bot.log.read_text()
        if "outcome unknown" in log and "not on the exchange" not in log:
            # the market waits for the deadline to pass: the bot places the level again
            wait_for(bot, lambda: "placing it again" in bot.log.read_text(), "the order declared lost")
        if bot.settled(k + 2):
            crowded.extend(one_order_per_level(ex))

    step_through(ex, bot, 100, lose_one, seen=1, after=check)
    assert crowded == []
    assert one_order_per_level(ex) == []
    judge_against_the_exchange(ex, bot)
    log = bot.log.read_text()
    (lost,) = re.findall(r"order (\S+): not on the exchange \d+s after it was sent: placing it again", log)
    assert f"order {lost}, declared lost, is on the exchange after all" in log
    assert bot.term() == 0


def test_a_cancel_of_an_order_not_shown_yet_is_repeated_after_a_restart_until_it_shows(
    tmp_path, exchange, bots
):
    """The exchange accepted an order but does not show it yet (its visibility lag); the bot cancels it (a
    halt with --cancel) and is killed before the cancel got through. After the restart neither the cancel
    nor a lookup finds the order: that is the lag, not a cancel, so the bot keeps at it, and the order is
    cancelled once it shows; it never rests on the exchange behind the bot's back."""
    ex = exchange()
    bot = bots(tmp_path, ex.base, run={"unknown_order_deadline_s": 600.0, "reconcile_every": 1})
    ex.admin.fault(kind="invisible", seconds=300, clock="market", count=1)  # the first create, for a candle
    bot.start()
    ex.admin.step(candles=1)  # the candle the bot places its grid on

    def unseen() -> list[str]:
        return [o["clientOrderId"] for o in ex.orders() if not o["visible"]]

    wait_for(bot, unseen, "an order placed and not shown")
    (cid,) = unseen()

    def status() -> str | None:
        rows = bot.query(f"SELECT status FROM orders WHERE client_id = '{cid}'")
        return rows[0][0] if rows else None

    wait_for(bot, lambda: status() == "open", "its answer recorded")
    halt = [sys.executable, "-m", "gridbot.cli", "halt", "-c", str(bot.cfg), "--reason", "x", "--cancel"]
    assert subprocess.run(halt, capture_output=True, check=False).returncode == 0
    wait_for(bot, lambda: status() == "cancel", "its cancel decided")
    bot.kill()
    bot.start()
    since = time.time()
    for _ in range(2):  # a halted cycle saves its snapshot, then sends its cancels: the second save is after
        wait_for(bot, lambda since=since: bot.status()["saved"] > since, "a halted cycle after the restart")
        since = bot.status()["saved"]
    assert status() == "cancel", "an order the exchange accepted is not cancelled until the exchange says so"
    ex.admin.step(candles=1)  # the order shows
    wait_for(bot, lambda: status() == "canceled", "the cancel carried out")
    (order,) = [o for o in ex.orders() if o["clientOrderId"] == cid]
    assert order["status"] == "CANCELED"
    assert [o for o in ex.orders() if o["status"] in ("NEW", "PARTIALLY_FILLED")] == []
    assert bot.term() == 0


def test_a_fill_made_unseen_is_booked_when_the_bot_is_killed_right_after_the_order_showed(
    tmp_path, exchange, bots
):
    """An order the exchange does not show for 60 candles is declared lost and fills meanwhile; the bot's
    other trades move its trade cursor past that fill. When the order shows, the bot adopts it and is killed
    before the fill was booked (the exchange's candles failing in that cycle). After the restart the fill
    is booked all the same: the books end as the exchange's."""
    ex = exchange(*VOLATILE)
    bot = bots(tmp_path, ex.base, run={"unknown_order_deadline_s": 0.5, "reconcile_every": 1})
    bot.start()
    bot.wait(1)
    hide = 60
    ex.admin.fault(kind="invisible", seconds=hide * 300, clock="market", count=1)
    seen = 1
    while not (unseen := [o for o in ex.orders() if not o["visible"]]):
        step_through(ex, bot, 1, seen=seen)
        seen += 1
    (order,) = unseen
    shows_at = order["time"] + hide * 300_000
    while int(ex.admin.step()["market_ms"]) + 300_000 < shows_at:  # type: ignore[call-overload]
        step_through(ex, bot, 1, seen=seen)
        seen += 1
    (hidden,) = [o for o in ex.orders() if o["clientOrderId"] == order["clientOrderId"]]
    assert hidden["status"] == "FILLED", "the order filled"
    assert not hidden["visible"], "unseen"
    its = [t["id"] for t in ex.trades() if t["orderId"] == hidden["orderId"]]
    booked = [int(r[0]) for r in bot.query("SELECT trade_id FROM fills")]
    assert its
    assert max(booked) > max(its), "the bot booked later trades: its cursor is past the unseen fill"
    ex.admin.fault(kind="status", status=503, path="/api/v3/klines")
    ex.admin.step(candles=1)  # the order shows
    # adopted and committed to be cancelled (the level moved on), its fill read but not yet booked
    adopted = f"SELECT 1 FROM orders WHERE client_id = '{order['clientOrderId']}' AND status = 'cancel'"
    wait_for(bot, lambda: bot.query(adopted), "the order adopted")
    bot.kill()
    ex.admin.call("DELETE", "faults")
    bot.start()
    step_through(ex, bot, 3, seen=seen)
    settle(ex, bot, seen + 3)
    judge_books(ex, bot)
    assert bot.term() == 0


def settle(ex: Exchange, bot: Bot, candles: int) -> None:
    """Until the bot has booked every trade: one placed marketable on the last candle is booked when its
    candle closes, so the market moves on a candle at a time (a few at most)."""
    for k in range(4):
        wait_for(bot, lambda k=k: bot.settled(candles + k), "the end")
        if len(bot.query("SELECT trade_id FROM fills")) == len(ex.trades()):
            return
        ex.admin.step(candles=1)


def judge_books(ex: Exchange, bot: Bot, restored: bool = False, base: str = "BTC") -> None:
    """From the exchange's side: the bot's ledger is the account's trades fill for fill (side, price,
    quantity, fee asset and amount), no client id used twice, no order it does not know, and its holdings
    (base and quote) are the account's balances. A store `restored` from a backup never hears of an order
    placed and cancelled after the backup without a fill: one that changed nothing."""
    dup = Admin(ex.base).call("GET", "duplicates")
    assert dup["count"] == 0, dup  # type: ignore[index]
    known = {r[0] for r in bot.query("SELECT client_id FROM orders")}
    unknown = [o for o in ex.orders() if o["clientOrderId"] not in known]
    if restored:
        unknown = [o for o in unknown if o["status"] != "CANCELED" or Decimal(o["executedQty"]) != 0]
    assert unknown == []
    mine = sorted(
        (int(tid), side, Decimal(p), Decimal(q), Decimal(f), c)
        for tid, side, p, q, f, c in bot.query(
            "SELECT trade_id, side, price, qty, fee, fee_currency FROM fills"
        )
    )
    theirs = sorted(
        (t["id"], "buy" if t["isBuyer"] else "sell", Decimal(t["price"]), Decimal(t["qty"]),
         Decimal(t["commission"]), t["commissionAsset"])
        for t in ex.trades()
    )  # fmt: skip
    assert mine == theirs
    # each order's executed quantity as the store records it is the exchange's (an adopted order's earlier
    # part counted once)
    recorded = dict(bot.query("SELECT client_id, filled FROM orders"))
    executed = {
        o["clientOrderId"]: Decimal(o["executedQty"]) for o in ex.orders() if o["clientOrderId"] in recorded
    }
    assert {cid: Decimal(recorded[cid]) for cid in executed} == executed
    # and its state: an order filled is closed in the store, one resting is open
    state = dict(bot.query("SELECT client_id, status FROM orders"))
    want = {"FILLED": "closed", "NEW": "open", "PARTIALLY_FILLED": "open"}
    seen = [(o["status"], state[o["clientOrderId"]]) for o in ex.orders() if o["clientOrderId"] in state]
    wrong = [(theirs, mine) for theirs, mine in seen if want.get(theirs, mine) != mine]
    assert wrong == []
    bal = Admin(ex.base).call("GET", "balances")["accounts"][KEY]  # type: ignore[index]
    held = {a: Decimal(str(bal[a]["free"])) + Decimal(str(bal[a]["locked"])) for a in (base, "USDT")}

    wait_for(
        bot, lambda: bot.status()["base_held"] == pytest.approx(float(held[base]), abs=1e-8), f"its {base}"
    )

    def agree() -> bool:  # the status the bot saved is a cycle behind its books: the next one agrees
        h = bot.status()["holdings"]
        return h is not None and (  # None: a restarted bot has not compared them yet
            all(abs(Decimal(h[a]["bot"]) - held[a]) <= Decimal("1e-6") for a in held)
            and h["drift_pct"] < 1e-3
        )

    deadline = time.monotonic() + 10
    while not agree() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert agree(), (bot.status().get("holdings"), held)


def test_a_chaos_session_ends_with_the_exchanges_books(tmp_path, exchange, bots):
    """SIGKILLs at random moments, create answers dropped, orders (with their trades) invisible for 2 to 20
    candles of market time, far past the unknown-order deadline: the bot's books end as the exchange's."""
    ex = exchange(*VOLATILE, "--fault", "latency:ms=20,path=/api/v3/order")
    bot = bots(tmp_path, ex.base, run={"unknown_order_deadline_s": 0.5, "reconcile_every": 1})
    bot.start()
    bot.wait(1)
    rnd = random.Random(36)
    crowded: list[tuple[int, int]] = []
    kills = lost = hidden = 0

    def chaos(k: int) -> None:
        nonlocal kills, lost, hidden
        roll = rnd.random()
        if k % 9 == 4:
            time.sleep(rnd.uniform(0.0, 0.05))  # mid-cycle
            bot.kill()
            kills += 1
            bot.start()
        if roll < 0.2:
            ex.admin.fault(kind="drop", path="/api/v3/order", method="POST", count=1)
            lost += 1
        elif roll < 0.4:
            ex.admin.fault(kind="invisible", seconds=rnd.randint(2, 20) * 300, clock="market", count=1)
            hidden += 1

    def check(k: int) -> None:
        if bot.settled(k + 2):
            crowded.extend(one_order_per_level(ex))

    n = 45
    step_through(ex, bot, n, chaos, seen=1, after=check)
    ex.admin.call("DELETE", "faults")
    ex.admin.step(candles=21)  # every hidden order shows again
    settle(ex, bot, n + 22)
    print(f"chaos: {kills} kills, {lost} answers dropped, {hidden} orders hidden, {len(ex.trades())} trades")
    assert kills >= 5
    assert lost >= 4
    assert hidden >= 4
    assert crowded == []
    judge_books(ex, bot)
    assert bot.term() == 0


def test_a_chaos_session_paying_fees_in_bnb_until_it_runs_out_ends_with_the_exchanges_books(
    tmp_path, exchange, bots
):
    """Fees in BNB until the account's BNB runs out, then in what each order received; SIGKILLs, dropped
    create answers, the order-rate limit hit (429 -1015) and the request-weight limit hit (429 -1003, on a
    2 s window: Binance's minute would make each wait up to a minute): the bot waits out each Retry-After and
    is never banned (418); the ledger is the exchange's fill for fill, fee asset and amount included, the
    holdings are the balances, and the BNB fees are valued at the exchange's BNB price at each fill."""
    # two unfilled orders per 10 s at first: the first grid's third order is refused (429 -1015); the weight
    # limit is off until candles 5-8, where 150 per 2 s is less than a bot cycling every 20 ms asks for
    limits = ("--rate-limits", "orders10s=2,weight=0,window=2")
    ex = exchange(*VOLATILE, "--fee-asset", "BNB", "--balance", "BNB=0.001", *limits)
    bot = bots(tmp_path, ex.base, run={"unknown_order_deadline_s": 0.5, "reconcile_every": 1})
    bot.start()
    bot.wait(1)
    rnd = random.Random(7)
    admin = Admin(ex.base)

    def chaos(k: int) -> None:
        kill_or_drop(ex, bot, rnd, k)
        if k == 3:
            admin.call("POST", "rate_limits", {"orders_10s": 100})
        if k in (5, 9):  # between two SIGKILLs: a restarted bot cannot know the Retry-After it was given
            admin.call("POST", "rate_limits", {"weight_1m": 150 if k == 5 else 0})

    n = 45
    step_through(ex, bot, n, chaos, seen=1)
    settle(ex, bot, n + 1)
    refused = admin.call("GET", "rate_limits")
    trades = ex.trades()
    print(f"bnb chaos: {len(trades)} trades, {sum(t['commissionAsset'] == 'BNB' for t in trades)} in BNB, "
          f"{refused['refused_orders']} orders and {refused['refused_429']} requests refused")  # fmt: skip
    assert refused["refused_orders"] >= 1  # type: ignore[index]
    assert refused["refused_429"] >= 1  # type: ignore[index]
    assert refused["refused_418"] == 0  # type: ignore[index]
    assert {t["commissionAsset"] for t in trades} == {"BNB", "BTC", "USDT"}
    judge_books(ex, bot)
    spent = sum(
        Decimal(t["commission"])
        * Decimal(str(admin.call("GET", f"fee_asset_price?time={t['time']}")["price"]))  # type: ignore[index]
        for t in trades
        if t["commissionAsset"] == "BNB"
    )
    s = bot.status()
    print(f"bnb chaos: BNB fees worth {spent:.4f} USDT; the bot: {s['fees_other_assets']} in other assets, "
          f"fees {s['fees']}, equity {s['end_equity']}, BTC {s['base_held']}")  # fmt: skip
    assert s["fees_other_assets"] == pytest.approx(float(spent), abs=0.006)
    assert bot.term() == 0


def test_a_chaos_session_on_bnb_usdt_paying_fees_in_bnb_ends_with_the_exchanges_books(
    tmp_path, exchange, bots
):
    """ "Pay fees with BNB" on BNB/USDT: every commission in BNB, the market's own base, a sell's too (the
    engine used to book a sell's as a third asset's and keep the BNB: its holdings past the account's).
    With SIGKILLs and dropped create answers, the ledger is the exchange's fill for fill and the holdings
    are the balances."""
    ex = exchange(*VOLATILE, "--symbol", "BNB/USDT", "--fee-asset", "BNB")
    bot = bots(tmp_path, ex.base, market={"symbol": "BNB/USDT"},
               run={"unknown_order_deadline_s": 0.5, "reconcile_every": 1})  # fmt: skip
    bot.start()
    bot.wait(1)
    rnd = random.Random(11)

    def chaos(k: int) -> None:
        kill_or_drop(ex, bot, rnd, k)

    n = 40
    step_through(ex, bot, n, chaos, seen=1)
    settle(ex, bot, n + 1)
    trades = ex.trades()
    sells_in_bnb = [t for t in trades if not t["isBuyer"] and t["commissionAsset"] == "BNB"]
    assert len(sells_in_bnb) >= 3, "too few sells paid in the base to prove anything"
    judge_books(ex, bot, base="BNB")
    assert bot.term() == 0


def test_a_store_restored_from_an_older_backup_books_every_fill_since_from_the_exchange(
    tmp_path, exchange, bots
):
    """A Pi dies and its replacement starts from the last backup: the bot that died traded on after it,
    placing orders the restored store never saw, some of them filled, some open. The restored bot takes them
    from the exchange: its ledger is the account's trades fill for fill, no client id made twice, its
    holdings the account's balances, and the grid trades on."""
    ex = exchange(*VOLATILE)
    bot = bots(tmp_path, ex.base, run={"reconcile_every": 2})
    bot.start()
    drive(ex, bot, 8)
    copy = bot.backup()
    at_backup = {str(t["id"]) for t in ex.trades()}
    known_then = {r[0] for r in bot.query("SELECT client_id FROM orders")}
    ((tag,),) = bot.query("SELECT value FROM cursors WHERE name = 'id_epoch'")
    # on until, after the backup, an order the backup holds has filled and its counter-order rests (the
    # restored bot will meet that fill again), and an order the backup does not hold has filled: then it dies
    seen = 8

    def unseen(status: str) -> list[dict]:
        return [o for o in ex.orders() if o["clientOrderId"] not in known_then and o["status"] == status]

    def refilled() -> bool:
        held = {o["orderId"] for o in ex.orders() if o["clientOrderId"] in known_then}
        return any(t["orderId"] in held for t in ex.trades() if str(t["id"]) not in at_backup)

    while not (unseen("FILLED") and unseen("NEW") and refilled()):
        assert seen < 80, "the orders after the backup never filled and rested as this test needs"
        drive(ex, bot, 1, seen=seen)
        seen += 1
    bot.kill()
    filled_unseen = unseen("FILLED")
    assert len(ex.trades()) > len(at_backup)

    bot.restore(copy)
    assert bot.query("SELECT value FROM cursors WHERE name = 'id_epoch'") == []
    bot.start()
    bot.wait(seen)
    step_through(ex, bot, 6, seen=seen)
    settle(ex, bot, seen + 6)
    judge_books(ex, bot, restored=True)
    log = bot.log.read_text()
    for o in filled_unseen:
        assert f"recording our order {o['clientOrderId']} " in log
    ((tag_now,),) = bot.query("SELECT value FROM cursors WHERE name = 'id_epoch'")
    assert tag_now != tag
    placed_after = [o["clientOrderId"] for o in ex.orders() if o["clientOrderId"].endswith(f"-{tag_now}")]
    assert placed_after, "the restored bot trades on"
    assert one_order_per_level(ex) == [], "the restored bot placed an order the bot before it had placed"
    assert bot.term() == 0


def test_a_restored_store_books_an_order_the_backup_did_not_hold_that_is_partly_filled(
    tmp_path, exchange, bots
):
    """As above, with orders filling a little per candle (the exchange's fill cap): when the bot dies, an
    order it placed after the backup rests partly filled. The restored bot adopts it from the exchange with
    what it executed, and the trade feed, read from the backup's cursor, brings those trades again: each is
    booked once, nothing is placed twice, and the books equal the exchange's."""
    ex = exchange(*VOLATILE, "--fill-cap", "0.0015")
    bot = bots(tmp_path, ex.base, run={"reconcile_every": 2})
    bot.start()
    drive(ex, bot, 8)
    copy = bot.backup()
    known_then = {r[0] for r in bot.query("SELECT client_id FROM orders")}
    seen = 8

    def partly() -> list[dict]:
        return [o for o in ex.orders() if o["clientOrderId"] not in known_then
                and o["status"] == "PARTIALLY_FILLED"]  # fmt: skip

    while not partly():
        assert seen < 120, "no order placed after the backup rested partly filled"
        drive(ex, bot, 1, seen=seen)
        seen += 1
    bot.kill()
    (half,) = partly()[:1]

    bot.restore(copy)
    bot.start()
    bot.wait(seen)
    # The market has not moved: once the restored bot has booked the order's trades, its record of what the
    # order executed is the exchange's, the earlier part counted once (adopted, then fed again: not twice).
    cid, executed = half["clientOrderId"], Decimal(half["executedQty"])
    sql = f"SELECT qty FROM fills WHERE client_id = '{cid}'"
    wait_for(bot, lambda: bot.query(sql), "the partly filled order's trades booked")
    assert sum(Decimal(q) for (q,) in bot.query(sql)) == executed
    ((filled,),) = bot.query(f"SELECT filled FROM orders WHERE client_id = '{cid}'")
    assert Decimal(filled) == executed
    # The replay decided it again, and it stands for that decision, still resting with what it has left
    # (placed again in full, it would sell what the earlier part sold already).
    (now,) = [o for o in ex.orders() if o["clientOrderId"] == cid]
    assert now["status"] == "PARTIALLY_FILLED"
    assert "insufficient funds" not in bot.log.read_text()
    step_through(ex, bot, 8, seen=seen)
    settle(ex, bot, seen + 8)
    judge_books(ex, bot, restored=True)
    assert f"{half['clientOrderId']} " in bot.log.read_text(), (
        "the restored bot never met the partly filled order"
    )
    assert one_order_per_level(ex) == [], "the restored bot placed an order the bot before it had placed"
    assert bot.term() == 0


def resting(ex: Exchange) -> list[tuple[str, str, str, str]]:
    """The bot's orders resting on the exchange: (client id, side, price, quantity as placed)."""
    return sorted(
        (o["clientOrderId"], o["side"], o["price"], o["origQty"])
        for o in ex.orders()
        if o["status"] in ("NEW", "PARTIALLY_FILLED")
    )


def test_a_restored_bot_replaying_across_regrids_trades_on_as_a_bot_that_never_died(tmp_path, exchange, bots):
    """The bot dies 12 candles after its backup, a regrid among them. The restored bot, replaying those
    candles, rests the very orders the bot before it left (found, and taken over when it decides them again:
    none cancelled and placed again, no level left empty), and through the regrids after, it trades as a bot
    that never died does on the same market (another exchange, the same candles): the same trades, the same
    grid resting at the end."""
    ex, twin = exchange(*VOLATILE), exchange(*VOLATILE)
    bot = bots(tmp_path / "restored", ex.base, run={"reconcile_every": 2})
    ref = bots(tmp_path / "ref", twin.base, run={"reconcile_every": 2})
    bot.start()
    drive(ex, bot, 8)
    copy = bot.backup()
    regrids = bot.status()["regrids"]
    drive(ex, bot, 12, seen=8)
    assert bot.status()["regrids"] > regrids, "no regrid in the candles the restored bot replays"
    left, regrids = resting(ex), bot.status()["regrids"]
    bot.kill()

    bot.restore(copy)
    bot.start()
    bot.wait(20)
    assert resting(ex) == left
    drive(ex, bot, 30, seen=20)  # each candle once the bot has placed its orders, as the twin's
    assert bot.status()["regrids"] > regrids, "no regrid after the restore"

    ref.start()
    drive(twin, ref, 50)

    def trades(x: Exchange) -> list[tuple]:
        return [(t["time"], t["isBuyer"], t["price"], t["qty"], t["commission"]) for t in x.trades()]

    assert trades(ex) == trades(twin)
    assert [o[1:] for o in resting(ex)] == [o[1:] for o in resting(twin)]
    judge_books(ex, bot, restored=True)
    assert bot.term() == 0
    assert ref.term() == 0
