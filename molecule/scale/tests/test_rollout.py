"""The rollout on 8 hosts that trade live (each on its own account of a local exchange on the controller):
batches of 1, 2 and 5 taken in order, each healthy before the next starts (the hosts' own engine events), a
failure in the middle batch stopping it, the batches and the failures a batch may have taken from the
inventory, the soak, rollbacks, a bad config, a failed first deployment; no order or fill lost or doubled,
judged from the exchange's admin API."""

import hashlib
import itertools
import json
import os
import re
import shlex
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from fleet import (
    PROJECT,
    account,
    alertmanager_silences,
    assert_books_match_the_exchange,
    assert_no_order_doubled,
    bot_status,
    exchange_view,
    hosts,
    play_order,
    playbook,
    resting_orders,
)
from gridbot.contract import UID

ARTIFACTS = PROJECT / ".cache" / "image"
SECRET = "/run/secrets/exchange"  # the container contract's credentials file
DEPLOY_TASK = "TASK [gridbot : Deploy | Bring the compose project up]"
SOAK_TASK = "gridbot : Deploy | Soak, the bot staying healthy for gridbot_health_soak seconds"
ARCH = "amd64"  # the containers'


def bot(host):
    out = host.run("sudo docker inspect gridbot")
    assert out.rc == 0, out.stderr
    c = json.loads(out.stdout)[0]
    return {"image": c["Image"], "started": c["State"]["StartedAt"], "health": c["State"]["Health"]["Status"]}


def artifact(tmp_path, version, *dockerfile):
    """A new bot version derived from the built image, exported the way `make image` exports one."""
    base = (ARTIFACTS / f"gridbot-0.1.0-{ARCH}.id").read_text().strip()
    tag = f"gridbot:{version}-{ARCH}"
    recipe = "\n".join([f"FROM {base}", f"LABEL org.opencontainers.image.version={version}", *dockerfile])
    subprocess.run(["docker", "build", "-q", "-t", tag, "-"], input=recipe, text=True, check=True,
                   capture_output=True, env=dict(os.environ, DOCKER_BUILDKIT="0"))  # fmt: skip
    inspect = ["docker", "image", "inspect", "-f", "{{.Id}}", tag]
    image_id = subprocess.run(inspect, capture_output=True, text=True, check=True).stdout.strip()
    out = tmp_path / f"gridbot-{version}-{ARCH}"
    subprocess.run(f"docker save {tag} | zstd -q -T0 -3 -o {out}.tar.zst", shell=True, check=True)
    Path(f"{out}.id").write_text(image_id + "\n")
    return image_id


def version_args(tmp_path, version):
    return ["-e", f"gridbot_version={version}", "-e", f"gridbot_image_artifact_dir={tmp_path}"]


def wait_for_resting_orders(fleet, timeout=180):
    """Each bot has orders on the exchange (a fresh bot places its grid at its first cycle)."""
    deadline = time.monotonic() + timeout
    while True:
        open_now = {name: [c for c, o in exchange_view(h)[0].items() if o["status"] == "NEW"]
                    for name, h in fleet.items()}  # fmt: skip
        if all(open_now.values()) or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert all(open_now.values()), f"a bot has no resting order on the exchange: {open_now}"
    return open_now


def extra_inventory(tmp_path, fleet, group_vars=None, host_vars=None):
    """A second inventory source after the scenario's: its group_vars and host_vars win, as an edited
    inventory's would."""
    for kind, values in (("group_vars", {"pifleet": group_vars or {}}), ("host_vars", host_vars or {})):
        (tmp_path / kind).mkdir(parents=True)
        for name, content in values.items():
            (tmp_path / kind / f"{name}.yml").write_text(json.dumps(content))
    (tmp_path / "hosts.yml").write_text(json.dumps({"pifleet": {"hosts": dict.fromkeys(fleet)}}))
    return ["-i", str(tmp_path / "hosts.yml")]


def deploy_batches(stdout):
    """The hosts each run of the compose-up task touched, in order: one entry per serial batch."""
    chunks = stdout.split(DEPLOY_TASK)[1:]
    return [sorted(set(re.findall(r"^(?:ok|changed|fatal): \[([\w-]+)\]", c.split("TASK [")[0], re.M)))
            for c in chunks]  # fmt: skip


def planned(order, sizes):
    """The batches serial makes of the hosts in play order."""
    batches, start = [], 0
    for size in sizes:
        batches.append(order[start : start + size])
        start += size
    return batches


