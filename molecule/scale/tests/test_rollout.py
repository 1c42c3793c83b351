"""Bot updates across a fleet that trades live (each VM on its own account of a local exchange on the
controller): canary first, health-gated, rolled back if unhealthy, bad config refused, and no order or fill
lost or doubled, judged from the exchange's admin API."""

import hashlib
import json
import os
import re
import shlex
import subprocess
import threading
import time
from pathlib import Path

from gridbot_exchange.testing import Admin

from fleet import PROJECT, host_var, hosts, play_order, playbook

ARTIFACTS = PROJECT / ".cache" / "image"
SECRET = "/run/secrets/exchange"  # the container contract's credentials file
DEPLOY_TASK = "TASK [gridbot : Deploy | Bring the compose project up]"
SOAK_TASK = "gridbot : Deploy | Soak, the bot staying healthy for gridbot_health_soak seconds"


def bot(host):
    out = host.run("sudo docker inspect gridbot")
    assert out.rc == 0, out.stderr
    c = json.loads(out.stdout)[0]
    return {"image": c["Image"], "started": c["State"]["StartedAt"], "health": c["State"]["Health"]["Status"]}


def artifact(tmp_path, version, *dockerfile):
    """A new bot version derived from the built arm64 image, exported the way `make image` exports one."""
    base = (ARTIFACTS / "gridbot-0.1.0-arm64.id").read_text().strip()
    tag = f"gridbot:{version}-arm64"
    recipe = "\n".join([f"FROM {base}", f"LABEL org.opencontainers.image.version={version}", *dockerfile])
    subprocess.run(["docker", "build", "-q", "-t", tag, "-"], input=recipe, text=True, check=True,
                   capture_output=True, env=dict(os.environ, DOCKER_BUILDKIT="0"))  # fmt: skip
    inspect = ["docker", "image", "inspect", "-f", "{{.Id}}", tag]
    image_id = subprocess.run(inspect, capture_output=True, text=True, check=True).stdout.strip()
    out = tmp_path / f"gridbot-{version}-arm64"
    subprocess.run(f"docker save {tag} | zstd -q -T0 -3 -o {out}.tar.zst", shell=True, check=True)
    Path(f"{out}.id").write_text(image_id + "\n")
    return image_id


def bot_status(host):
    out = host.run("sudo docker exec gridbot gridbot status -c /etc/gridbot/bot.yml")
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)


def account(host):
    """The host's account on the exchange it trades on (host_vars), and that exchange's admin API."""
    port = host.ansible.get_variables()["fleet_exchange_port"]
    return host_var(host, "gridbot_exchange_api_key"), Admin(f"http://127.0.0.1:{port}")


def exchange_view(host):
    """What the exchange holds for this host's account: its orders by client id, its trade ids."""
    key, admin = account(host)
    orders = {o["clientOrderId"]: o for o in admin.call("GET", f"orders?key={key}")}
    trades = {str(t["id"]) for t in admin.call("GET", f"trades?key={key}")}
    return orders, trades


def recorded_fills(host):
    """The trade ids the running bot has recorded (its store, read-only)."""
    code = ("import json, sqlite3; c = sqlite3.connect('file:/data/gridbot.db?mode=ro', uri=True); "
            "print(json.dumps([r[0] for r in c.execute('SELECT trade_id FROM fills')]))")  # fmt: skip
    out = host.run("sudo docker exec gridbot python3 -c " + shlex.quote(code))
    assert out.rc == 0, out.stderr
    return set(json.loads(out.stdout))


def assert_books_match_the_exchange(name, host, timeout=180):
    """Every fill the exchange made for the account is recorded by the bot, once (the fills table is keyed by
    the exchange's trade id), and the bot records none the exchange did not make. A fill may land between
    two reads: the bot gets a few cycles to book it."""
    deadline = time.monotonic() + timeout
    while True:
        _, trades = exchange_view(host)
        mine = recorded_fills(host)
        if mine == trades or time.monotonic() > deadline:
            break
        time.sleep(10)
    assert trades <= mine, f"{name}: exchange fills the bot did not book: {sorted(trades - mine)}"
    assert mine <= trades, f"{name}: fills the exchange did not make: {sorted(mine - trades)}"
    return len(trades)


