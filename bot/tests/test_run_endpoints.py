"""A paper replay (`gridbot run` on embedded candles, the fleet's default) serves the same endpoints as a live
bot: a real process on 127.0.0.1, judged against its own store."""

import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from endpoints import free_port, get, sample


def start(tmp_path, name: str, port: int) -> tuple[subprocess.Popen, object]:
    d = tmp_path / name
    d.mkdir()
    cfg = d / "bot.yml"
    cfg.write_text(json.dumps({"run": {"cycle_seconds": 0.005, "state_dir": str(d / "data"),
                                       "heartbeat_file": str(d / "beat"), "http_port": port}}))  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "gridbot.cli", "run", "-c", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    return proc, cfg


def wait(check, what: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_replay_serves_its_books_and_a_halt_and_a_taken_port_is_named(tmp_path):
    port = free_port()
    proc, cfg = start(tmp_path, "a", port)
    try:
        wait(lambda: _up(port) and get(port, "/readyz")[0] == 200, "never ready", proc)
        trips = "gridbot_round_trips_total"
        wait(lambda: sample(get(port, "/metrics")[1], trips) >= 1, "no round trip", proc)
        code, body = get(port, "/healthz")
        assert code == 200, body
        halt = [sys.executable, "-m", "gridbot.cli", "halt", "-c", str(cfg), "--reason", "test freeze"]
        assert subprocess.run(halt, capture_output=True, check=False).returncode == 0
        wait(lambda: sample(get(port, "/metrics")[1], "gridbot_halted") == 1, "halt not shown", proc)
        assert get(port, "/readyz") == (200, "halted: test freeze\n")
        time.sleep(0.1)  # a halted replay takes no candle: the books stand still
        text = get(port, "/metrics")[1]
        assert sample(text, "gridbot_halt_reason", 'reason="test freeze"') == 1  # what an alert names
        status = json.loads(get(port, "/status")[1])
        db = sqlite3.connect(cfg.parent / "data" / "gridbot.db")
        fills = db.execute("SELECT side, count(*) FROM fills GROUP BY side").fetchall()
        stored = db.execute("SELECT count(*) FROM round_trips").fetchone()[0]
        db.close()
        assert dict(fills) == {
            side: sample(text, "gridbot_fills_total", f'side="{side}"') for side in ("buy", "sell")
        }
        assert sample(text, trips) == stored == status["round_trips"]
        # status rounds to cents; the gauges carry the engine's floats
        assert sample(text, "gridbot_equity_quote") == pytest.approx(status["end_equity"], abs=0.005)
        assert sample(text, "gridbot_start_equity_quote") == pytest.approx(status["start_equity"], abs=0.005)
        assert sample(text, "gridbot_realized_pnl_quote") == pytest.approx(status["realized_pnl"], abs=0.005)
        # every cycle timed, as the live loop's are (it stayed 0 in a replay); halted cycles still run
        assert sample(text, "gridbot_cycle_seconds_count") >= status["cycle"]

        resume = [sys.executable, "-m", "gridbot.cli", "resume", "-c", str(cfg)]
        assert subprocess.run(resume, capture_output=True, check=False).returncode == 0
        wait(lambda: sample(get(port, "/metrics")[1], "gridbot_halted") == 0, "resume not shown", proc)
        assert "gridbot_halt_reason{" not in get(port, "/metrics")[1], "a lifted halt leaves no series behind"

        other, _ = start(tmp_path, "b", port)
        _out, err = other.communicate(timeout=30)
        assert other.returncode == 2
        assert f"run.http_port {port}: Address already in use" in err
        assert not (tmp_path / "b" / "data" / "gridbot.db").exists(), "refused before any state was written"
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "stopped after cycle" in err


def _up(port: int) -> bool:
    try:
        get(port, "/readyz")
    except OSError:
        return False
    return True
