"""The fleet-wide halt (playbooks/halt.yml) and its lifting (playbooks/resume.yml), judged by the exchange: a
halted bot sends no new order, even when one of its resting orders fills (a trading bot would answer that fill
at once); with gridbot_halt_cancel none of its orders rests on the book; a host outside the limit trades on;
resumed, the bots place their grid again with their books equal to the exchange's; a resume of both halts
lifts neither until told so. Both playbooks change nothing the second time. A halt made on purpose is
silenced in the monitoring host's (scale-01) Alertmanager, its BotHalted held back, and the silence expired by
the resume; a halt told not to be (gridbot_halt_silence=false) reaches a webhook receiver on the controller as
BotHalted, with the host and the reason, and its resume as resolved: timed here, on the halt the test takes
anyway (the alerts' rules, routes and inhibitions are promtool's and amtool's to test: tools/tests)."""

import time

from fleet import (
    account,
    alertmanager_silences,
    assert_books_match_the_exchange,
    bot_halted,
    bot_status,
    figure,
    hosts,
    play_order,
    playbook,
    recap_changed,
    resting_orders,
    webhook_receiver,
)

GATEWAY = "10.213.77.1"  # the controller on the tier's network: the webhook receiver listens here
RECEIVER_PORT = 9195  # group_vars/monitoring.yml's monitoring_alertmanager_webhook_urls
REASON = "fleet halt (playbooks/halt.yml)"  # halt.yml's reason when the run names none


def orders(host):
    key, admin = account(host)
    return {o["clientOrderId"]: o for o in admin.call("GET", f"orders?key={key}")}


def resting(host):
    return [o["clientOrderId"] for o in resting_orders(host)]


def trades(host):
    key, admin = account(host)
    return {str(t["id"]) for t in admin.call("GET", f"trades?key={key}")}


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(2)


def assert_told(told, since, status):
    """The monitoring host told the webhook of each host's halt (firing, within 2 minutes of the bot's own
    record of it) or of its resume (resolved), after the time `since` gives for that host."""
    for name, t0 in since.items():

        def after(n=name, t0=t0):
            return [(at, a) for at, a in bot_halted(told, n, status) if at >= t0]

        wait_for(f"no {status} BotHalted for {name} at the webhook: {told}", after, t0 + 240 - time.time())
        at, alert = after()[0]
        if status == "firing":
            assert alert["labels"]["reason"] == REASON
            assert alert["labels"]["severity"] == "critical"
            assert REASON in alert["annotations"]["summary"]
            figure(f"halt to notification ({name}; scrape and evaluation 10 s, for 30 s): {at - t0:.0f} s")
            assert at - t0 <= 120, f"{name}: the halt took {at - t0:.0f} s to reach the webhook"
        else:
            figure(f"resume to resolved notification ({name}): {at - t0:.0f} s")


def silences_of(name):
    """halt.yml's silences of host NAME's bot in the monitoring host's Alertmanager, with their state."""
    out = {}
    for s in alertmanager_silences():
        named = {m["name"]: m["value"] for m in s["matchers"]}
        if s["createdBy"] == "pifleet playbooks/halt.yml" and named.get("host") == name:
            out[s["id"]] = (named["alertname"], named["bot"], s["status"]["state"], s["comment"])
    return out


def test_halt_stops_new_orders_cancel_empties_the_book_and_resume_trades_again():
    with webhook_receiver(GATEWAY, RECEIVER_PORT) as told:
        halt_resume_and_judge(told)


def assert_a_resume_of_both_asks_first(names, fleet):
    """Two halts at once: resume.yml names them (host/bot) and asks; with no terminal to ask on, it lifts
    neither."""
    unasked = playbook("resume.yml", "--limit", ",".join(names))
    out = unasked.stdout
    assert unasked.returncode != 0, out[-3000:]
    assert "resume.yml lifted none of the 2 halts; nothing was asked" in out, out[-3000:]
    assert all(f"  {n}/default: {REASON}" in out for n in names), out[-3000:]
    assert all(bot_status(fleet[n])["halted"] == REASON for n in names), "a halt lifted unasked"


