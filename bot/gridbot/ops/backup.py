"""Backups of the bot's store: `gridbot backup` and `gridbot restore`.

A backup is SQLite's online backup of the store (never a file copy of a live WAL database, whose last commits
may sit in the -wal file): one read transaction, so the copy is the store as of one committed cycle, taken
while the bot goes on writing. It is written as one self-contained file (rollback journal, no -wal), synced,
then renamed into place beside a `sha256sum` line, and named for what it holds:
`gridbot-<bot id>-<BASEQUOTE>-v<schema>-<UTC time>.db`.

A restore takes nothing on trust: the checksum, SQLite's integrity check, that the file is a gridbot store of
a schema this gridbot reads, of this config's symbol and bot id. The restored store's client ids get a new
tag, so none made after the backup is made again; the orders and fills after the backup are the exchange's to
tell (the run's recovery). A restore never overwrites a store without keeping it (renamed
`gridbot.db.replaced-<UTC time>`, with its -wal and -shm), and never runs beside a bot: the run holds the
state directory's run lock for its lifetime, and a restore must get it first.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gridbot.config.model import RunConfig
from gridbot.ops.runlock import RunLock
from gridbot.ops.store import APPLICATION_ID, BOT_ID_CURSOR, DB_FILE, LINEAGE_CURSOR, VERSION, StoreError

STAMP = "%Y%m%dT%H%M%SZ"
_NAME = re.compile(
    r"^gridbot-(?P<bot>[A-Za-z0-9]+)-(?P<market>[A-Z0-9]+)-v(?P<schema>\d+)-(?P<stamp>\d{8}T\d{6}Z)\.db$"
)
# Room kept free beside a new backup (the bot's own writes, the journal): a backup never fills the disk.
FREE_MARGIN_BYTES = 64 * 1024 * 1024


class BackupError(StoreError):
    """A backup that cannot be taken or restored; the message says why, and nothing was changed."""


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    sha256: str
    size: int
    schema: int
    cycle: int | None  # the engine's cycle the copy holds (None: no cycle saved yet)
    taken: datetime


def _market(symbol: str) -> str:
    return symbol.replace("/", "")


def backup_name(bot_id: str, symbol: str, schema: int, at: datetime) -> str:
    return f"gridbot-{bot_id}-{_market(symbol)}-v{schema}-{at.astimezone(UTC).strftime(STAMP)}.db"


def checksum_file(backup: Path) -> Path:
    """Where a backup's `sha256sum` line is kept: beside it."""
    return backup.with_name(backup.name + ".sha256")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    with tmp.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _cycle_of(con: sqlite3.Connection) -> int | None:
    row = con.execute("SELECT cycle FROM snapshot").fetchone()
    return None if row is None else int(row[0])


def take_backup(state_dir: Path, dest: Path, bot_id: str, symbol: str, now: datetime | None = None) -> Backup:
    """A consistent copy of the store in `state_dir`, written into `dest` (made if missing)."""
    db = state_dir / DB_FILE
    if not db.is_file():
        raise BackupError(f"{db}: no state database to back up")
    dest.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(dest).free
    if free < db.stat().st_size + FREE_MARGIN_BYTES:
        raise BackupError(
            f"{dest}: {free // 2**20} MiB free, a backup of {db.stat().st_size // 2**20} MiB would leave "
            f"less than {FREE_MARGIN_BYTES // 2**20} MiB: prune old backups or use another --dest"
        )
    at = now or datetime.now(UTC)
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10.0)
    try:
        schema = int(src.execute("PRAGMA user_version").fetchone()[0])
        if int(src.execute("PRAGMA application_id").fetchone()[0]) != APPLICATION_ID:
            raise BackupError(f"{db}: not a gridbot state database")
        final = dest / backup_name(bot_id, symbol, schema, at)
        partial = final.with_name(f".{final.name}.partial")
        partial.unlink(missing_ok=True)
        out = sqlite3.connect(partial)
        try:
            src.backup(out)  # every page in one step: one read transaction, one committed state
            out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal to carry along
            cycle = _cycle_of(out)
        finally:
            out.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{db}: cannot back up: {exc}") from None
    finally:
        src.close()
    _fsync(partial)
    digest = _sha256(partial)
    os.replace(partial, final)
    _write_atomic(checksum_file(final), f"{digest}  {final.name}\n")
    _fsync(dest)
    return Backup(final, digest, final.stat().st_size, schema, cycle, at)


def backups_in(dest: Path, bot_id: str, symbol: str) -> list[tuple[datetime, Path]]:
    """This bot's backups in `dest`, oldest first (by the time in their names, not the files' mtimes)."""
    found = []
    for p in dest.glob("gridbot-*.db") if dest.is_dir() else ():
        m = _NAME.match(p.name)
        if m and m["bot"] == bot_id and m["market"] == _market(symbol):
            found.append((datetime.strptime(m["stamp"], STAMP).replace(tzinfo=UTC), p))
    return sorted(found)


def prune(
    dest: Path, bot_id: str, symbol: str, keep_days: float, max_bytes: int, now: datetime
) -> list[Path]:
    """Drop backups older than `keep_days`, then the oldest while they total over `max_bytes`; the newest is
    always kept (a cap smaller than one backup must not leave none). Returns what was removed."""
    kept = backups_in(dest, bot_id, symbol)
    removed: list[Path] = []

    def drop(p: Path) -> None:
        p.unlink()
        checksum_file(p).unlink(missing_ok=True)
        removed.append(p)

    cutoff = now - timedelta(days=keep_days)
    while len(kept) > 1 and kept[0][0] < cutoff:
        drop(kept.pop(0)[1])
    total = sum(p.stat().st_size for _, p in kept)
    while len(kept) > 1 and total > max_bytes:
        oldest = kept.pop(0)[1]
        total -= oldest.stat().st_size
        drop(oldest)
    return removed


