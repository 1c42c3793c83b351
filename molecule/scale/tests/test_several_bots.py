"""Several bots on one host (#63): the tier's last host takes two bots beside the one it runs, `wide` (a grid
of its own, on an account of its own) and `narrow` (a narrower grid on wide's account, said with account_of),
while its first bot, the single-bot form's, is adopted as the bot `default` with its orders and fills. Judged
by the host's engine (which container started when) and the exchange's ledger (whose orders rest, under which
bot's id). Last in the tier: the bots it adds trade on until the hosts are destroyed."""

import hashlib
import json
import re
import shlex
import sqlite3
import time

import pytest
from test_rollout import extra_inventory, wait_for_resting_orders

from fleet import BOTS, account, bot_status, exchange_view, hosts, play_order, playbook, recorded_fills
from gridbot import contract
from gridbot.live.client_ids import client_id_parts

PORTS = {"wide": 9110, "narrow": 9111}


def engine_view(host, container):
    out = host.run(f"sudo docker inspect {container}")
    assert out.rc == 0, out.stderr
    c = json.loads(out.stdout)[0]
    return {"started": c["State"]["StartedAt"], "health": c["State"]["Health"]["Status"], "image": c["Image"]}


def resting_by_bot(admin, key, ids):
    """The account's resting orders, by the bot whose id their client id carries (None: no bot's)."""
    orders = [o for o in admin.call("GET", f"orders?key={key}") if o["status"] in ("NEW", "PARTIALLY_FILLED")]
    out: dict[str | None, list] = {}
    for o in orders:
        owner = next((b for b, i in ids.items() if client_id_parts(i, o["clientOrderId"])), None)
        out.setdefault(owner, []).append(o)
    return out


def wait_for(check, what, timeout=180):
    deadline = time.monotonic() + timeout
    while not (got := check()):
        assert time.monotonic() < deadline, what
        time.sleep(3)
    return got


@pytest.fixture(scope="module")
def several(tmp_path_factory):
    """The last host with its two new bots deployed by rollout.yml; what the tests need to judge them."""
    fleet = hosts()
    name = play_order()[-1]
    host = fleet[name]
    # The inventory's config first: a test before this one rolled a grid change out with -e, which a rollout
    # without it takes back (a re-plan, its orders cancelled), which is not the adoption's doing.
    run = playbook("rollout.yml", "--limit", name)
    assert run.returncode == 0, run.stdout[-3000:]
    wait_for_resting_orders({name: host})
    first = engine_view(host, "gridbot")
    first_orders, _ = exchange_view(host)
    first_fills = recorded_fills(host)
    first_status = bot_status(host)
    _, admin = account(host)
    key, secret = f"{name}-wide-{time.time_ns()}", "wide-secret-0123456789"
    admin.call("POST", "accounts", {"key": key, "secret": secret, "balances": {"USDT": 10000}})
    bots = {
        "default": {},
        "wide": {"exchange_api_key": key, "exchange_api_secret": secret, "memory": "256M",
                 "metrics_port": PORTS["wide"], "config": {"grid": {"width_pct": 24}}},
        "narrow": {"account_of": "wide", "metrics_port": PORTS["narrow"],
                   "config": {"grid": {"width_pct": 6}}},
    }  # fmt: skip
    tmp = tmp_path_factory.mktemp("several")
    run = playbook("rollout.yml", "--limit", name, *extra_inventory(tmp, fleet, host_vars={name: {
        "gridbot_host_bots": bots}}))  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    ids = BOTS.bot_ids({**host.ansible.get_variables(), "gridbot_host_bots": bots}, name)
    return {"fleet": fleet, "name": name, "host": host, "first": first, "first_orders": first_orders,
            "first_fills": first_fills, "first_status": first_status, "admin": admin, "key": key,
            "bots": bots, "ids": ids, "tmp": tmp}  # fmt: skip