class EngineEvents:
    """Each host's engine events for its bot while a rollout runs (`docker events`, streamed over SSH: the
    engine keeps only its last 256 events, and the healthcheck's execs fill that in minutes). The containers
    share the controller's kernel and clock, so times compare across hosts."""

    def __init__(self, fleet):
        self.fleet = fleet
        self.streams = {}

    def __enter__(self):
        watch = ("sudo docker events --filter container=gridbot --filter event=start"
                 " --filter event=health_status --format '{{json .}}'")  # fmt: skip
        for name, h in self.fleet.items():
            v = h.ansible.get_variables()
            ssh = ["ssh", "-q", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o",
                   "UserKnownHostsFile=/dev/null", "-i", v["ansible_private_key_file"], "-p",
                   str(v.get("ansible_port", 22)), f"{v['ansible_user']}@{v['ansible_host']}",
                   watch]  # fmt: skip
            self.streams[name] = subprocess.Popen(ssh, stdout=subprocess.PIPE, text=True)
        time.sleep(3)  # every stream attached before anything happens
        return self

    def __exit__(self, *_):
        time.sleep(2)
        self.timeline = {}
        for name, stream in self.streams.items():
            stream.terminate()
            out, _ = stream.communicate(timeout=30)
            events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            starts = [e["timeNano"] / 1e9 for e in events if e["status"] == "start"]
            if not starts:
                continue
            healthy = [e["timeNano"] / 1e9 for e in events
                       if e["status"] == "health_status: healthy"
                       and e["timeNano"] / 1e9 >= starts[-1]]  # fmt: skip
            self.timeline[name] = {"started": starts[-1], "healthy": healthy[0] if healthy else None}


def assert_batches_in_order(timeline, batches, soak):
    """Every host of each batch was restarted and healthy before any host of the next batch restarted, and
    stayed so for the soak first: seen from the hosts' engines, not from Ansible's output."""
    assert sorted(timeline) == sorted(h for b in batches for h in b), timeline
    for name, t in timeline.items():
        assert t["healthy"] is not None, f"{name}: never healthy after its restart"
    for earlier, later in itertools.pairwise(batches):
        ready = max(timeline[h]["healthy"] for h in earlier)
        first = min(timeline[h]["started"] for h in later)
        assert first - ready >= soak, (
            f"{later} started {first - ready:.1f} s after {earlier} were healthy (soak {soak} s)",
            timeline,
        )


def rollout_silences(since):
    """rollout.yml's silences in the monitoring host's Alertmanager made since `since` (epoch seconds): each
    host's [(start, end, state)], its start and end as Alertmanager recorded them (a start in the past is
    moved to its now; an expiry sets the end to it)."""
    out = {}
    for s in alertmanager_silences():
        if s["createdBy"] != "pifleet playbooks/rollout.yml":
            continue
        start, end = (datetime.fromisoformat(s[k]).timestamp() for k in ("startsAt", "endsAt"))
        if start < since:
            continue
        named = {m["name"]: m["value"] for m in s["matchers"]}
        assert set(named["alertname"].split("|")) >= {"BotDown", "BotUnhealthy", "BotHalted"}, named
        out.setdefault(named["host"], []).append((start, end, s["status"]["state"]))
    return out


def assert_silenced_while_rolled_out(silences, timeline, batches):
    """Each host rolled out was silenced from before its bot restarted until after it was healthy, in one
    silence, expired before any host of the next batch started; the hosts not reached have none."""
    rolled = [h for b in batches for h in b]
    assert sorted(silences) == sorted(rolled), silences
    for name in rolled:
        ((start, end, state),) = silences[name]
        assert state == "expired", (name, silences[name])
        assert start <= timeline[name]["started"] < timeline[name]["healthy"] <= end, (
            name,
            start,
            end,
            timeline[name],
        )
    for earlier, later in itertools.pairwise(batches):
        ended = max(silences[h][0][1] for h in earlier)
        assert ended <= min(silences[h][0][0] for h in later), (earlier, later, silences)


