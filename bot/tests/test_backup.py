"""`gridbot backup` and `gridbot restore`: copies taken while a real bot process writes, judged against the
store it goes on writing; restores that refuse what they cannot trust and keep what they replace."""

import contextlib
import io
import json
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridbot.cli import main
from gridbot.ops import backup
from gridbot.ops.runlock import RunLock
from gridbot.ops.store import VERSION, StoreError

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def config(tmp_path: Path, **run: object) -> Path:
    cfg = tmp_path / "bot.yml"
    settings = {
        "state_dir": str(tmp_path / "data"),
        "heartbeat_file": str(tmp_path / "beat"),
        "http_port": None,
        "cycle_seconds": 0.01,
    }
    cfg.write_text(json.dumps({"run": settings | run}))
    return cfg


def gridbot(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "gridbot.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)


def fills_by_cycle(db: Path, up_to: int | None = None) -> list[tuple[object, ...]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT * FROM fills ORDER BY time_ms, rowid").fetchall()
    finally:
        con.close()
    # the replay names each fill by the cycle it happened in ("<cycle>:<n>", from 0); a snapshot's cycle
    # counts the cycles done, so the store at snapshot cycle c holds the fills of cycles 0 .. c - 1
    return [r for r in rows if up_to is None or int(str(r[0]).split(":")[0]) < up_to]


def has_fills(db: Path) -> bool:
    try:
        return db.exists() and bool(fills_by_cycle(db))
    except sqlite3.OperationalError:  # the bot has not made its tables yet
        return False


def ran_cycles(cfg: Path, n: int) -> str:
    log = io.StringIO()
    with contextlib.redirect_stderr(log):
        assert main(["run", "-c", str(cfg), "--max-cycles", str(n)]) == 0
    return log.getvalue()


def test_backups_taken_while_the_bot_writes_each_equal_its_store_at_one_cycle(tmp_path):
    cfg = config(tmp_path)
    db = tmp_path / "data" / "gridbot.db"
    proc = subprocess.Popen([sys.executable, "-m", "gridbot.cli", "run", "-c", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    taken = []
    try:
        deadline = time.monotonic() + 60
        while len(taken) < 4:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"only {len(taken)} backups with fills"
            if has_fills(db):
                at = NOW + timedelta(minutes=len(taken))
                taken.append(backup.take_backup(tmp_path / "data", tmp_path / "b", "gridbot", "BTC/USDT", at))
            time.sleep(0.2)
        refused = gridbot("restore", str(taken[0].path), "-c", str(cfg))
        assert refused.returncode == 1
        assert "a gridbot runs on this state" in refused.stderr
        assert gridbot("run", "-c", str(cfg)).returncode == 1, "a second run on the same state"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert [b.cycle for b in taken] == sorted({b.cycle for b in taken}), "four distinct, increasing cycles"
    for b in taken:
        assert backup.verify(b.path).cycle == b.cycle
        assert b.cycle is not None
        assert fills_by_cycle(b.path) == fills_by_cycle(db, up_to=b.cycle)
        assert not Path(f"{b.path}-wal").exists(), "a backup is one self-contained file"


def test_restore_puts_the_backup_in_place_keeps_the_replaced_store_and_the_bot_continues(tmp_path, capsys):
    cfg = config(tmp_path)
    ran_cycles(cfg, 3)
    assert main(["backup", "-c", str(cfg), "--dest", str(tmp_path / "b")]) == 0
    (made,) = sorted((tmp_path / "b").glob("*.db"))
    assert f"-v{VERSION}-" in made.name
    assert made.name.startswith("gridbot-gridbot-BTCUSDT-")
    ran_cycles(cfg, 2)
    before = (tmp_path / "data" / "gridbot.db").read_bytes()
    capsys.readouterr()
    assert main(["restore", str(made), "-c", str(cfg)]) == 0
    (kept,) = (tmp_path / "data").glob("gridbot.db.replaced-*")
    assert kept.name in capsys.readouterr().out
    assert kept.read_bytes() == before
    assert "from cycle 3" in ran_cycles(cfg, 1), "the store as backed up after 3 cycles, not the 5 replaced"


def _backup_of(tmp_path: Path) -> backup.Backup:
    src = tmp_path / "src"
    src.mkdir()
    ran_cycles(config(src), 2)
    return backup.take_backup(src / "data", tmp_path / "b", "gridbot", "BTC/USDT", NOW)


def _resum(path: Path) -> None:
    digest = backup._sha256(path)
    backup.checksum_file(path).write_text(f"{digest}  {path.name}\n")


def _corrupt(path: Path) -> str:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return "checksum mismatch"


def _unsummed(path: Path) -> str:
    backup.checksum_file(path).unlink()
    return "no checksum beside it"


def _rewritten(path: Path, sql: str) -> None:
    """The backup changed by `sql`, its checksum made to match: what only the content can give away."""
    con = sqlite3.connect(path)
    con.execute(sql)
    con.commit()
    con.close()
    _resum(path)


def _newer(path: Path) -> str:
    _rewritten(path, f"PRAGMA user_version = {VERSION + 1}")
    return f"schema version {VERSION + 1}, this gridbot reads up to version {VERSION}"


def _other_symbol(path: Path) -> str:
    _rewritten(path, "UPDATE snapshot SET symbol = 'ETH/USDT'")
    return "a backup of a 'ETH/USDT' bot, the config trades 'BTC/USDT'"


def _other_bot(path: Path) -> str:
    _rewritten(
        path, "INSERT INTO orders VALUES ('otherbot-3b-9', NULL, 3, 'buy', '1', '1', '0', 'open', 0, 0, 0)"
    )
    return "holds orders of bot id 'otherbot', the config's run.bot_id is 'gridbot'"


def _not_ours(path: Path) -> str:
    path.unlink()
    _rewritten(path, "CREATE TABLE t (x)")
    return "not a gridbot state database"


@pytest.mark.parametrize("spoil", [_corrupt, _unsummed, _newer, _other_symbol, _other_bot, _not_ours])
def test_restore_refuses_what_it_cannot_trust_naming_why_and_leaves_the_store_alone(tmp_path, capsys, spoil):
    made = _backup_of(tmp_path)
    why = spoil(made.path)
    cfg = config(tmp_path)
    ran_cycles(cfg, 1)
    state = tmp_path / "data"
    before = {p.name: p.read_bytes() for p in state.iterdir()}
    assert main(["restore", str(made.path), "-c", str(cfg)]) == 1
    assert why in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in state.iterdir()} == before


def test_a_restore_waits_for_no_one_it_refuses_while_the_run_lock_is_held(tmp_path):
    made = _backup_of(tmp_path)
    lock = RunLock(tmp_path / "data", "a test")
    try:
        with pytest.raises(StoreError, match="a gridbot runs on this state"):
            backup.restore(made.path, tmp_path / "data", "gridbot", "BTC/USDT")
    finally:
        lock.release()
    assert backup.restore(made.path, tmp_path / "data", "gridbot", "BTC/USDT") is None


def _fake(dest: Path, bot: str, at: datetime, size: int) -> Path:
    p = dest / backup.backup_name(bot, "BTC/USDT", VERSION, at)
    p.write_bytes(b"x" * size)
    backup.checksum_file(p).write_text("0  x\n")
    return p


@given(
    ages=st.lists(st.integers(min_value=0, max_value=30 * 24), min_size=1, max_size=12, unique=True),
    size=st.integers(min_value=1, max_value=1000),
    keep_days=st.integers(min_value=0, max_value=20),
    cap=st.integers(min_value=1, max_value=8000),
)
def test_pruning_keeps_the_newest_and_drops_the_oldest_first_within_age_and_size(
    tmp_path_factory, ages, size, keep_days, cap
):
    dest = tmp_path_factory.mktemp("b")
    ours = {_fake(dest, "gridbot", NOW - timedelta(hours=h), size): h for h in ages}
    theirs = _fake(dest, "otherbot", NOW - timedelta(days=99), size)
    removed = backup.prune(dest, "gridbot", "BTC/USDT", keep_days, cap, NOW)
    kept = [p for p in ours if p.exists()]
    assert set(removed) | set(kept) == set(ours)
    assert theirs.exists(), "another bot's backups are not this one's to prune"
    assert min(ours.values()) in {ours[p] for p in kept}, "the newest is always kept"
    assert all(ours[r] > ours[k] for r in removed for k in kept), "the oldest go first"
    if len(kept) > 1:
        assert all(ours[k] <= keep_days * 24 for k in kept)
        assert len(kept) * size <= cap
    assert all(not backup.checksum_file(r).exists() for r in removed)
