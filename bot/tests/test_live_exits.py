"""Live exits: a stop-loss or take-profit cancels the bot's orders, sells its own inventory (never the
account's other coins) at market with the taker fee and halts with the reason, exactly once across a
SIGKILL between the cancels and the sale. Real `gridbot run` processes against the local exchange, judged
from its admin API."""

import time
from decimal import ROUND_FLOOR, Decimal

import pytest
from live_harness import Bot, Exchange, drive

START_MS = 1_735_689_600_000  # the exchange's clock starts at the data's first candle
FIVE_MIN = 300_000
# A grid centred on 60000 (6 levels over 2%: buys at 59408.9, 59644.6, 59881.3, sells above at 60118.9...):
# a dip fills the 59881.3 buy (its counter-sell rests at 60118.9), then candle 6 either falls through the
# stop (two more buys fill on the way) or rises to the take-profit, below that counter-sell.
CALM = [(60000, 60010, 59990, 60000)] * 4 + [(60000, 60000, 59700, 59800), (59800, 59950, 59800, 59950)]
EXITS = {
    "stop_loss": ({"stop_loss": 58000}, (59950, 59950, 57500, 57600), "stop_loss at 58000"),
    "take_profit": ({"take_profit": 60080}, (59950, 60090, 59950, 60085), "take_profit at 60080"),
}
OTHER_BTC = Decimal("0.5")  # the account's own coins, not the bot's


def _path(tmp_path, exit_candle: tuple[float, ...]) -> str:
    last = exit_candle[3]
    rows = [*CALM, exit_candle] + [(last, last + 1, last - 1, last)] * 20
    path = tmp_path / "path.csv"
    path.write_text(
        "".join(f"{START_MS + i * FIVE_MIN},{o},{h},{lo},{c},1\n" for i, (o, h, lo, c) in enumerate(rows))
    )
    return str(path)


def _exit_rows(bot: Bot) -> list[tuple]:
    return bot.query("SELECT client_id, status FROM orders WHERE level = -1 ORDER BY created")


def _until(what, why: str, bot: Bot, timeout: float = 15.0, alive: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert not alive or bot.proc is None or bot.proc.poll() is None, bot.log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"{why}: {bot.status()} {_exit_rows(bot)}"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("kind", "fault"),
    [
        ("stop_loss", {"kind": "hang", "seconds": 20}),  # the sale never reached the exchange
        ("take_profit", {"kind": "latency", "ms": 1500}),  # it did, its answer never reached the bot
    ],
)
def test_an_exit_sells_the_bots_inventory_once_across_a_sigkill_and_halts(
    tmp_path, exchange, bots, kind, fault
):
    exits, candle, reason = EXITS[kind]
    ex: Exchange = exchange("--data", _path(tmp_path, candle), "--balance", f"BTC={OTHER_BTC}")
    bot: Bot = bots(tmp_path, ex.base, exits=exits, run={"unknown_order_deadline_s": 1})
    bot.start()
    drive(ex, bot, 6)
    bought = [t for t in ex.trades() if t["isBuyer"]]
    assert bought, "the dip filled a buy"
    ex.admin.fault(**fault, path="/api/v3/order", method="POST", count=1)
    ex.admin.step(candles=1)

    def cancelled_and_sale_committed() -> bool:
        mine = [o for o in ex.orders() if o["status"] == "NEW"]
        return not mine and bool(_exit_rows(bot))

    _until(
        cancelled_and_sale_committed, "the cancels go out first, the sale is committed before it is sent", bot
    )
    time.sleep(0.1)  # the sale is on the wire, held by the fault
    bot.kill()
    if fault["kind"] == "latency":  # the exchange executes it after the delay, with nobody listening
        _until(
            lambda: any(o["type"] == "MARKET" for o in ex.orders()),
            "the delayed sale executes",
            bot,
            alive=False,
        )
    held = sum(Decimal(t["qty"]) - Decimal(t["commission"]) for t in ex.trades() if t["isBuyer"]) - sum(
        Decimal(t["qty"]) for t in ex.trades() if not t["isBuyer"] and t["orderId"] not in market_ids(ex)
    )
    bot.start()
    busy = "SELECT 1 FROM orders WHERE status IN ('intent', 'unknown', 'open')"
    _until(lambda: bot.status().get("halted") == reason and not bot.query(busy), "the exit finishes", bot)
    drive(ex, bot, 2, seen=7)
    sales = [o for o in ex.orders() if o["type"] == "MARKET"]
    assert len(sales) == 1, sales
    sale = sales[0]
    assert sale["side"] == "SELL"
    assert sale["status"] == "FILLED"
    step = Decimal("0.00001")
    assert Decimal(sale["executedQty"]) == (held / step).to_integral_value(ROUND_FLOOR) * step, (
        "the bot's own"
    )
    assert [o for o in ex.orders() if o["status"] == "NEW"] == [], "nothing rests after the exit"
    fee = sum(Decimal(t["commission"]) for t in ex.trades() if t["orderId"] == sale["orderId"])
    assert fee == (Decimal(sale["cummulativeQuoteQty"]) * Decimal("0.001")).quantize(fee), "the taker fee"
    bal = ex.admin.call("GET", "balances")["accounts"]["bot-1"]["BTC"]  # type: ignore[index]
    btc = Decimal(str(bal["free"])) + Decimal(str(bal["locked"]))
    s = bot.status()
    assert s["halted"] == reason
    assert btc - OTHER_BTC == pytest.approx(Decimal(str(s["base_held"])), abs=Decimal("1e-8")), "others' kept"
    assert s["base_held"] < 0.00001, "all the bot held, to the lot step"
    recorded = sorted(r[0] for r in bot.query("SELECT trade_id FROM fills"))
    assert recorded == sorted(str(t["id"]) for t in ex.trades()), "every trade booked once"
    assert len(_exit_rows(bot)) == (2 if fault["kind"] == "hang" else 1), (
        "sent again only if it never arrived"
    )
    assert bot.term() == 0