def test_the_deployed_compose_file_never_pulls_a_missing_image():
    """The deployed compose file runs the image the artifact loaded (pull_policy: never): asked for an
    image the host does not have, the engine says so, and nothing is pulled (Compose would say "Pulling"). The
    image is named on a registry at the host's own loopback, so even a pull would leave it no further. Each
    release's Compose."""
    fleet = hosts()
    for codename in ("trixie", "bookworm"):
        host = next(h for h in fleet.values() if h.system_info.codename == codename)
        missing = "127.0.0.1:9/gridbot:0.0.0-missing"
        override = f"services: {{gridbot: {{image: '{missing}', container_name: gridbot-pull-check}}}}"
        extra = "/run/gridbot-pull-check.yaml"
        compose = f"docker compose -p gridbot-pull-check -f /opt/gridbot/compose.yaml -f {extra}"
        script = (f"echo {shlex.quote(override)} > {extra}; {compose} create 2>&1; rc=$?; "
                  f"{compose} down --volumes >/dev/null 2>&1; rm -f {extra}; exit $rc")  # fmt: skip
        run = host.run("sudo sh -c " + shlex.quote(script))
        assert run.rc != 0, (codename, run.stdout)
        assert f"No such image: {missing}" in run.stdout, (codename, run.stdout)
        assert "Pulling" not in run.stdout, (codename, run.stdout)
        assert host.run("sudo docker ps -aq --filter name=gridbot-pull-check").stdout.strip() == ""


def secret_digests(host):
    """The credentials file's digest on the host and as the running bot reads it."""
    code = f"import hashlib; print(hashlib.sha256(open({SECRET!r}, 'rb').read()).hexdigest())"
    inside = host.run("sudo docker exec gridbot python3 -c " + shlex.quote(code)).stdout.strip()
    on_disk = host.run("sudo sha256sum /opt/gridbot/secrets/exchange.env").stdout.split()[0]
    return on_disk, inside


def test_a_config_change_and_a_key_rotation_go_out_in_the_inventorys_batches(tmp_path):
    """bot.yml and the credentials reach every running bot, in the batches the inventory sets ([2, "50%"]
    over 8 hosts: 2, 4, 2). Each new key is first added to its account on the exchange, as an operator
    creates a new API key before deploying it; after the rollout each bot signs with the new key and the old
    one goes quiet, and neither shows in -v output, docker inspect, the bot's environment or its logs."""
    fleet = hosts()
    before = {name: bot(h) for name, h in fleet.items()}
    rotated = {}
    for name, h in fleet.items():
        old, admin = account(h)
        rotated[name] = {"gridbot_exchange_api_key": f"{name}-rotated-key",
                         "gridbot_exchange_api_secret": f"{name}-rotated-secret-5551234"}  # fmt: skip
        admin.call("POST", "keys", {"account": old, "key": rotated[name]["gridbot_exchange_api_key"],
                                    "secret": rotated[name]["gridbot_exchange_api_secret"]})  # fmt: skip
    extra = extra_inventory(tmp_path, fleet, {"gridbot_rollout_batches": [2, "50%"]}, rotated)
    # A setting that leaves the grid as it is: the next test's rollout must not move the bots' orders.
    change = '{"gridbot_config_override": {"risk": {"max_errors_per_hour": 61}}}'
    with EngineEvents(fleet) as events:
        run = playbook("rollout.yml", *extra, "-v", "-e", change)
    assert run.returncode == 0, run.stdout[-3000:]
    batches = planned(play_order(), [2, 4, 2])
    assert deploy_batches(run.stdout) == [sorted(b) for b in batches]
    soak = next(iter(fleet.values())).ansible.get_variables()["gridbot_health_soak"]
    assert_batches_in_order(events.timeline, batches, soak)
    for name, h in fleet.items():
        key, secret = rotated[name]["gridbot_exchange_api_key"], rotated[name]["gridbot_exchange_api_secret"]
        for value in (key, secret):
            assert value not in run.stdout + run.stderr, f"{name}: a credential in Ansible's -v output"
        now = bot(h)
        assert now["started"] != before[name]["started"], f"{name}: the bot was not recreated"
        assert (now["image"], now["health"]) == (before[name]["image"], "healthy")
        on_disk = h.run("sudo sha256sum /opt/gridbot/bot.yml").stdout.split()[0]
        assert "max_errors_per_hour: 61\n" in h.run("sudo cat /opt/gridbot/bot.yml").stdout
        assert bot_status(h)["config_sha256"] == on_disk, f"{name}: the bot runs another bot.yml"
        want = hashlib.sha256(f"GRIDBOT_API_KEY={key}\nGRIDBOT_API_SECRET={secret}\n".encode()).hexdigest()
        assert secret_digests(h) == (want, want), f"{name}: the bot reads the old key"
        pid = h.run("sudo docker inspect -f '{{.State.Pid}}' gridbot").stdout.strip()
        for where in ("docker inspect gridbot", f"cat /proc/{pid}/environ", "docker logs gridbot 2>&1"):
            shown = h.run(f"sudo sh -c '{where}'").stdout
            assert key not in shown, f"{name}: the key in {where}"
            assert secret not in shown, f"{name}: the secret in {where}"

    # The exchange's side: each bot now signs with its new key and no longer with the old one.
    time.sleep(10)  # two of the bots' 5 s cycles
    first = {name: account(h)[1].call("GET", "keys") for name, h in fleet.items()}
    time.sleep(10)
    for name, h in fleet.items():
        old, admin = account(h)
        new = rotated[name]["gridbot_exchange_api_key"]
        keys = admin.call("GET", "keys")
        assert keys[new]["account"] == old
        assert keys[new]["requests"] > first[name][new]["requests"], f"{name}: the new key is not in use"
        assert keys[old]["requests"] == first[name][old]["requests"], f"{name}: the old key is still in use"