def test_two_bots_join_a_host_whose_first_bot_is_adopted_with_its_orders_and_fills(several):
    """The first bot keeps its container's name, store and id; it restarts once, as its calls are now paced
    for three bots behind the host's IP, and its orders and fills go on: none of its resting orders was
    cancelled (unless the strategy moved its grid meanwhile, as the market may), each fill it had booked is
    still booked."""
    host = several["host"]
    now = engine_view(host, "gridbot")
    assert now["image"] == several["first"]["image"]
    assert now["health"] == "healthy"
    orders, _ = exchange_view(host)
    rested = {c for c, o in several["first_orders"].items() if o["status"] in ("NEW", "PARTIALLY_FILLED")}
    assert rested, "the first bot had a grid resting"
    cancelled = {c for c in rested if orders[c]["status"] == "CANCELED"}
    status, first = bot_status(host), several["first_status"]
    assert status["grid"]["settings_sha256"] == first["grid"]["settings_sha256"]  # nothing to re-plan for
    if status["regrids"] == first["regrids"]:  # a restart never replaces the grid's orders
        assert not cancelled, f"resting orders cancelled across the adoption: {sorted(cancelled)}"
    assert several["first_fills"] <= recorded_fills(host)
    said = host.run("sudo docker exec gridbot gridbot status -c /etc/gridbot/bot.yml")
    assert not json.loads(said.stdout).get("halted"), said.stdout
    for b in ("wide", "narrow"):
        assert engine_view(host, f"gridbot-{b}")["health"] == "healthy", b
        out = host.run(f"sudo docker exec gridbot-{b} gridbot status -c /etc/gridbot/bot.yml")
        assert out.rc == 0, out.stderr
        assert json.loads(out.stdout)["grid"]["settings_sha256"], b
    # One directory for the exchange's Retry-After, shared: the IP's, whichever bot it was given to.
    shared = ("/opt/gridbot/retry-after", contract.IP_QUIET_DIR)
    for c in ("gridbot", "gridbot-wide", "gridbot-narrow"):
        mounts = json.loads(host.run(f"sudo docker inspect -f '{{{{json .Mounts}}}}' {c}").stdout)
        assert shared in {(m["Source"], m["Destination"]) for m in mounts}, c
    ids = several["ids"]
    assert len(set(ids.values())) == 3, ids
    # The two on one account: each rests its own grid under its own id, none of the other's, none unowned.
    resting = wait_for(lambda: (r := resting_by_bot(several["admin"], several["key"], ids))
                       and r.get("wide") and r.get("narrow") and r, "both grids resting")  # fmt: skip
    assert set(resting) == {"wide", "narrow"}, {k: len(v) for k, v in resting.items()}
    spread = {b: max(float(o["price"]) for o in os) / min(float(o["price"]) for o in os)
              for b, os in resting.items()}  # fmt: skip
    assert spread["wide"] > spread["narrow"], spread
    # Each bot's own port, published on the host.
    for b, port in PORTS.items():
        fetch = f"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{port}/readyz').read().decode())"
        assert host.run(f'python3 -c "{fetch}"').stdout.strip() == "trading", b


def test_a_change_to_one_bot_restarts_it_alone_and_moves_its_grid(several):
    host, name = several["host"], several["name"]
    before = {c: engine_view(host, c) for c in ("gridbot", "gridbot-wide", "gridbot-narrow")}
    old = {
        o["clientOrderId"] for o in resting_by_bot(several["admin"], several["key"], several["ids"])["narrow"]
    }
    bots = json.loads(json.dumps(several["bots"]))
    bots["narrow"]["config"]["grid"]["width_pct"] = 9
    tmp = several["tmp"] / "change"
    run = playbook("rollout.yml", "--limit", name, *extra_inventory(tmp, several["fleet"], host_vars={name: {
        "gridbot_host_bots": bots}}))  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    after = {c: engine_view(host, c) for c in before}
    assert after["gridbot"] == before["gridbot"]
    assert after["gridbot-wide"] == before["gridbot-wide"]
    assert after["gridbot-narrow"]["started"] != before["gridbot-narrow"]["started"]
    assert after["gridbot-narrow"]["health"] == "healthy"
    several["bots"] = bots  # what the host runs now: the tests after this one deploy it unchanged

    def moved():
        now = resting_by_bot(several["admin"], several["key"], several["ids"]).get("narrow", [])
        return {o["clientOrderId"] for o in now} - old

    assert wait_for(moved, "narrow's new grid"), "narrow's grid did not move"


