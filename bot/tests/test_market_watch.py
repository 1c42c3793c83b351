"""The market as the exchange states it now (`live.market_watch`), judged from the local exchange: a market
halted mid-run pauses new orders without spending the error budget and trading resumes by itself when it
opens; a filter changed mid-run is read again on the refusal that names it and every later order follows it.
Before, both were refused orders counted against `risk.max_errors_per_hour`: the bot halted itself until a
person typed `gridbot resume`."""

import time
from decimal import Decimal

from live_harness import KEY, SECRET, Bot, Exchange, drive, fills_of

from gridbot.live.ccxt_venue import CcxtVenue


def operator(ex: Exchange) -> CcxtVenue:
    """The account's owner with ccxt: cancels one of the bot's orders from outside, as Binance lets during a
    halt, so that the bot wants to place one."""
    other = CcxtVenue("binance", "BTC/USDT", api_url=ex.base, api_key=KEY, secret=SECRET, throttle=False)
    other.load_market("BTC/USDT")
    return other


def resting_buys(ex: Exchange) -> list[dict]:
    return [o for o in ex.orders() if o["status"] == "NEW" and o["side"] == "BUY"]


def books_match(ex: Exchange, bot: Bot) -> None:
    """No client id twice, no order of the account the bot does not know, every trade booked once."""
    assert ex.admin.call("GET", "duplicates")["count"] == 0  # type: ignore[index]
    assert {o["clientOrderId"] for o in ex.orders()} <= {
        cid for (cid,) in bot.query("SELECT client_id FROM orders")
    }
    assert sorted(r[4] for r in fills_of(bot)) == sorted(str(t["id"]) for t in ex.trades())


def until(done, why: str, bot: Bot, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert bot.proc is not None
        assert bot.proc.poll() is None, bot.log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"{why}: {bot.status()}"
        time.sleep(0.05)


def said_within(bot: Bot, text: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while text not in bot.log.read_text():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_market_halted_mid_run_pauses_new_orders_and_trading_resumes_when_it_opens(
    tmp_path, exchange, bots
):
    ex: Exchange = exchange()
    bot: Bot = bots(tmp_path, ex.base, run={"halted_market_every_s": 0.2, "reconcile_every": 5},
                    risk={"max_errors_per_hour": 1})  # fmt: skip
    bot.start()
    drive(ex, bot, 3)
    buys = resting_buys(ex)
    assert buys
    ex.admin.call("POST", "market", {"status": "BREAK"})
    gone = buys[0]["clientOrderId"]
    operator(ex).cancel(gone)
    # Candle by candle until the bot wants the freed level back (once its reconcile, every 5 cycles, has seen
    # the cancel: on a busy machine after a few candles) and the exchange answers "Market is closed.".
    seen = 3
    while True:
        ex.admin.step(candles=1)
        seen += 1
        until(lambda n=seen: bot.status().get("candles", 0) >= n, f"candle {seen}", bot)
        if said_within(bot, "market closed", 3):
            break
        assert seen < 15, f"the bot never placed the freed level in the closed market: {bot.status()}"
    waiting = bot.query("SELECT client_id FROM orders WHERE status = 'intent'")
    assert waiting, "the order the bot decided waits as an intent"
    s = bot.status()
    assert not s.get("halted"), s
    assert s["api_errors"] == 0, "a closed market spends no error budget"
    assert len(resting_buys(ex)) == len(buys) - 1
    ex.admin.call("POST", "market", {"status": "TRADING"})
    until(lambda: len(resting_buys(ex)) == len(buys), "the waiting order sent once the market opened", bot)
    assert "market open again" in bot.log.read_text()
    assert {o["clientOrderId"] for o in resting_buys(ex)} >= {cid for (cid,) in waiting}
    drive(ex, bot, 2, seen=seen)
    assert not bot.status().get("halted")
    books_match(ex, bot)
    assert bot.term() == 0


def test_a_filter_changed_mid_run_is_read_again_and_followed_without_an_error_counted(
    tmp_path, exchange, bots
):
    ex: Exchange = exchange()
    bot: Bot = bots(tmp_path, ex.base, run={"reconcile_every": 5}, risk={"max_errors_per_hour": 1})
    bot.start()
    drive(ex, bot, 3)
    buys = resting_buys(ex)
    assert buys
    assert len(buys) >= 2
    ex.admin.call("POST", "market", {"tick_size": "0.1"})
    gone, also = buys[0], buys[1]
    owner = operator(ex)
    for o in (gone, also):  # two refused in one batch: the rules read once, neither counted
        owner.cancel(o["clientOrderId"])
    until(lambda: bot.log.read_text().count("level freed") >= 2, "the reconcile saw the cancels", bot)
    drive(ex, bot, 3, seen=3)  # refused on the old tick, the rules read again, placed on the new one
    said = bot.log.read_text()
    assert "Filter failure: PRICE_FILTER" in said, "the test proves nothing: no order met the new filter"
    assert "market rules changed: tick 0.01 -> 0.1" in said
    again = [
        o for o in resting_buys(ex) if o["clientOrderId"].split("-")[1] == gone["clientOrderId"].split("-")[1]
    ]
    assert again, f"the level was not placed again: {resting_buys(ex)}"
    assert Decimal(again[0]["price"]) % Decimal("0.1") == 0
    s = bot.status()
    assert not s.get("halted"), s
    assert s["api_errors"] == 0, "an order refused on rules the exchange changed is not the bot's error"
    books_match(ex, bot)
    assert bot.term() == 0