def test_a_canary_whose_new_key_the_exchange_refuses_is_rolled_back_and_the_rollout_stops(tmp_path):
    """A key its account does not have, for the canary alone: the new bot halts itself at its start and beats
    on, idle, so the engine calls it healthy; the bot's own gate says it does not trade. The canary goes back
    to the key that passed, the halt lifted, trading on; no other host is touched. Judged by the exchange."""
    fleet = hosts()
    canary, *rest = play_order()
    before = {name: bot(h) for name, h in fleet.items()}
    secret_before = secret_digests(fleet[canary])
    bad = {"gridbot_exchange_api_key": f"{canary}-unknown-{time.time_ns()}",
           "gridbot_exchange_api_secret": "a-secret-no-account-has"}  # fmt: skip
    begun = time.time()
    run = playbook("rollout.yml", *extra_inventory(tmp_path, fleet, host_vars={canary: bad}))
    ended = time.time()
    assert run.returncode != 0
    said = "not trading: halted since its start: exchange refused the credentials"
    assert said in run.stdout, run.stdout[-3000:]
    assert "the halt the refused key made lifted. The rollout stops here" in run.stdout
    assert deploy_batches(run.stdout) == [[canary]]
    # its alerts silenced while it rolled out, the silence over with the run although every task of the
    # host failed (a silence made in the play's post_tasks would have waited out its 30 minutes)
    silences = rollout_silences(begun)
    assert list(silences) == [canary], silences
    ((start, end, state),) = silences[canary]
    assert state == "expired", silences
    assert begun <= start <= end <= ended, (silences, begun, ended)
    after = {name: bot(h) for name, h in fleet.items()}
    assert after[canary]["started"] != before[canary]["started"], "the canary was not recreated"
    assert (after[canary]["image"], after[canary]["health"]) == (before[canary]["image"], "healthy")
    assert secret_digests(fleet[canary]) == secret_before, "not back on the key that passed"
    for name in rest:
        assert after[name] == before[name], f"{name} was touched"
    deadline = time.monotonic() + 60
    while bot_status(fleet[canary])["halted"] and time.monotonic() < deadline:
        time.sleep(2)
    assert not bot_status(fleet[canary])["halted"], bot_status(fleet[canary])
    assert resting_orders(fleet[canary]), "the canary has no order on the exchange"
    assert not lock_left(fleet[canary])
    assert_books_match_the_exchange(canary, fleet[canary])
    assert_no_order_doubled(canary, fleet[canary])


# A release from before `gridbot gate`: its CLI refuses the word as argparse refuses any command it does not
# know. What the runbooks' rollback (rollout.yml with the previous gridbot_version) deploys.
NO_GATE = """#!/usr/bin/env python3
import sys

if sys.argv[1:2] == ["gate"]:
    sys.stderr.write("gridbot: error: argument command: invalid choice: 'gate'\\n")
    sys.exit(2)
if sys.argv[1:] == ["health"]:
    from gridbot.ops.health import main as health

    sys.exit(health())

from gridbot.cli import main

sys.exit(main())
"""