def test_the_status_table_has_a_row_for_each_bot(several, tmp_path):
    host, name = several["host"], several["name"]
    rows_file = tmp_path / "status.json"
    run = playbook("status.yml", "--limit", name, "-e", f"status_json={rows_file}")
    assert run.returncode == 0, run.stdout[-3000:]
    rows = {r["bot"]: r for r in json.loads(rows_file.read_text())}
    assert list(rows) == ["default", "narrow", "wide"]
    for bot, row in rows.items():
        container = "gridbot" if bot == "default" else f"gridbot-{bot}"
        assert row["image_id"] == engine_view(host, container)["image"][7:19], row
        assert (row["host"], row["health"], row["mode"], row["state"]) == (
            name,
            "healthy",
            "live",
            "trading",
        ), row
        assert row["open_orders"] > 0, row
        assert row["bot_alerts"] != "n/a", row  # the scale tier has a monitoring host
    assert rows["wide"]["memory"].endswith("/256MiB"), rows["wide"]
    assert rows["default"]["memory"].endswith("/384MiB"), rows["default"]


def test_halt_and_resume_aim_at_one_bot(several):
    host, name = several["host"], several["name"]

    def halted():
        out = {}
        for c, bot in (("gridbot", "default"), ("gridbot-wide", "wide"), ("gridbot-narrow", "narrow")):
            said = host.run(f"sudo docker exec {c} gridbot status -c /etc/gridbot/bot.yml")
            assert said.rc == 0, said.stderr
            out[bot] = json.loads(said.stdout)["halted"]
        return out

    run = playbook("halt.yml", "--limit", name, "-e", "gridbot_only=narrow", "-e", "gridbot_halt_cancel=true")
    assert run.returncode == 0, run.stdout[-3000:]
    state = halted()
    assert state["narrow"], state
    assert not state["wide"], state
    assert not state["default"], state
    # narrow's orders are gone from the books; wide's, on the same account, still rest
    resting = resting_by_bot(several["admin"], several["key"], several["ids"])
    assert not resting.get("narrow"), {k: len(v) for k, v in resting.items()}
    assert resting.get("wide"), {k: len(v) for k, v in resting.items()}
    run = playbook("resume.yml", "--limit", name, "-e", "gridbot_only=narrow", "-e",
                   "gridbot_resume_confirmed=true")  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    assert not any(halted().values())
    wait_for(lambda: resting_by_bot(several["admin"], several["key"], several["ids"]).get("narrow"),
             "narrow's grid back on the books")  # fmt: skip


def test_a_killed_bot_is_restarted_alone(several):
    host = several["host"]
    before = {c: engine_view(host, c) for c in ("gridbot", "gridbot-wide", "gridbot-narrow")}
    # SIGKILL of the bot's process from the host, as a crash: `docker kill` would count as a stop by hand,
    # which the restart policy (unless-stopped) leaves stopped.
    pid = host.run("sudo docker inspect -f '{{.State.Pid}}' gridbot-wide").stdout.strip()
    assert host.run(f"sudo kill -KILL {pid}").rc == 0
    wait_for(lambda: engine_view(host, "gridbot-wide")["started"] != before["gridbot-wide"]["started"]
             and engine_view(host, "gridbot-wide")["health"] == "healthy", "wide back, healthy")  # fmt: skip
    assert engine_view(host, "gridbot") == before["gridbot"]
    assert engine_view(host, "gridbot-narrow") == before["gridbot-narrow"]


