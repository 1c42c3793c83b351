"""`gridbot gate`, the rollout's verdict on a (re)started bot: a bot that halted itself at its start (a key
the exchange refuses) fails it though its heartbeat, and so the engine's healthcheck, says healthy; a bot
placing its grid passes; one not yet through its first cycle is "starting"; a halt from before the start is
not the release's doing. Real `gridbot run` processes against the local exchange, and the pure judgement's
table."""

import json
import subprocess
import sys
import time

import pytest
from live_harness import drive

from gridbot.contract import KEY_REFUSED_HALT
from gridbot.ops.gate import NOT_TRADING, STARTING, TRADING, judge, parse_since


def gate(bot, since: float | str, *extra: str) -> tuple[int, dict]:
    argv = [sys.executable, "-m", "gridbot.cli", "gate", "-c", str(bot.cfg), "--since", str(since), *extra]
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert out.returncode in (TRADING, NOT_TRADING, STARTING), out.stderr
    return out.returncode, json.loads(out.stdout)


def test_a_bot_the_exchange_refuses_the_key_of_fails_the_gate_while_its_heartbeat_is_fresh(
    tmp_path, exchange, bots
):
    ex = exchange()
    bot = bots(tmp_path, ex.base, secret="wrong")
    start = time.time()
    assert gate(bot, start)[0] == STARTING, "no store yet: starting"
    bot.start()
    deadline = time.monotonic() + 15
    while not bot.query("SELECT reason FROM halt") and time.monotonic() < deadline:
        time.sleep(0.05)
    code, verdict = gate(bot, start)
    assert code == NOT_TRADING, verdict
    assert verdict["state"] == "not trading"
    assert verdict["why"].startswith(f"halted since its start: {KEY_REFUSED_HALT}")
    assert verdict["key_refused"] is True
    # the same halt, judged for a start after it (the bot before a rollout): not this start's doing
    code, verdict = gate(bot, time.time() + 1)
    assert (code, verdict["state"]) == (STARTING, "starting")
    assert bot.term() == 0


def test_a_bot_placing_its_grid_passes_and_a_start_after_its_last_cycle_is_starting(tmp_path, exchange, bots):
    ex = exchange()
    bot = bots(tmp_path, ex.base)
    start = time.time()
    bot.start()
    drive(ex, bot, 3)
    code, verdict = gate(bot, start)
    assert code == TRADING, verdict
    resting = [o for o in ex.orders() if o["status"] == "NEW"]
    assert verdict["why"].startswith(f"trading: {len(resting)} orders resting"), (verdict, resting)
    assert verdict["key_refused"] is False
    # its ISO form, as the engine reports a container's start, in nanoseconds
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start)) + ".000000001Z"
    assert gate(bot, iso)[0] == TRADING
    assert bot.term() == 0
    code, verdict = gate(bot, time.time() + 1)
    assert code == STARTING, "a cycle saved before the start is not this start's"


def halted_by_an_operator(tmp_path, exchange, bots):
    """A bot that traded two candles, then halted with `gridbot halt` beside it."""
    ex = exchange()
    bot = bots(tmp_path, ex.base)
    bot.start()
    drive(ex, bot, 2)
    halt = bot.cli("halt")
    assert halt.returncode == 0, halt.stderr
    return bot


def test_an_operators_halt_before_the_start_passes_and_one_since_fails(tmp_path, exchange, bots):
    bot = halted_by_an_operator(tmp_path, exchange, bots)
    halted_at = bot.query("SELECT since FROM halt")[0][0]
    deadline = time.monotonic() + 15
    while bot.status()["saved"] <= halted_at + 0.001:  # a halted bot takes no candle, but saves its cycles
        assert time.monotonic() < deadline, bot.status()
        time.sleep(0.05)
    code, verdict = gate(bot, halted_at + 0.001)
    assert code == TRADING, verdict
    assert "halted before this start (manual halt" in verdict["why"]
    code, verdict = gate(bot, halted_at - 10)
    assert code == NOT_TRADING, verdict
    assert "manual halt" in verdict["why"]
    assert verdict["key_refused"] is False
    assert bot.term() == 0