def test_a_release_from_before_the_gate_is_judged_by_its_healthcheck_alone(tmp_path):
    """A rollback to an image without `gridbot gate` goes out: its soak judges it, and the run says so."""
    fleet = hosts()
    name = play_order()[-1]
    patch = f"open('/usr/local/bin/gridbot', 'w').write({NO_GATE!r})"
    # as root (the image runs as the bot's uid, which cannot write there), then back to the bot's uid
    old = artifact(
        tmp_path, "0.1.4", "USER 0", f"RUN {json.dumps(['python3', '-c', patch])}", f"USER {UID}:{UID}"
    )
    run = playbook("rollout.yml", "--limit", name, *version_args(tmp_path, "0.1.4"))
    assert run.returncode == 0, run.stdout[-3000:]
    said = "has no `gridbot gate` (a release from before it): judged by its healthcheck and soak alone"
    assert said in run.stdout
    assert bot(fleet[name])["image"] == old


class MarketRush(threading.Thread):
    """While a rollout runs, moves the exchange's market on by `candles` every `every` seconds (4 times its
    pace): market hours pass while each bot restarts, so fills may land while it is down; faster, the price
    leaves the grid and the bots move it (a regrid), which tells nothing about the restart."""

    def __init__(self, admins, candles=3, every=5.0):
        super().__init__(daemon=True)
        self.admins = admins
        self.candles, self.every = candles, every
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(self.every):
            for admin in self.admins:
                admin.step(candles=self.candles)


def test_a_new_version_goes_out_in_batches_of_1_2_5_while_the_bots_trade(tmp_path, capsys):
    """[1, "25%", "100%"] over 8 hosts is 1, 2, 5, in play order, each batch healthy (and soaked) before the
    next starts. The restart of a live bot leaves its resting orders resting (none cancelled unless the bot
    moved its grid, nothing placed twice), and the fills the exchange made meanwhile, while the bot was down
    too, are booked when it is back, once each: judged from the exchange's orders and trades."""
    new = artifact(tmp_path, "0.1.1")
    fleet = hosts()
    resting = wait_for_resting_orders(fleet)
    trades_before = {name: exchange_view(h)[1] for name, h in fleet.items()}
    regrids = {name: bot_status(h)["regrids"] for name, h in fleet.items()}
    rush = MarketRush([account(next(iter(fleet.values())))[1]])
    begun = time.time()
    with EngineEvents(fleet) as events:
        rush.start()
        try:
            run = playbook("rollout.yml", *version_args(tmp_path, "0.1.1"))
        finally:
            rush.done.set()
            rush.join()
    assert run.returncode == 0, run.stdout[-3000:]
    batches = planned(play_order(), [1, 2, 5])
    assert deploy_batches(run.stdout) == [sorted(b) for b in batches]
    soak = next(iter(fleet.values())).ansible.get_variables()["gridbot_health_soak"]
    assert_batches_in_order(events.timeline, batches, soak)
    assert_silenced_while_rolled_out(rollout_silences(begun), events.timeline, batches)
    for name, h in fleet.items():
        state = bot(h)
        assert (state["image"], state["health"]) == (new, "healthy"), name
        fills = assert_books_match_the_exchange(name, h)
        assert_no_order_doubled(name, h)
        orders, trades = exchange_view(h)
        cancelled = [c for c in resting[name] if orders[c]["status"] == "CANCELED"]
        moved = bot_status(h)["regrids"] - regrids[name]
        if not moved:  # a grid moved by the strategy replaces its orders; a restart never does
            assert not cancelled, f"{name}: resting orders cancelled across the restart: {cancelled}"
        filled = sum(orders[c]["status"] == "FILLED" for c in resting[name])
        during = len(trades - trades_before[name])
        with capsys.disabled():  # the figures for the log
            print(f"\n{name}: {len(resting[name])} orders resting before the rollout: {filled} filled, "
                  f"{len(cancelled)} cancelled by {moved} grid moves, the rest resting; "
                  f"{during} fills during it, {fills} in all, each booked once")  # fmt: skip


# A tick the exchange's is not a multiple of: check-config (offline) takes it, the live bot refuses it at
# start (exit 2 naming market.tick_size) and the engine restarts it: one host's bad value, found only there.
BAD_TICK = {"gridbot_host_config": {"market": {"tick_size": 0.003}}}


def lock_left(host):
    return host.run("test -e /run/pifleet/change.lock").rc == 0