@pytest.mark.parametrize(
    ("bots", "words"),
    [
        ({"eth/usdt": {}}, "gridbot_host_bots: a bot's name must be 1-16 lower-case"),
        ({"default": {}, "big": {"memory": "16g", "metrics_port": 9112},
          "bigger": {"memory": "16g", "metrics_port": 9113}},
         "the bots' memory limits total 33152 MiB (default 384M, big 16g, bigger 16g), beyond the"),
        ({"default": {}, "x": {"metrics_port": 9108}}, "bots default and x have one metrics_port, 9108"),
    ],
)  # fmt: skip
def test_bad_bots_are_refused_before_any_change(several, bots, words):
    host, name = several["host"], several["name"]
    before = {c: engine_view(host, c) for c in ("gridbot", "gridbot-wide", "gridbot-narrow")}
    tmp = several["tmp"] / f"bad-{len(bots)}-{abs(hash(words))}"
    run = playbook("rollout.yml", "--limit", name, *extra_inventory(tmp, several["fleet"], host_vars={name: {
        "gridbot_host_bots": bots}}))  # fmt: skip
    assert run.returncode != 0
    assert words in run.stdout, run.stdout[-3000:]
    assert {c: engine_view(host, c) for c in before} == before


def test_a_bot_its_shared_account_cannot_fund_is_refused_before_any_change(several):
    """A bot joining wide's account (10,000 USDT) with a start of 20,000: the exchange, asked with the key by
    the role before any bot of the host changes, finds the account short. The host fails naming the bots and
    the numbers; no container, directory or order of the new bot, and the others not restarted (their configs
    would name it)."""
    host, name = several["host"], several["name"]
    before = {c: engine_view(host, c) for c in ("gridbot", "gridbot-wide", "gridbot-narrow")}
    greedy = {"account_of": "wide", "metrics_port": 9112, "config": {"start_quote": 20000}}
    bots = {name: {"gridbot_host_bots": {**several["bots"], "greedy": greedy}}}
    extra = extra_inventory(several["tmp"] / "greedy", several["fleet"], host_vars=bots)
    run = playbook("rollout.yml", "--limit", name, *extra)
    assert run.returncode != 0
    said = re.search(rf"bot greedy on {name}: .*?(exchange\.account_shared_with: [^\n\\]*)", run.stdout)
    assert said, run.stdout[-3000:]
    assert "start with 22000 USDT together (this bot 20000, narrow 1000, wide 1000), more than it" in said[1]
    assert {c: engine_view(host, c) for c in before} == before
    assert host.run("sudo docker inspect gridbot-greedy").rc != 0
    assert not host.file("/opt/gridbot/bots/greedy").exists
    greedy_id = BOTS.bot_ids({**host.ansible.get_variables(), "gridbot_host_bots": {"greedy": greedy}}, name)
    assert resting_by_bot(several["admin"], several["key"], greedy_id).get("greedy") is None