def test_a_key_refused_since_the_start_fails_though_an_operators_halt_came_before(tmp_path, exchange, bots):
    """A rollout of a key the exchange refuses to a bot an operator had halted: the refusal keeps the
    operator's halt (its reason and time), and the gate still fails the start, without calling the halt the
    key's (a rollback puts the key that passed back and leaves the operator's halt for the operator)."""
    bot = halted_by_an_operator(tmp_path, exchange, bots)
    assert bot.term() == 0
    (bot.dir / "cred").write_text("GRIDBOT_API_KEY=bot-1\nGRIDBOT_API_SECRET=a-secret-it-does-not-have\n")
    start = time.time()
    bot.start()
    deadline = time.monotonic() + 15
    while not bot.query("SELECT value FROM cursors WHERE name = 'key_refused'"):
        assert time.monotonic() < deadline, bot.log.read_text()[-2000:]
        time.sleep(0.05)
    code, verdict = gate(bot, start)
    assert code == NOT_TRADING, verdict
    assert (
        verdict["why"] == f"{KEY_REFUSED_HALT} since its start (halted before it: manual halt (gridbot halt))"
    )
    assert verdict["key_refused"] is False
    assert bot.query("SELECT reason FROM halt") == [("manual halt (gridbot halt)",)]
    # the start after it, on the key that passed: the operator's halt, not judged
    assert bot.term() == 0
    (bot.dir / "cred").write_text("GRIDBOT_API_KEY=bot-1\nGRIDBOT_API_SECRET=secret-1\n")
    start = time.time()
    bot.start()
    deadline = time.monotonic() + 15
    while (code := gate(bot, start)[0]) == STARTING:
        assert time.monotonic() < deadline, bot.status()
        time.sleep(0.05)
    assert code == TRADING
    assert bot.term() == 0


@pytest.mark.parametrize("since", ["yesterday", "2026-11-29 04:50:01", "2026-11-29T04:50:01"])
def test_a_since_that_is_no_time_is_refused_naming_the_option(tmp_path, since):
    (tmp_path / "bot.yml").write_text(json.dumps({"run": {"state_dir": str(tmp_path / "data")}}))
    argv = [sys.executable, "-m", "gridbot.cli", "gate", "-c", str(tmp_path / "bot.yml"), "--since", since]
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert out.returncode == 2
    assert "--since" in out.stderr
    assert repr(since) in out.stderr


SAVED = {"saved": 100.0, "open_orders": 4, "api_errors": 0, "halted": "", "grid": {"levels": 6}}


@pytest.mark.parametrize(
    ("status", "halt", "code", "why"),
    [
        (None, None, STARTING, "no cycle saved since its start"),
        ({**SAVED, "saved": 49.0}, None, STARTING, "no cycle saved since its start"),
        (SAVED, None, TRADING, "trading: 4 orders resting, 0 API errors"),
        ({**SAVED, "api_errors": 2}, None, TRADING, "trading: 4 orders resting, 2 API errors"),
        ({**SAVED, "api_errors": 3}, None, NOT_TRADING, "3 API errors within the hour (the gate allows 2)"),
        ({**SAVED, "open_orders": 0}, None, NOT_TRADING, "no resting order"),
        ({**SAVED, "open_orders": 0, "grid": None}, None, STARTING, "no grid yet"),
        (None, ("manual halt", 50.0), NOT_TRADING, "halted since its start: manual halt"),
        ({**SAVED, "halted": "manual", "open_orders": 0}, ("manual", 49.9), TRADING, "halted before this"),
        ({**SAVED, "halted": "take profit at 101", "open_orders": 0}, None, TRADING, "stopped by its own"),
    ],
)
def test_the_verdicts(status, halt, code, why):
    verdict = judge(status, halt, since=50.0, max_api_errors=3)
    assert verdict.code == code
    assert verdict.why.startswith(why), verdict.why
    assert verdict.key_refused is False


def test_a_refusal_since_the_start_fails_whatever_halt_came_before():
    halted = {**SAVED, "halted": "manual", "open_orders": 0}
    verdict = judge(halted, ("manual", 49.9), 50.0, 3, key_refused_at=50.2)
    assert (verdict.code, verdict.why) == (
        NOT_TRADING,
        f"{KEY_REFUSED_HALT} since its start (halted before it: manual)",
    )
    assert verdict.key_refused is False, "the halt is the operator's: a rollback leaves it"
    assert judge(halted, ("manual", 49.9), 50.0, 3, key_refused_at=49.95).code == TRADING, (
        "a refusal before it"
    )
    assert judge(SAVED, None, 50.0, 3, key_refused_at=20.0).code == TRADING, (
        "a key refused at an earlier start"
    )


def test_only_the_key_refusals_halt_is_the_keys():
    assert judge(None, (f"{KEY_REFUSED_HALT}: Invalid API-key", 50.0), 50.0, 3).key_refused
    assert not judge(None, (f"manual halt; {KEY_REFUSED_HALT}", 50.0), 50.0, 3).key_refused


def test_the_engines_nanosecond_start_is_read_to_the_microsecond():
    assert parse_since("2026-11-29T04:50:01.123456789Z") == pytest.approx(1795927801.123456, abs=1e-6)
    assert parse_since("2026-11-29T05:50:01+01:00") == 1795927801.0
    assert parse_since("1795927801.5") == 1795927801.5