@dataclass(frozen=True, slots=True)
class Verified:
    schema: int
    symbol: str | None
    bot_ids: frozenset[str]
    cycle: int | None
    bot_id: str | None  # the run.bot_id it last ran under (None: written before stores recorded it)


def verify(path: Path) -> Verified:
    """The backup's checksum, integrity and kind; BackupError naming what is wrong."""
    if not path.is_file():
        raise BackupError(f"{path}: no such backup file")
    sums = checksum_file(path)
    if not sums.is_file():
        raise BackupError(
            f"{path}: no checksum beside it ({sums.name}): cannot tell a whole copy from a torn one"
        )
    want = next(iter(sums.read_text().split()), "")
    if _sha256(path) != want:
        raise BackupError(f"{path}: checksum mismatch (the file is corrupt or not the one {sums.name} names)")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            ok = con.execute("PRAGMA integrity_check").fetchone()[0]
            app = int(con.execute("PRAGMA application_id").fetchone()[0])
            schema = int(con.execute("PRAGMA user_version").fetchone()[0])
            if ok != "ok":
                raise BackupError(f"{path}: corrupt ({ok})")
            if app != APPLICATION_ID:
                raise BackupError(f"{path}: an SQLite database that is not a gridbot state database")
            if schema > VERSION:
                raise BackupError(
                    f"{path}: schema version {schema}, this gridbot reads up to version {VERSION}: restore "
                    "it with the gridbot that wrote it"
                )
            row = con.execute("SELECT symbol FROM snapshot").fetchone()
            prefixes = {str(r[0]).partition("-")[0] for r in con.execute("SELECT client_id FROM orders")}
            cycle = _cycle_of(con)
            ran_as = con.execute("SELECT value FROM cursors WHERE name = ?", (BOT_ID_CURSOR,)).fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a readable gridbot state database ({exc})") from None
    return Verified(
        schema, None if row is None else str(row[0]), frozenset(prefixes), cycle,
        None if ran_as is None else str(ran_as[0]),
    )  # fmt: skip


def _new_id_epoch(db: Path, bot_id: str) -> None:
    """The restored store's bot makes its client ids under a new tag (`client_ids.new_epoch`, at its first
    start): the bot that ran on after the backup used the sequence numbers that follow it, and an id
    reused for an order of another size or price would make two orders one. The old tag joins the store's
    lineage: the orders that bot placed after the backup carry it, and stay ours (`live.ownership`)."""
    con = sqlite3.connect(db)
    try:
        with con:
            old = con.execute("SELECT value FROM cursors WHERE name = 'id_epoch'").fetchone()
            ran_as = con.execute("SELECT value FROM cursors WHERE name = ?", (BOT_ID_CURSOR,)).fetchone()
            kept = con.execute("SELECT value FROM cursors WHERE name = ?", (LINEAGE_CURSOR,)).fetchone()
            lineage = json.loads(kept[0]) if kept else []
            if old is not None and ran_as is not None:
                lineage.append(f"{ran_as[0]}-{old[0]}")
            elif old is not None:  # a store from before it recorded its bot id: under any it ran as
                heads = {str(r[0]).partition("-")[0] for r in con.execute("SELECT client_id FROM orders")}
                lineage.extend(f"{head}-{old[0]}" for head in sorted(heads | {bot_id}))
            con.execute(
                "INSERT OR REPLACE INTO cursors (name, value) VALUES (?, ?)",
                (LINEAGE_CURSOR, json.dumps(lineage)),
            )
            con.execute("DELETE FROM cursors WHERE name = 'id_epoch'")
    finally:
        con.close()


def restore(
    path: Path, state_dir: Path, bot_id: str, symbol: str, now: datetime | None = None
) -> Path | None:
    """Put the backup in place of the store; returns where the replaced store was kept (None: none was)."""
    v = verify(path)
    if v.symbol is not None and v.symbol != symbol:
        raise BackupError(f"{path}: a backup of a {v.symbol!r} bot, the config trades {symbol!r}")
    # The bot it last ran as decides; a store from before that was recorded, the ids of its orders, of which
    # the model's default is every host's from before the role gave each its own.
    if v.bot_id is not None and v.bot_id != bot_id:
        raise BackupError(f"{path}: the store of bot id {v.bot_id!r}, the config's run.bot_id is {bot_id!r}")
    foreign = sorted(v.bot_ids - {bot_id, RunConfig().bot_id}) if v.bot_id is None else []
    if foreign:
        raise BackupError(
            f"{path}: holds orders of bot id {', '.join(map(repr, foreign))}, the config's run.bot_id is "
            f"{bot_id!r}"
        )
    lock = RunLock(state_dir, "a restore")
    try:
        stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime(STAMP)
        db = state_dir / DB_FILE
        incoming = state_dir / f".{DB_FILE}.restoring"
        shutil.copyfile(path, incoming)
        _new_id_epoch(incoming, bot_id)
        _fsync(incoming)
        kept = None
        if db.exists():
            kept = state_dir / f"{DB_FILE}.replaced-{stamp}"
            for suffix in ("-wal", "-shm", ""):  # the -wal goes with its database, or its commits are lost
                part = state_dir / f"{DB_FILE}{suffix}"
                if part.exists():
                    os.replace(part, state_dir / f"{kept.name}{suffix}")
        os.replace(incoming, db)
        _fsync(state_dir)
        return kept
    finally:
        lock.release()