def test_backup_yml_brings_each_bots_newest_backup_and_a_lost_bot_is_restored_alone_from_its_own(
    several, tmp_path
):
    """backup.yml copies each bot's newest backup to its own directory on the controller. One bot's store
    then lost (its container, volume and directory gone, as a replaced drive leaves them): the rollout makes
    that bot's store of its own copy before it starts, its neighbours untouched, and the fills it had booked
    stay booked, none of its client ids sent twice."""
    name, ids, host = several["name"], several["ids"], several["host"]
    inventory = extra_inventory(several["tmp"] / "backup", several["fleet"],
                                host_vars={name: {"gridbot_host_bots": several["bots"]}})  # fmt: skip
    run = playbook("backup.yml", "--limit", name, "-e", f"gridbot_backup_dest={tmp_path}",
                   "-e", "gridbot_backup_now=true", *inventory)  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    for bot, where in (("default", tmp_path / name), ("wide", tmp_path / name / "wide"),
                       ("narrow", tmp_path / name / "narrow")):  # fmt: skip
        (copy,) = where.glob("*.db")
        assert copy.name.startswith(f"gridbot-{ids[bot]}-"), (bot, copy.name)
        digest = (where / f"{copy.name}.sha256").read_text().split()[0]
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest, bot
    (copy,) = (tmp_path / name / "wide").glob("*.db")
    con = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    try:
        backed_up = {r[0] for r in con.execute("SELECT trade_id FROM fills")}
    finally:
        con.close()
    others = {c: engine_view(host, c)["started"] for c in ("gridbot", "gridbot-narrow")}
    lost = "docker rm -f gridbot-wide && docker volume rm gridbot-wide_data && rm -rf /opt/gridbot/bots/wide"
    gone = host.run(f"sudo sh -c '{lost}'")
    assert gone.rc == 0, gone.stderr
    run = playbook("rollout.yml", "--limit", name, "-e", f"gridbot_backup_dest={tmp_path}", *inventory)
    assert run.returncode == 0, run.stdout[-3000:]
    assert f"{name}: gridbot: restored /restore/{copy.name} into /data" in " ".join(run.stdout.split())
    assert engine_view(host, "gridbot-wide")["health"] == "healthy"
    assert {c: engine_view(host, c)["started"] for c in others} == others
    code = ("import json, sqlite3; c = sqlite3.connect('file:/data/gridbot.db?mode=ro', uri=True); "
            "print(json.dumps([r[0] for r in c.execute('SELECT trade_id FROM fills')]))")  # fmt: skip
    out = host.run(f"sudo docker exec gridbot-wide python3 -c {shlex.quote(code)}")
    assert out.rc == 0, out.stderr
    assert backed_up <= set(json.loads(out.stdout))
    dups = several["admin"].call("GET", "duplicates")["duplicate_client_ids"]
    assert not [c for c in dups if c.startswith(several["key"] + "/")], dups


def test_a_bot_the_inventory_drops_is_retired_with_no_order_left_and_its_store_kept(several):
    """Last: narrow leaves the inventory, stopped by hand before with its grid still resting. Judged by the
    exchange (none of its orders rests, wide's on the same account do) and the host (its container, timer and
    key gone; its store volume and last backup there); the bots left pace their calls for two."""
    host, name = several["host"], several["name"]
    assert resting_by_bot(several["admin"], several["key"], several["ids"]).get("narrow"), "narrow's grid"
    assert host.run("sudo docker stop gridbot-narrow").rc == 0
    bots = {b: v for b, v in several["bots"].items() if b != "narrow"}
    inventory = extra_inventory(several["tmp"] / "retire", several["fleet"],
                                host_vars={name: {"gridbot_host_bots": bots}})  # fmt: skip
    run = playbook("rollout.yml", "--limit", name, *inventory)
    assert run.returncode == 0, run.stdout[-3000:]
    said = re.search(
        r"bot narrow retired \(the inventory no longer names it\), (.*?) are kept", run.stdout, re.S
    )
    assert said, run.stdout[-3000:]
    assert "halted with its orders cancelled; its last backup" in said[1], said[1]
    assert host.run("sudo docker inspect gridbot-narrow").rc != 0
    # The two left pace their calls as two bots behind the IP now (restarted for it, once) and trade on.
    for c, config in (
        ("gridbot", "/opt/gridbot/bot.yml"),
        ("gridbot-wide", "/opt/gridbot/bots/wide/bot.yml"),
    ):
        assert engine_view(host, c)["health"] == "healthy", c
        assert "bots_per_ip: 2\n" in host.run(f"sudo cat {config}").stdout, c
    resting = resting_by_bot(several["admin"], several["key"], several["ids"])
    assert not resting.get("narrow"), resting["narrow"]
    assert resting.get("wide"), {k: len(v) for k, v in resting.items()}
    assert host.run("sudo docker volume inspect gridbot-narrow_data").rc == 0
    backup_dir = re.search(r"backups \((/[^)]+)\)", " ".join(said[1].split()))[1]
    assert host.run(f"sudo sh -c 'ls {backup_dir}/*.db'").rc == 0, backup_dir
    assert not host.file("/etc/systemd/system/gridbot-backup-narrow.timer").exists
    assert not host.file("/opt/gridbot/bots/narrow/secrets/exchange.env").exists
    assert host.file("/opt/gridbot/bots/narrow/bot.yml").exists
