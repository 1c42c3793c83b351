"""A resume after a halt whose cancel came too late for an order: the order filled before the cancel reached
the exchange, and the halted bot, which reads no trade, learns of the fill only at the resume. The grid the
resume places again offers only the coins the bot still holds once that fill is booked: no sell is refused
for coins the fill already sold (each refusal counts against the error budget, and a rollout's gate within
the hour fails on three)."""

import time

from live_harness import drive, judge_against_the_exchange


def test_a_sale_that_filled_before_the_halts_cancel_is_booked_before_the_grid_goes_back(
    tmp_path, exchange, bots
):
    ex = exchange()
    bot = bots(tmp_path, ex.base, regrid={"cooldown": "1d"})

    def resting(side: str) -> list[dict]:
        return [o for o in ex.orders() if o["side"] == side and o["status"] in ("NEW", "PARTIALLY_FILLED")]

    bot.start()
    k = 0
    while not resting("SELL"):  # a buy filled: its coins offered above
        assert k < 400, "no sell ever rested"
        drive(ex, bot, 1, seen=k)
        k += 1
    # Down, its store holding the halt and the cancel owed: the market fills the sell before the bot is back
    # to cancel it (as a cancel that reaches the exchange a moment after the fill).
    assert bot.term() == 0
    halt = bot.cli("halt", "--reason", "by hand", "--cancel")
    assert halt.returncode == 0, halt.stderr
    steps = 0
    while not any(o["side"] == "SELL" and o["status"] == "FILLED" for o in ex.orders()):
        assert steps < 400, "the sell never filled"
        ex.admin.step(candles=1)
        steps += 1
    bot.start()
    deadline = time.monotonic() + 20
    while resting("BUY") or resting("SELL") or bot.status().get("halted") != "by hand":
        assert time.monotonic() < deadline, f"the halt's cancels: {ex.orders()}"
        time.sleep(0.05)

    resume = bot.cli("resume")
    assert resume.returncode == 0, resume.stderr
    deadline = time.monotonic() + 20
    while not (resting("BUY") and bot.settled(0)):
        assert time.monotonic() < deadline, f"no grid after the resume: {ex.orders()}"
        time.sleep(0.05)
    assert "grid placed again at once around" in bot.log.read_text()
    assert "insufficient funds" not in bot.log.read_text()
    assert bot.query("SELECT count(*) FROM orders WHERE status = 'rejected'") == [(0,)]
    assert bot.status()["api_errors"] == 0
    judge_against_the_exchange(ex, bot)
    assert bot.term() == 0