def test_a_failure_in_the_second_batch_stops_the_rollout(tmp_path):
    """0.1.2 fails its gate on the second host of the second batch (a bad tick size, with a new key): that
    host goes back to its known-good deployment and key, its batch-mate runs 0.1.2, healthy, the third batch
    is never touched, and the play fails with a summary naming the host."""
    fleet = hosts()
    order = play_order()
    canary, mate, doomed, *rest = order
    before = {name: bot(h) for name, h in fleet.items()}
    new = artifact(tmp_path, "0.1.2")
    old_key, admin = account(fleet[doomed])
    key = {"gridbot_exchange_api_key": f"{doomed}-{time.time_ns()}", "gridbot_exchange_api_secret": "secret7"}
    admin.call("POST", "keys", {"account": old_key, "key": key["gridbot_exchange_api_key"],
                                "secret": key["gridbot_exchange_api_secret"]})  # fmt: skip
    secret_before = secret_digests(fleet[doomed])
    assert secret_before[0] == secret_before[1]
    extra = extra_inventory(tmp_path / "inv", fleet, host_vars={doomed: {**BAD_TICK, **key}})
    run = playbook("rollout.yml", *extra, *version_args(tmp_path, "0.1.2"))
    assert run.returncode != 0
    assert f"The rollout stops: {doomed} did not pass" in run.stdout, run.stdout[-3000:]
    assert f"{doomed}: gridbot gridbot:0.1.2-{ARCH}" in run.stdout
    assert "Rolled back to the last known-good deployment" in run.stdout
    assert deploy_batches(run.stdout)[:2] == [[canary], sorted([mate, doomed])]
    after = {name: bot(h) for name, h in fleet.items()}
    assert (after[canary]["image"], after[canary]["health"]) == (new, "healthy")
    assert (after[mate]["image"], after[mate]["health"]) == (new, "healthy")
    assert (after[doomed]["image"], after[doomed]["health"]) == (before[doomed]["image"], "healthy")
    assert "tick_size: 0.003" not in fleet[doomed].run("sudo cat /opt/gridbot/bot.yml").stdout
    assert secret_digests(fleet[doomed]) == secret_before, f"{doomed}: not back on the key that passed"
    for name in rest:
        assert after[name] == before[name], f"{name} (third batch) was touched"
    for name, h in fleet.items():
        assert not lock_left(h), f"{name}: the change lock was left behind"
    assert_books_match_the_exchange(doomed, fleet[doomed])
    assert_no_order_doubled(doomed, fleet[doomed])


def test_a_batch_within_the_inventorys_max_fail_percentage_lets_the_rollout_go_on(tmp_path):
    """With gridbot_rollout_max_fail_percentage 50 in the inventory, one failed host of two in the second
    batch is within it: that host is rolled back, the third batch gets 0.1.2, and the play still fails at its
    end, naming the host."""
    fleet = hosts()
    canary, mate, doomed, *rest = play_order()
    before = {name: bot(h) for name, h in fleet.items()}
    new = artifact(tmp_path, "0.1.2")
    tolerant = {"gridbot_rollout_max_fail_percentage": 50}
    extra = extra_inventory(tmp_path / "inv", fleet, tolerant, {doomed: BAD_TICK})
    run = playbook("rollout.yml", *extra, *version_args(tmp_path, "0.1.2"))
    assert run.returncode != 0
    assert "The rollout stops:" not in run.stdout, run.stdout[-3000:]
    summary = f"The rollout went through every batch, but {doomed} did not pass"
    assert summary in run.stdout, run.stdout[-3000:]
    after = {name: bot(h) for name, h in fleet.items()}
    for name in (canary, mate, *rest):
        assert (after[name]["image"], after[name]["health"]) == (new, "healthy"), name
    assert (after[doomed]["image"], after[doomed]["health"]) == (before[doomed]["image"], "healthy")
    for name in rest:
        assert after[name]["started"] != before[name]["started"], f"{name}: the third batch was not reached"


# 0.1.3's entrypoint: the real bot for 20 s, then an exit (other commands, such as check-config, as they are).
VOLUME = "/var/lib/docker/volumes/gridbot_data/_data"  # the bot's data volume, seen from its host


def store_schema(host):
    read = ("import sqlite3; db = sqlite3.connect('/data/gridbot.db'); "
            "print(db.execute('PRAGMA user_version').fetchone()[0])")  # fmt: skip
    out = host.run("sudo docker exec gridbot python3 -c " + shlex.quote(read))
    assert out.rc == 0, out.stderr
    return int(out.stdout)


