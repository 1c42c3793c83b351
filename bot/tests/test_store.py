"""The store under the replay service: real processes, SIGKILLs at random moments, bad database files."""

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from gridbot.config.model import BotConfig
from gridbot.core.engine import GridEngine
from gridbot.ops.candle_files import load_embedded
from gridbot.ops.store import VERSION


def _gridbot(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "gridbot.cli", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def _config(tmp_path, cycle="0.002"):
    cfg = tmp_path / "bot.yml"
    cfg.write_text(
        f"run:\n  cycle_seconds: {cycle}\n  state_dir: {tmp_path / 'data'}\n"
        f"  heartbeat_file: {tmp_path / 'hb'}\n  http_port: null\n"
        "grid: {width_pct: 4, levels: 8}\nregrid: {cooldown: 2h}\n"
    )
    return cfg


def _rows(db, sql):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _saved_cycle(db):
    """The cycle of the replay's last saved snapshot; 0 before its first."""
    try:
        rows = _rows(db, "SELECT cycle FROM snapshot")
    except sqlite3.OperationalError:  # no store yet, or no snapshot table in it yet
        return 0
    return rows[0][0] if rows else 0


def _reference():
    """The uninterrupted engine with _config's grid and regrid: (the engine, its fills, its round trips)."""
    fills, trips = [], []
    settings = {"grid": {"width_pct": 4, "levels": 8}, "regrid": {"cooldown": "2h"}}
    engine = GridEngine(
        BotConfig.model_validate(settings), ledger=lambda row, _fill: fills.append(row), trips=trips.append
    )
    return engine, fills, trips


def _cycles_to_fills(n):
    """How many candles of the embedded data the uninterrupted engine takes to fill n orders."""
    engine, fills, _trips = _reference()
    candles = load_embedded()
    for i in range(len(candles)):
        engine.run_chunk(candles.slice(i, i + 1))
        if len(fills) >= n:
            return i + 1
    raise AssertionError(f"the embedded data makes fewer than {n} fills")


def test_thirty_sigkills_lose_no_fill_and_record_none_twice(tmp_path):
    """Killed 30 times at random moments, the replay ends exactly where an uninterrupted engine fed the
    same candles ends: the same fills (each once) and the same round trips."""
    cfg = _config(tmp_path)
    db = tmp_path / "data" / "gridbot.db"
    rnd = random.Random(17)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Killed at least 30 times, and until the replay is past the candle of the uninterrupted engine's 11th
    # fill: a loaded machine runs fewer cycles between kills, and the comparison needs fills to compare.
    needed = _cycles_to_fills(11)
    kills = 0
    while kills < 30 or _saved_cycle(db) < needed:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gridbot.cli", "run", "-c", str(cfg)],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the run is past its imports and has opened the store
        assert "paper BTC/USDT" in line or "migrated" in line, line + proc.stderr.read()
        time.sleep(rnd.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        kills += 1
    cycle = _saved_cycle(db)
    assert cycle >= needed

    ref, fills, trips = _reference()
    candles = load_embedded()
    for i in range(cycle):
        ref.run_chunk(candles.slice(i, i + 1))
    got = _rows(db, "SELECT side, price, qty, fee, realized_pnl FROM fills ORDER BY time_ms, rowid")
    want = [(f["side"], str(f["price"]), str(f["amount"]), str(f["fee"]), f["realized_pnl"]) for f in fills]
    assert len(want) > 10
    assert got == want
    got_trips = _rows(db, "SELECT opened_ms, closed_ms, qty, buy_price, sell_price, fees FROM round_trips")
    assert got_trips == [tuple(t) for t in trips]
    status = json.loads(_gridbot("status", "-c", str(cfg), cwd=tmp_path).stdout)
    assert status["round_trips"] == len(trips)
    assert status["realized_pnl"] == round(ref.portfolio.realized, 2)

    out = _gridbot("export", "-c", str(cfg), "--trades", str(tmp_path / "t.csv"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert len((tmp_path / "t.csv").read_text().splitlines()) == len(want) + 1
    assert len((tmp_path / "t-roundtrips.csv").read_text().splitlines()) == len(trips) + 1


def test_halt_and_resume_reach_a_running_replay_and_survive_a_restart(tmp_path):
    cfg = _config(tmp_path, "0.01")
    db = tmp_path / "data" / "gridbot.db"
    proc = subprocess.Popen([sys.executable, "-m", "gridbot.cli", "run", "-c", str(cfg)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stderr is not None
        assert "paper BTC/USDT" in proc.stderr.readline()  # signal handlers in place, store open
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _rows(db, "SELECT cycle FROM snapshot"):
            time.sleep(0.05)
        out = _gridbot("halt", "-c", str(cfg), "--cancel", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        time.sleep(0.3)  # the bot sees it within a cycle
        (held,) = _rows(db, "SELECT cycle FROM snapshot")[0]
        time.sleep(0.3)
        assert _rows(db, "SELECT cycle FROM snapshot")[0][0] == held, "a halted replay stands still"
        status = json.loads(_gridbot("status", "-c", str(cfg), cwd=tmp_path).stdout)
        assert status["halted"] == "manual halt (gridbot halt)"
        assert status["open_orders"] == 0  # --cancel
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    again = _gridbot("run", "-c", str(cfg), "--max-cycles", "5", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert _rows(db, "SELECT cycle FROM snapshot")[0][0] == held, "the halt survives a restart"
    assert _gridbot("resume", "-c", str(cfg), cwd=tmp_path).returncode == 0
    again = _gridbot("run", "-c", str(cfg), "--max-cycles", "5", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert _rows(db, "SELECT cycle FROM snapshot")[0][0] == held + 5


def _future(db):
    con = sqlite3.connect(db)
    con.execute(f"PRAGMA user_version = {VERSION + 1}")
    con.close()


def _foreign(db):
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (x)")
    con.close()


@pytest.mark.parametrize(
    ("spoil", "expected"),
    [
        (lambda db: db.write_bytes(b"not a database, just text" * 200), "not a readable gridbot state"),
        (lambda db: db.write_bytes(db.read_bytes()[:4096] + b"\x00" * 100), "not a readable gridbot state"),
        (_future, f"state database version {VERSION + 1}, this gridbot reads up to version {VERSION}"),
        (_foreign, "an SQLite database that is not a gridbot state database"),
    ],
    ids=["garbage", "truncated", "future", "foreign"],
)
def test_a_bad_database_is_exit_1_named_and_left_untouched(tmp_path, spoil, expected):
    cfg = _config(tmp_path)
    db = tmp_path / "data" / "gridbot.db"
    assert _gridbot("run", "-c", str(cfg), "--max-cycles", "3", cwd=tmp_path).returncode == 0
    for extra in ("gridbot.db-wal", "gridbot.db-shm"):
        (tmp_path / "data" / extra).unlink(missing_ok=True)
    if expected.startswith("an SQLite"):
        db.unlink()
    spoil(db)
    before = db.read_bytes()
    out = _gridbot("run", "-c", str(cfg), "--max-cycles", "1", cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.startswith(f"gridbot: {db}: {expected}"), out.stderr
    assert "Traceback" not in out.stderr
    assert db.read_bytes() == before
    assert _gridbot("status", "-c", str(cfg), cwd=tmp_path).returncode == 1


def test_the_store_runs_in_wal_mode_with_full_sync(tmp_path):
    """WAL (readers never block the loop's commits) and synchronous=FULL, as the safety model says; WAL is
    the file's own mode, so another connection (`gridbot status`, a backup) sees it too."""
    from gridbot.ops.store import Store  # noqa: PLC0415

    store = Store.open_in(tmp_path / "data")
    try:
        assert store.con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.con.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        store.close()
    assert _rows(tmp_path / "data" / "gridbot.db", "PRAGMA journal_mode") == [("wal",)]