def assert_no_order_doubled(name, host):
    key, admin = account(host)
    dups = admin.call("GET", "duplicates")
    assert not [c for c in dups["duplicate_client_ids"] if c.startswith(key + "/")], (name, dups)
    orders, _ = exchange_view(host)
    resting = [(o["side"], o["price"]) for o in orders.values() if o["status"] in ("NEW", "PARTIALLY_FILLED")]
    assert len(resting) == len(set(resting)), f"{name}: two open orders at one level: {sorted(resting)}"


def wait_for_resting_orders(fleet, timeout=300):
    """Each bot has orders on the exchange (a fresh bot places its grid at its first cycle)."""
    deadline = time.monotonic() + timeout
    while True:
        open_now = {name: [c for c, o in exchange_view(h)[0].items() if o["status"] == "NEW"]
                    for name, h in fleet.items()}  # fmt: skip
        if all(open_now.values()) or time.monotonic() > deadline:
            break
        time.sleep(10)
    assert all(open_now.values()), f"a bot has no resting order on the exchange: {open_now}"
    return open_now


def rotated_inventory(tmp_path, fleet):
    """A second inventory source whose host_vars carry each host's new key: later sources win, as a changed
    vault file would. Each new key is first added to the host's account on the exchange, as an operator
    creates a new API key before deploying it and revokes the old one after."""
    rotated = {}
    (tmp_path / "host_vars").mkdir()
    for name, h in fleet.items():
        old, admin = account(h)
        new = {
            "gridbot_exchange_api_key": f"{name}-rotated-key",
            "gridbot_exchange_api_secret": f"{name}-rotated-secret-5551234",
        }
        admin.call("POST", "keys", {"account": old, "key": new["gridbot_exchange_api_key"],
                                    "secret": new["gridbot_exchange_api_secret"]})  # fmt: skip
        (tmp_path / "host_vars" / f"{name}.yml").write_text(json.dumps(new))
        rotated[name] = new
    (tmp_path / "hosts.yml").write_text(json.dumps({"pifleet": {"hosts": dict.fromkeys(fleet)}}))
    return tmp_path / "hosts.yml", rotated


def deploy_batches(stdout):
    """The hosts each run of the compose-up task touched, in order: one entry per serial batch."""
    chunks = stdout.split(DEPLOY_TASK)[1:]
    return [sorted(set(re.findall(r"^(?:ok|changed|fatal): \[([\w-]+)\]", c.split("TASK [")[0], re.M)))
            for c in chunks]  # fmt: skip


def test_a_config_change_and_a_key_rotation_reach_every_running_bot(tmp_path):
    """bot.yml and the credentials are bind-mounted files replaced by rename: without the config digest label
    the play said `changed`, the gate passed on the old container, and the bots kept the old values. First in
    this module: the fleet still runs the converged image, so only the config and the key change here."""
    fleet = hosts()
    before = {name: bot(h) for name, h in fleet.items()}
    extra, rotated = rotated_inventory(tmp_path, fleet)
    # A setting that leaves the grid as it is: the next test's rollout (without this override) must not
    # move the bots' resting orders.
    change = '{"gridbot_config_override": {"risk": {"max_errors_per_hour": 61}}}'
    run = playbook("rollout.yml", "-i", str(extra), "-v", "-e", change)
    assert run.returncode == 0, run.stdout[-3000:]
    assert [len(b) for b in deploy_batches(run.stdout)] == [1, 1], "one host at a time"
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
        code = f"import hashlib; print(hashlib.sha256(open({SECRET!r}, 'rb').read()).hexdigest())"
        seen = h.run("sudo docker exec gridbot python3 -c " + shlex.quote(code))
        want = hashlib.sha256(f"GRIDBOT_API_KEY={key}\nGRIDBOT_API_SECRET={secret}\n".encode()).hexdigest()
        assert seen.stdout.strip() == want, f"{name}: the bot reads the old key"
        pid = h.run("sudo docker inspect -f '{{.State.Pid}}' gridbot").stdout.strip()
        for where in ("docker inspect gridbot", f"cat /proc/{pid}/environ", "docker logs gridbot 2>&1"):
            shown = h.run(f"sudo sh -c '{where}'").stdout
            assert key not in shown, f"{name}: the key in {where}"
            assert secret not in shown, f"{name}: the secret in {where}"

    # The exchange's side: each bot now signs with its new key and no longer with the old one.
    time.sleep(20)  # two of the bots' 10 s cycles
    first = {name: account(h)[1].call("GET", "keys") for name, h in fleet.items()}
    time.sleep(20)
    for name, h in fleet.items():
        old, admin = account(h)
        new = rotated[name]["gridbot_exchange_api_key"]
        keys = admin.call("GET", "keys")
        assert keys[new]["account"] == old
        assert keys[new]["requests"] > first[name][new]["requests"], f"{name}: the new key is not in use"
        assert keys[old]["requests"] == first[name][old]["requests"], f"{name}: the old key is still in use"