# Trades 20 s from its first heartbeat (a loaded runner starts a bot slowly), then migrates the store to a
# schema the bot before it refuses, and dies.
DIES_LATER = """
import os, signal, sqlite3, subprocess, sys, time
from gridbot.contract import heartbeat_path
from gridbot.ops.store import VERSION
bot = subprocess.Popen(["gridbot", *sys.argv[1:]])
if sys.argv[1:2] != ["run"]:
    sys.exit(bot.wait())
signal.signal(signal.SIGTERM, lambda *_: sys.exit(bot.terminate() or bot.wait()))
while not os.path.exists(heartbeat_path()):
    time.sleep(0.5)
time.sleep(20)
bot.terminate()
bot.wait()
db = sqlite3.connect("/data/gridbot.db")
db.execute(f"PRAGMA user_version = {VERSION + 1}")
db.commit()
sys.exit(f"gridbot 0.1.3: migrated the store to v{VERSION + 1}, then gave up 20 s in")
"""


# 0.1.4's: `run` exits at once; check-config (which judges bot.yml before it is written) works.
CRASHES = """
import subprocess, sys
if sys.argv[1:2] == ["run"]:
    sys.exit("gridbot 0.1.4: broken")
sys.exit(subprocess.call(["gridbot", *sys.argv[1:]]))
"""


def test_a_version_that_migrates_the_store_and_dies_later_is_caught_by_the_soak_its_store_restored(tmp_path):
    """0.1.3 becomes healthy, trades, migrates the store to a newer schema and exits 20 s in: one healthy
    probe would have let it through, the soak (40 s here) does not. An interrupted run (the image and config
    written, no deploy) came first, so this run replaces nothing on disk: the host goes back to its known-good
    record, with the store as the rollout backed it up (the bot before refuses the newer schema), and the
    restored bot books from the exchange what 0.1.3 traded."""
    fleet = hosts()
    name = play_order()[-1]
    before = bot(fleet[name])
    version_before = store_schema(fleet[name])
    artifact(tmp_path, "0.1.3", f"ENTRYPOINT {json.dumps(['python3', '-c', DIES_LATER])}")
    version = version_args(tmp_path, "0.1.3")
    interrupted = playbook("rollout.yml", "--limit", name, "--tags", "gridbot_image,gridbot_config", *version)
    assert interrupted.returncode == 0, interrupted.stdout[-3000:]
    assert DEPLOY_TASK not in interrupted.stdout
    run = playbook("rollout.yml", "--limit", name, *version, "-e", "gridbot_health_soak=40")
    assert run.returncode != 0
    assert "Rolled back to the last known-good deployment" in run.stdout, run.stdout[-3000:]
    assert "then for 40 s" in run.stdout, run.stdout[-3000:]
    soak = run.stdout.split(f"TASK [{SOAK_TASK}]")[1].split("TASK [")[0]
    assert f"fatal: [{name}]" in soak, soak[-3000:]
    assert '"failed_when_result": true' in soak, soak[-3000:]  # the soak's verdict, not an error in it
    assert "its store as it was before the rollout, healthy again" in " ".join(run.stdout.split())
    after = bot(fleet[name])
    assert (after["image"], after["health"]) == (before["image"], "healthy")
    assert store_schema(fleet[name]) == version_before
    kept = fleet[name].run(f"sudo sh -c 'ls {VOLUME}/gridbot.db.replaced-*'")
    assert kept.rc == 0, "the migrated store is kept beside the restored one"
    assert not lock_left(fleet[name])
    assert_books_match_the_exchange(name, fleet[name])
    assert_no_order_doubled(name, fleet[name])


def test_bad_config_fails_the_host_and_leaves_its_bot_running():
    fleet = hosts()
    name = sorted(fleet)[0]
    before = bot(fleet[name])
    config = fleet[name].run("sudo sha256sum /opt/gridbot/bot.yml").stdout
    bad = '{"gridbot_config_override": {"grid": {"levels": 1}}}'
    run = playbook("rollout.yml", "--limit", name, "-e", bad)
    assert run.returncode != 0
    assert "grid.levels" in run.stdout
    assert bot(fleet[name]) == before
    assert fleet[name].run("sudo sha256sum /opt/gridbot/bot.yml").stdout == config


@pytest.mark.parametrize(
    "bad",
    [
        {"gridbot_rollout_max_fail_percentage": 101},
        {"gridbot_rollout_batches": []},
        {"gridbot_rollout_silence_minutes": 0},
    ],
)
def test_bad_rollout_settings_fail_before_any_host_is_touched(bad):
    fleet = hosts()
    before = {name: bot(h) for name, h in fleet.items()}
    run = playbook("rollout.yml", "-e", json.dumps(bad))
    assert run.returncode != 0
    assert next(iter(bad)) in run.stdout
    assert DEPLOY_TASK not in run.stdout
    assert {name: bot(h) for name, h in fleet.items()} == before