def market_ids(ex: Exchange) -> set[int]:
    return {o["orderId"] for o in ex.orders() if o["type"] == "MARKET"}


def test_a_store_restored_from_before_an_exit_books_that_sale_and_sells_nothing_more(
    tmp_path, exchange, bots
):
    """The bot stops out after its last backup, then its Pi dies; the replacement starts from the backup,
    replays the candles since and decides the same exit. The sale the bot before it sent stands for that
    decision: booked, never sent again (the account's other coins are not the bot's to sell), and halted."""
    exits, candle, reason = EXITS["stop_loss"]
    ex: Exchange = exchange("--data", _path(tmp_path, candle), "--balance", f"BTC={OTHER_BTC}")
    bot: Bot = bots(tmp_path, ex.base, exits=exits)
    bot.start()
    drive(ex, bot, 3)
    copy = bot.backup()
    drive(ex, bot, 4, seen=3)
    _until(lambda: bot.status().get("halted") == reason and len(market_ids(ex)) == 1, "the exit", bot)
    bot.kill()
    bot.restore(copy)
    bot.start()
    _until(lambda: bot.status().get("halted") == reason, "the restored bot halts on the same exit", bot)
    drive(ex, bot, 2, seen=7)
    assert len(market_ids(ex)) == 1, "the exit's sale was sent again"
    (sale,) = [o for o in ex.orders() if o["type"] == "MARKET"]
    log = bot.log.read_text()
    assert f"recording our exit sale {sale['clientOrderId']} the store did not know" in log
    assert "did not decide it again" not in log, "the replayed exit took the sale over"
    bal = ex.admin.call("GET", "balances")["accounts"]["bot-1"]["BTC"]  # type: ignore[index]
    btc = Decimal(str(bal["free"])) + Decimal(str(bal["locked"]))
    s = bot.status()
    assert btc - OTHER_BTC == pytest.approx(Decimal(str(s["base_held"])), abs=Decimal("1e-8")), "others' kept"
    recorded = sorted(r[0] for r in bot.query("SELECT trade_id FROM fills"))
    assert recorded == sorted(str(t["id"]) for t in ex.trades()), "every trade booked once"
    assert bot.term() == 0
