"""The paper replay's halt and resume as an operator types them: `halt --cancel` takes its orders off, a
`resume` puts the grid back at once (it stayed empty until the next regrid, days of market time), and the
replay's drawdown halt is the engine's, lifted by `resume` like the live bot's."""

import json
import sqlite3
import subprocess
import sys
import time


def _status(db) -> dict:
    try:
        con = sqlite3.connect(db, timeout=10)
        try:
            row = con.execute("SELECT status FROM snapshot").fetchone()
        finally:
            con.close()
    except sqlite3.OperationalError:
        return {}
    return json.loads(row[0]) if row else {}


def _until(db, what, timeout=20.0) -> dict:
    deadline = time.monotonic() + timeout
    while not what(s := _status(db)):
        assert time.monotonic() < deadline, s
        time.sleep(0.02)
    return s


def _cli(cfg, *args) -> str:
    out = subprocess.run([sys.executable, "-m", "gridbot.cli", *args, "-c", str(cfg)], capture_output=True,
                         text=True, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_replay_resumed_after_a_cancelling_halt_trades_again_at_once(tmp_path):
    cfg = tmp_path / "bot.yml"
    cfg.write_text(json.dumps({"run": {"cycle_seconds": 0.02, "state_dir": str(tmp_path / "data"),
                                       "heartbeat_file": str(tmp_path / "hb"), "http_port": None},
                               "regrid": {"cooldown": "30d"}}))  # fmt: skip
    db = tmp_path / "data" / "gridbot.db"
    proc = subprocess.Popen([sys.executable, "-m", "gridbot.cli", "run", "-c", str(cfg)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _until(db, lambda s: s.get("open_orders", 0) >= 3)
        assert "cancelled within a cycle" in _cli(cfg, "halt", "--cancel", "--reason", "by hand")
        halted = _until(db, lambda s: s.get("halted") == "by hand" and s.get("open_orders") == 0)
        _cli(cfg, "resume")
        # at once, not a regrid cooldown (30 days, 8,640 candles) later: a new grid around the newest close
        back = _until(db, lambda s: not s.get("halted") and s.get("open_orders", 0) >= 3, timeout=10)
        assert back["candles"] - halted["candles"] < 8640
        assert back["grid"]["lower"] != halted["grid"]["lower"]
        assert back["regrids"] == halted["regrids"], "placed again by the resume, not by a regrid"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_replays_drawdown_halt_is_lifted_by_resume(tmp_path):
    cfg = tmp_path / "bot.yml"
    cfg.write_text(json.dumps({"run": {"cycle_seconds": 0.001, "state_dir": str(tmp_path / "data"),
                                       "heartbeat_file": str(tmp_path / "hb"), "http_port": None},
                               "risk": {"max_drawdown_pct": 3}}))  # fmt: skip
    db = tmp_path / "data" / "gridbot.db"
    proc = subprocess.Popen([sys.executable, "-m", "gridbot.cli", "run", "-c", str(cfg)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        s = _until(db, lambda s: s.get("halted", "").startswith("max drawdown"), timeout=60)
        time.sleep(0.3)
        assert _status(db)["candles"] == s["candles"], "halted: no candle taken"
        assert "was halted: max drawdown" in _cli(cfg, "resume")
        _until(db, lambda s2: s2.get("candles", 0) > s["candles"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