class MarketRush(threading.Thread):
    """While a rollout runs, moves each exchange's market on by `candles` every `every` seconds (4 times its
    pace): market hours pass while each bot restarts, so fills may land while it is down; faster, the price
    leaves the grid and the bots move it (a regrid), which tells nothing about the restart."""

    def __init__(self, ports, candles=3, every=5.0):
        super().__init__(daemon=True)
        self.admins = [Admin(f"http://127.0.0.1:{port}") for port in ports]
        self.candles, self.every = candles, every
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(self.every):
            for admin in self.admins:
                admin.step(candles=self.candles)


def test_new_version_rolls_out_one_batch_at_a_time_while_the_bots_trade(tmp_path, capsys):
    """The restart of a live bot leaves its resting orders resting (none cancelled unless the bot moved its
    grid, nothing placed twice), and the fills the exchange made meanwhile, while the bot was down too, are
    booked when it is back, once each: judged from the exchange's orders and trades."""
    new = artifact(tmp_path, "0.1.1")
    fleet = hosts()
    resting = wait_for_resting_orders(fleet)
    trades_before = {name: exchange_view(h)[1] for name, h in fleet.items()}
    regrids = {name: bot_status(h)["regrids"] for name, h in fleet.items()}
    rush = MarketRush({h.ansible.get_variables()["fleet_exchange_port"] for h in fleet.values()})
    rush.start()
    try:
        run = playbook(
            "rollout.yml", "-e", "gridbot_version=0.1.1", "-e", f"gridbot_image_artifact_dir={tmp_path}"
        )
    finally:
        rush.done.set()
        rush.join()
    assert run.returncode == 0, run.stdout[-3000:]
    batches = deploy_batches(run.stdout)
    assert len(batches) == 2, batches
    assert [len(b) for b in batches] == [1, 1]
    assert sorted(batches[0] + batches[1]) == sorted(fleet)
    for name, h in fleet.items():
        state = bot(h)
        assert state["image"] == new
        assert state["health"] == "healthy"
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


def test_the_status_rows_show_each_bot_trading_live_and_its_host(tmp_path):
    """The rows a script reads (make status FORMAT=json) after the new version's rollout; the table printed
    from them is tested on the controller (tools/tests)."""
    fleet = hosts()
    new = bot(next(iter(fleet.values())))["image"]
    rows_file = tmp_path / "status.json"
    status = playbook("status.yml", "-e", f"status_json={rows_file}")
    assert status.returncode == 0, status.stdout[-3000:]
    rows = {row["host"]: row for row in json.loads(rows_file.read_text())}
    assert sorted(rows) == sorted(fleet)
    for name, row in rows.items():
        # the role's tag: version-arch-<ID prefix>
        assert row["image"] == f"gridbot:0.1.1-arm64-{new[7:19]}", row
        assert row["image_id"] == new[7:19], row
        assert row["health"] == "healthy", row
        assert re.fullmatch(r"0d00h[0-5]\dm", row["uptime"]), row  # started by this rollout, minutes ago
        assert re.fullmatch(r"[\d.]+MiB/384MiB", row["memory"]), row
        assert (row["mode"], row["state"]) == ("live", "trading"), row
        assert float(row["equity"]) > 0, row
        assert isinstance(row["open_orders"], int), row
        assert isinstance(row["round_trips"], int), row
        # the VMs have no vcgencmd (not Raspberry Pi OS): n/a, not an error
        assert row["throttled"] == "n/a", row
        used, total = map(int, row["mem"].removesuffix("MiB").split("/"))
        assert 0 < used < total, row
        assert row["swap"].endswith("MiB"), row
        assert isinstance(row["oom_kills"], int), row  # /proc/vmstat's count since boot
        assert re.fullmatch(r"\d+%", row["rootfs"]), row
        assert row["model"] == ("pi5" if "pi5" in name else "pi4"), row


# 0.1.2's entrypoint: the real bot for 45 s, then an exit (other commands, such as check-config, as they are).
DIES_LATER = """
import signal, subprocess, sys, time
bot = subprocess.Popen(["gridbot", *sys.argv[1:]])
if sys.argv[1:2] != ["run"]:
    sys.exit(bot.wait())
signal.signal(signal.SIGTERM, lambda *_: sys.exit(bot.terminate() or bot.wait()))
time.sleep(45)
bot.terminate()
bot.wait()
sys.exit("gridbot 0.1.2: gave up 45 s in")
"""