def halt_one_silenced_and_one_not(names):
    """names[0]'s halt is silenced, as a halt made on purpose is; names[1]'s pages (and is timed). The id of
    names[0]'s silence."""
    run = playbook("halt.yml", "--limit", names[0])
    assert run.returncode == 0, run.stdout[-3000:]
    assert REASON in run.stdout, "the fleet table after the halt shows why"
    loud = playbook("halt.yml", "--limit", names[1], "-e", "gridbot_halt_silence=false")
    assert loud.returncode == 0, loud.stdout[-3000:]
    active = {k: v for k, v in silences_of(names[0]).items() if v[2] == "active"}
    assert list(active.values()) == [("BotHalted", "default", "active", f"halted on purpose: {REASON}")]
    assert [v for v in silences_of(names[1]).values() if v[2] == "active"] == []
    return next(iter(active))


def assert_bad_settings_are_refused(limit):
    bad = playbook("halt.yml", "--limit", limit, "-e", "gridbot_halt_cancel=maybe")
    assert bad.returncode != 0
    assert "gridbot_halt_cancel and gridbot_halt_silence must be true or false" in bad.stdout
    never = playbook("halt.yml", "--limit", limit, "-e", "gridbot_halt_silence_hours=0")
    assert never.returncode != 0
    assert "gridbot_halt_silence_hours a positive number of hours (got" in " ".join(never.stdout.split())


def halt_resume_and_judge(told):
    order = play_order()
    names, outside = order[3:5], order[5]
    fleet = hosts()
    limit = ",".join(names)

    for name in names:  # trading: something on the book that can fill
        host = fleet[name]
        wait_for(f"{name}: no resting order", lambda h=host: resting(h), 60)
    silence = halt_one_silenced_and_one_not(names)
    since = {name: bot_status(fleet[name])["halted_since"] for name in names}
    seen = {name: set(orders(fleet[name])) for name in names}
    filled = {name: trades(fleet[name]) for name in names}
    outside_seen = set(orders(fleet[outside]))
    # One of each halted bot's resting orders fills: a trading bot would place the next one at once. The
    # market is stepped on (as the other scale tests do) until the price has crossed a level of each bot.
    _, admin = account(fleet[names[0]])
    deadline = time.monotonic() + 240
    while not all(trades(fleet[n]) - filled[n] for n in names):
        assert time.monotonic() < deadline, "no resting order of each halted bot filled"
        admin.step(candles=12)
        time.sleep(1)
    time.sleep(15)  # three of the bots' 5 s cycles
    for name in names:
        assert set(orders(fleet[name])) == seen[name], f"{name}: a halted bot placed an order"
    assert set(orders(fleet[outside])) - outside_seen, "the host outside the limit trades on"

    again = playbook("halt.yml", "--limit", limit)
    assert again.returncode == 0, again.stdout[-3000:]
    assert [recap_changed(again.stdout, n) for n in names] == [0, 0], "a second halt changes nothing"

    cancel = playbook("halt.yml", "--limit", limit, "-e", "gridbot_halt_cancel=true")
    assert cancel.returncode == 0, cancel.stdout[-3000:]
    assert [recap_changed(cancel.stdout, n) for n in names] == [1, 1]
    for name in names:
        left = resting(fleet[name])
        assert left == [], f"{name}: orders still on the book after the halt with cancel: {left}"

    assert_told(told, {names[1]: since[names[1]]}, "firing")
    assert not bot_halted(told, names[0], "firing"), "a halt made on purpose paged"

    assert_a_resume_of_both_asks_first(names, fleet)
    t1 = time.time()
    resumed = playbook("resume.yml", "--limit", limit, "-e", "gridbot_resume_confirmed=true")
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    # each lifted its halt; the first of the run also expired names[0]'s silence (delegated, run once)
    assert [recap_changed(resumed.stdout, n) for n in names] == [2, 1]
    assert silences_of(names[0])[silence][2] == "expired"
    for name in names:
        host = fleet[name]
        wait_for(f"{name}: no grid placed again within 60 s of the resume", lambda h=host: resting(h), 60)
        assert_books_match_the_exchange(name, host)
        # no client id made twice (two resting sells at one price are the grid's: a re-planned grid offers its
        # inventory no lower than cost plus a step, several levels' worth at that floor)
        key, admin = account(host)
        ids = admin.call("GET", "duplicates")["duplicate_client_ids"]
        doubled = [c for c in ids if c.startswith(key + "/")]
        assert doubled == [], (name, doubled)
    twice = playbook("resume.yml", "--limit", limit)
    assert twice.returncode == 0, twice.stdout[-3000:]
    assert [recap_changed(twice.stdout, n) for n in names] == [0, 0], "a second resume changes nothing"

    assert_bad_settings_are_refused(limit)

    assert_told(told, {names[1]: t1}, "resolved")
