"""Backups of the bots' stores off the data volume: each host's daily timer, and playbooks/backup.yml bringing
each host's newest backup to the controller. Judged from outside: the files on the host and on the controller,
the checksum the bot took with the backup, SQLite's own integrity check of the copy, and the copy's fills
against the running bot's store."""

import hashlib
import re
import sqlite3

from fleet import hosts, play_order, playbook, recorded_fills

BACKUP_DIR = "/var/backups/gridbot"  # gridbot_backup_dir's default
NAME = re.compile(r"^gridbot-[A-Za-z0-9]+-BTCUSDT-v\d+-\d{8}T\d{6}Z\.db$")


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
