"""playbooks/backup.yml run whole by stock ansible-playbook on the controller, against a local host whose
bot's backup directory holds what the bot put there: a good backup is copied and checked; a checksum file
that is a link to a file only root reads, one that holds no checksum, or a backup that does not match its
checksum is refused, and nothing of what those files hold reaches the output or stays on the controller."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from modules import load_module
from stock_ansible import LOCAL_HOST, stock_playbook

PROJECT = Path(__file__).resolve().parents[2]
backup_files = load_module(PROJECT / "roles/gridbot/filter_plugins/backup_files.py", "backup_files")
NAME = "gridbot-pia-BTCUSDT-v3-20261201T030000Z.db"
# What a file only root reads holds, shaped as a checksum line would be: were it read through a link, the
# checksum check would take it and show it.
SECRET = hashlib.sha256(b"root's own").hexdigest()
JUNK = "what-a-bot-wrote-0123456789abcdef"  # no checksum: a checksum file's other words are never shown


def setup_host(tmp_path: Path) -> tuple[Path, Path]:
    """A host's backup directory with one good backup, and where the controller's copies go."""
    backups, dest = tmp_path / "backups", tmp_path / "dest"
    backups.mkdir()
    store = backups / NAME
    store.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    (backups / f"{NAME}.sha256").write_text(f"{hashlib.sha256(store.read_bytes()).hexdigest()}  {NAME}\n")
    inventory = {"pifleet": {"hosts": {"pi-a": {
        **LOCAL_HOST,
        "gridbot_backup_dir": str(backups), "gridbot_backup_dest": str(dest),
    }}}}  # fmt: skip
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))
    return backups, dest


def fetch(tmp_path: Path) -> tuple[int, str]:
    """backup.yml's exit code and output; the host's temporary directory (where the backup is staged) left as
    it was."""
    host_tmp = tmp_path / "host-tmp"
    host_tmp.mkdir(exist_ok=True)
    run = stock_playbook(
        tmp_path, "-i", "hosts.yml", PROJECT / "playbooks" / "backup.yml",
        ANSIBLE_ROLES_PATH=str(PROJECT / "roles"), TMPDIR=str(host_tmp),
    )  # fmt: skip
    assert not [p for p in host_tmp.iterdir() if p.name.startswith("gridbot-backup-")], "a staged copy left"
    return run.returncode, run.stdout + run.stderr


def test_a_good_backup_is_copied_and_checked(tmp_path: Path) -> None:
    backups, dest = setup_host(tmp_path)
    rc, out = fetch(tmp_path)
    assert rc == 0, out[-3000:]
    assert (dest / "pi-a" / NAME).read_bytes() == (backups / NAME).read_bytes()
    assert (dest / "pi-a").stat().st_mode & 0o777 == 0o700


def test_a_checksum_file_linked_to_a_root_only_file_is_not_followed_and_nothing_of_it_is_shown(
    tmp_path: Path,
) -> None:
    backups, dest = setup_host(tmp_path)
    secret = tmp_path / "shadow"
    secret.write_text(f"{SECRET}  {NAME}\n")
    secret.chmod(0o600)
    (backups / f"{NAME}.sha256").unlink()
    (backups / f"{NAME}.sha256").symlink_to(secret)
    rc, out = fetch(tmp_path)
    assert rc != 0
    assert f"{backups / NAME}.sha256 is a symbolic link (not followed): nothing copied" in out
    assert SECRET not in out
    assert not (dest / "pi-a").exists() or not any((dest / "pi-a").iterdir())


def test_a_checksum_file_without_a_checksum_is_refused_without_showing_it_and_the_copy_removed(
    tmp_path: Path,
) -> None:
    backups, dest = setup_host(tmp_path)
    (backups / f"{NAME}.sha256").write_text(f"{JUNK}\n")
    rc, out = fetch(tmp_path)
    assert rc != 0
    assert "does not match its checksum" in out
    assert "its checksum file holds no sha256" in out
    assert JUNK not in out
    assert not any((dest / "pi-a").iterdir())


def test_a_backup_spoiled_on_the_card_is_refused_naming_both_checksums_and_the_copy_removed(
    tmp_path: Path,
) -> None:
    backups, dest = setup_host(tmp_path)
    store = backups / NAME
    taken = (backups / f"{NAME}.sha256").read_text().split()[0]
    store.write_bytes(store.read_bytes()[:-1] + b"\x00")
    rc, out = fetch(tmp_path)
    assert rc != 0
    assert f"the bot wrote {taken}" in " ".join(out.split())
    assert hashlib.sha256(store.read_bytes()).hexdigest() in out
    assert not any((dest / "pi-a").iterdir())


def test_only_a_sha256_is_ever_read_from_a_checksum_line() -> None:
    digest = "ab" * 32
    assert backup_files.backup_checksum(f"{digest}  {NAME}\n") == digest
    for text in ("", JUNK, f"{digest.upper()}  x", f"{digest}0  x", "\n\n"):
        assert backup_files.backup_checksum(text) == ""


def test_a_fifo_in_place_of_the_checksum_file_is_refused_without_hanging(tmp_path: Path) -> None:
    backups, _ = setup_host(tmp_path)
    (backups / f"{NAME}.sha256").unlink()
    os.mkfifo(backups / f"{NAME}.sha256")
    rc, out = fetch(tmp_path)
    assert rc != 0
    assert f"{backups / NAME}.sha256 is not a regular file: nothing copied" in out