# 0.1.3's: `run` exits at once; check-config (which judges bot.yml before it is written) works.
CRASHES = """
import subprocess, sys
if sys.argv[1:2] == ["run"]:
    sys.exit("gridbot 0.1.3: broken")
sys.exit(subprocess.call(["gridbot", *sys.argv[1:]]))
"""


def lock_left(host):
    return host.run("test -e /run/gridbot/rollout.lock").rc == 0


def test_a_version_that_dies_after_passing_its_first_probes_is_caught_by_the_soak(tmp_path):
    """0.1.2 becomes healthy, then exits 45 s in: one healthy probe would have let it through to the next
    batch, the soak does not. An interrupted run (the canary's image and config written, no deploy) came
    first, so this run replaces nothing on disk: the canary goes back to its known-good record."""
    fleet = hosts()
    before = {name: bot(h) for name, h in fleet.items()}
    artifact(tmp_path, "0.1.2", f"ENTRYPOINT {json.dumps(['python3', '-c', DIES_LATER])}")
    version = ["-e", "gridbot_version=0.1.2", "-e", f"gridbot_image_artifact_dir={tmp_path}"]
    canary = play_order()[0]
    interrupted = playbook(
        "rollout.yml", "--limit", canary, "--tags", "gridbot_image,gridbot_config", *version
    )
    assert interrupted.returncode == 0, interrupted.stdout[-3000:]
    assert DEPLOY_TASK not in interrupted.stdout
    run = playbook("rollout.yml", *version, "-e", "gridbot_health_soak=75")
    assert run.returncode != 0
    assert "Rolled back to the last known-good deployment" in run.stdout, run.stdout[-3000:]
    assert "then for 75 s" in run.stdout, run.stdout[-3000:]
    soak = run.stdout.split(f"TASK [{SOAK_TASK}]")[1].split("TASK [")[0]
    assert f"fatal: [{canary}]" in soak, soak[-3000:]
    assert '"failed_when_result": true' in soak, soak[-3000:]  # the soak's verdict, not an error in it
    assert deploy_batches(run.stdout) == [[canary]]  # the canary's batch, and no other
    after = {name: bot(h) for name, h in fleet.items()}
    assert after[canary]["image"] == before[canary]["image"]
    assert after[canary]["health"] == "healthy"
    for name in fleet:
        if name != canary:
            assert after[name] == before[name], f"{name} was touched"
        assert not lock_left(fleet[name]), f"{name}: the rollout lock was left behind"
    assert_books_match_the_exchange(canary, fleet[canary])
    assert_no_order_doubled(canary, fleet[canary])


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


def test_a_failed_first_deployment_is_stopped_and_the_fleet_returns_to_its_version_pruned(tmp_path):
    """A host that never ran the bot has nothing to roll back to: a first deployment that fails its gate is
    stopped, not left running. Then the inventory's version goes out to the whole fleet (the canary from
    0.1.1, the other host from the stopped bot), and each host keeps only the images that passed their gate
    there (gridbot_keep_versions) and as many config backups."""
    fleet = hosts()
    name = play_order()[-1]  # not the canary of the test above: its images say what pruning keeps
    fresh = fleet[name]
    assert fresh.run("sudo sh -c 'docker rm -f gridbot >/dev/null 2>&1; rm -rf /opt/gridbot'").rc == 0
    crash = artifact(tmp_path, "0.1.3", f"ENTRYPOINT {json.dumps(['python3', '-c', CRASHES])}")
    run = playbook("rollout.yml", "--limit", name, "-e", "gridbot_version=0.1.3",
                   "-e", f"gridbot_image_artifact_dir={tmp_path}")  # fmt: skip
    assert run.returncode != 0
    assert "This was its first deployment here" in run.stdout, run.stdout[-3000:]
    state = json.loads(fresh.run("sudo docker inspect gridbot").stdout)[0]["State"]
    assert (state["Status"], state["Running"]) == ("exited", False), state
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
        assert crash not in images
        for config in ("bot.yml", "compose.yaml"):
            backups = h.run(f"sudo sh -c 'ls /opt/gridbot/{config}.*~'").stdout.split()
            assert len(backups) <= keep, (host_name, backups)
        assert not lock_left(h)
