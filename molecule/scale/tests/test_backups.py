"""Backups of the bots' stores off the data volume: each host's daily timer, and playbooks/backup.yml bringing
each host's newest backup to the controller. Judged from outside: the files on the host and on the controller,
the checksum the bot took with the backup, SQLite's own integrity check of the copy, and the copy's fills
against the running bot's store."""

import hashlib
import re
import sqlite3
import time

from fleet import (
    account,
    assert_books_match_the_exchange,
    assert_no_order_doubled,
    figure,
    hosts,
    play_order,
    playbook,
    recorded_fills,
    resting_orders,
)
from gridbot.contract import CONFIG_FILE

BACKUP_DIR = "/var/backups/gridbot"  # gridbot_backup_dir's default
NAME = re.compile(r"^gridbot-[A-Za-z0-9]+-BTCUSDT-v\d+-\d{8}T\d{6}Z\.db$")


def sides(orders):
    return sorted({o["side"] for o in orders})


def move_until(host, admin, more, what):
    """The market 6 candles on each second (its own pace: one each 5 s), until `more()`: fast enough to leave
    the grid, which the bot then moves to the price (a regrid), where its orders fill. A failure says where
    the market was and what rested."""
    deadline = time.monotonic() + 300
    market: dict = {}
    while not more():
        if time.monotonic() >= deadline:
            where = {k: market.get(k) for k in ("candle", "candles", "last_price")}
            raise AssertionError((what, where, [(o["side"], o["price"]) for o in resting_orders(host)]))
        market = admin.step(candles=6)
        time.sleep(1)


def wait_for_a_settled_grid(host):
    """Until two looks a bot's cycle apart see the same orders resting on both sides, the market no longer
    stepped (its own pace, a candle each 5 s, goes on): a bot killed then is not between a regrid's cancels
    and its new orders (nothing would fill while it is down)."""
    deadline = time.monotonic() + 60
    before = None
    while True:
        orders = resting_orders(host)
        now = sorted(o["clientOrderId"] for o in orders)
        if now == before and sides(orders) == ["BUY", "SELL"]:
            return
        assert time.monotonic() < deadline, (
            orders,
            host.run(f"sudo docker exec gridbot gridbot status -c {CONFIG_FILE}").stdout,
        )
        before = now
        time.sleep(6)  # the scale bots' cycle_seconds is 5


def test_each_host_backs_up_by_its_timer_and_backup_yml_brings_the_newest_to_the_controller(tmp_path):
    names = play_order()[:2]
    fleet = hosts()
    for name in names:
        timer = fleet[name].service("gridbot-backup.timer")
        assert timer.is_enabled, name
        assert timer.is_running, name
    run = playbook("backup.yml", "--limit", ",".join(names), "-e", f"gridbot_backup_dest={tmp_path}",
                   "-e", "gridbot_backup_now=true")  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    for name in names:
        host = fleet[name]
        assert host.run(f"sudo stat -c '%u %a' {BACKUP_DIR}").stdout.split() == ["10001", "700"], name
        said = host.run("sudo journalctl -q -o cat -u gridbot-backup.service").stdout
        assert re.search(r"gridbot: backup /backups/gridbot-\S+\.db \(\d+ bytes, schema v\d+", said), said
        mine = tmp_path / name
        assert oct(mine.stat().st_mode & 0o777) == "0o700"
        (copy,) = mine.glob("*.db")
        assert NAME.match(copy.name), copy.name
        digest, file_name = (mine / f"{copy.name}.sha256").read_text().split()
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
        assert file_name.endswith(copy.name)
        on_host = host.run(f"sudo sha256sum {BACKUP_DIR}/{copy.name}").stdout.split()[0]
        assert on_host == digest, "the newest backup on the host is the one copied"
        con = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
        try:
            assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            backed_up = {r[0] for r in con.execute("SELECT trade_id FROM fills")}
        finally:
            con.close()
        assert backed_up <= recorded_fills(host), f"{name}: the backup holds fills the bot's store does not"


def test_a_reflashed_host_starts_from_its_copy_on_the_controller_and_books_what_it_missed(tmp_path):
    """A host's SD card dies after playbooks/backup.yml copied its store to the controller; its bot traded on
    after the copy, and its orders kept filling on the exchange while it was down. The reflashed host (no
    container, no data volume, no /opt/gridbot) gets the copy before its bot first starts: its ledger is the
    account's trades, none lost or booked twice, no client id made twice. Told to take another host's place
    whose copy the controller lacks, it stops before any bot starts, naming the setting."""
    name = play_order()[2]
    host = hosts()[name]
    key, admin = account(host)
    run = playbook("backup.yml", "--limit", name, "-e", f"gridbot_backup_dest={tmp_path}",
                   "-e", "gridbot_backup_now=true")  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    (copy,) = (tmp_path / name).glob("*.db")
    con = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    try:
        backed_up = {r[0] for r in con.execute("SELECT trade_id FROM fills")}
    finally:
        con.close()

    def trades():
        return {str(t["id"]) for t in admin.call("GET", f"trades?key={key}")}

    # A grid with a buy below the price and a sell above it: the market moves on while the bot is down, and
    # goes one way or the other, not always the way a one-sided grid waits for.
    move_until(host, admin, lambda: trades() - backed_up and sides(resting_orders(host)) == ["BUY", "SELL"],
               "no fill after the backup, or no grid resting on both sides of the price")  # fmt: skip
    wait_for_a_settled_grid(host)
    reflash = "docker rm -f gridbot && docker volume rm gridbot_data && rm -rf /opt/gridbot"
    gone = host.run(f"sudo sh -c '{reflash}'")
    assert gone.rc == 0, gone.stderr
    try:
        while_down = trades()
        move_until(
            host,
            admin,
            lambda: trades() - while_down,
            "no resting order of the dead bot filled while it was down",
        )

        stranger = playbook("rollout.yml", "--limit", name, "-e", f"gridbot_backup_dest={tmp_path}",
                            "-e", "gridbot_restore_from=pi-gone")  # fmt: skip
        assert stranger.returncode != 0
        said = " ".join(stranger.stdout.split())
        refused = f"{name}: gridbot_restore_from is pi-gone, and {tmp_path}/pi-gone holds no backup"
        assert refused in said, said[-3000:]
        assert host.run("sudo docker inspect gridbot").rc != 0, "a bot started without its store"

        started = time.monotonic()
        run = playbook("rollout.yml", "--limit", name, "-e", f"gridbot_backup_dest={tmp_path}")
        assert run.returncode == 0, run.stdout[-3000:]
        assert f"{name}: gridbot: restored /restore/{copy.name} into /data" in " ".join(run.stdout.split())
        booked = assert_books_match_the_exchange(name, host)
        took, after = time.monotonic() - started, len(trades() - backed_up)
        figure(f"replacement: {name} trading again {took:.0f} s after rollout.yml started, "
               f"{booked} fills booked, {after} of them made after the backup")  # fmt: skip
        assert_no_order_doubled(name, host)
    except BaseException:
        # The tests after this one need the host's bot: put it back from the copy (as the passing path does),
        # so that this failure is reported alone rather than as every later test's missing container.
        playbook("rollout.yml", "--limit", name, "-e", f"gridbot_backup_dest={tmp_path}")
        raise