def test_a_failed_first_deployment_is_stopped_and_the_fleet_returns_to_its_version_pruned(tmp_path):
    """A host that never ran the bot has nothing to roll back to: a first deployment that fails its gate is
    stopped, not left running, and the next one that fails is stopped too: a rollback never starts what never
    passed. Then the inventory's version goes out to the whole fleet, and each host keeps only the images that
    passed their gate there (gridbot_keep_versions) and as many config backups."""
    fleet = hosts()
    name = play_order()[-2]
    fresh = fleet[name]
    assert fresh.run("sudo sh -c 'docker rm -f gridbot >/dev/null 2>&1; rm -rf /opt/gridbot'").rc == 0
    crashes = []
    for version in ("0.1.4", "0.1.5"):
        crashes.append(artifact(tmp_path, version, f"ENTRYPOINT {json.dumps(['python3', '-c', CRASHES])}"))
        run = playbook("rollout.yml", "--limit", name, *version_args(tmp_path, version))
        assert run.returncode != 0
        assert "No deployment has passed its gate here" in run.stdout, run.stdout[-3000:]
        (seen,) = json.loads(fresh.run("sudo docker inspect gridbot").stdout)
        assert (seen["State"]["Status"], seen["State"]["Running"]) == ("exited", False), seen["State"]
        assert seen["Image"] == crashes[-1], f"{version}: a rollback started {seen['Image']}"
        assert not lock_left(fresh)

    back = playbook("rollout.yml")
    assert back.returncode == 0, back.stdout[-3000:]
    keep = fresh.ansible.get_variables()["gridbot_keep_versions"]
    for host_name, h in fleet.items():
        state = bot(h)
        assert state["health"] == "healthy"
        images = set(h.run("sudo docker image ls --no-trunc --format '{{.ID}}' gridbot").stdout.split())
        passed = h.run("sudo cat /opt/gridbot/known-good/images").stdout.split()
        assert passed[-1] == state["image"]
        assert images == set(passed), host_name
        assert len(passed) <= keep
        assert not images & set(crashes)
        for config in ("bot.yml", "compose.yaml"):
            backups = h.run(f"sudo sh -c 'ls /opt/gridbot/{config}.*~'").stdout.split()
            assert len(backups) <= keep, (host_name, backups)
        assert not lock_left(h)


def test_a_grid_change_rolled_out_re_plans_every_bots_grid_on_the_exchange():
    """Another grid (levels and width) through the fleet's health gate: every bot re-plans at its next
    candles, judged from the exchange: its resting orders are the new grid's (no more buys than its levels
    take, all within its bounds), nothing sold at market (the inventory kept), every fill booked once."""
    fleet = hosts()
    wait_for_resting_orders(fleet)
    before = {name: bot_status(h)["grid"] for name, h in fleet.items()}
    assert all(g and g["levels"] == 20 for g in before.values()), before
    change = '{"gridbot_config_override": {"grid": {"levels": 10, "width_pct": 20}}}'
    run = playbook("rollout.yml", "-e", change)
    assert run.returncode == 0, run.stdout[-3000:]
    for name, h in fleet.items():
        deadline = time.monotonic() + 180
        while True:
            grid = bot_status(h)["grid"]
            if (grid and grid["levels"] == 10 and not grid["replan"]) or time.monotonic() > deadline:
                break
            time.sleep(5)
        assert grid["levels"] == 10, (name, grid)
        assert not grid["replan"], (name, grid)
        assert grid["settings_sha256"] != before[name]["settings_sha256"], name
        assert grid["step_pct"] > before[name]["step_pct"], (name, before[name], grid)
        orders, _ = exchange_view(h)
        resting = [o for o in orders.values() if o["status"] in ("NEW", "PARTIALLY_FILLED")]
        buys = [float(o["price"]) for o in resting if o["side"] == "BUY"]
        assert len(buys) <= grid["levels"] - 1, (name, sorted(buys))
        assert all(grid["lower"] * 0.999 <= p <= grid["upper"] * 1.001 for p in buys), (name, grid, buys)
        assert not [o for o in orders.values() if o["type"] == "MARKET"], f"{name}: inventory sold at market"
        assert_books_match_the_exchange(name, h)
        assert_no_order_doubled(name, h)
