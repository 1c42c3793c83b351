"""The gridbot command as a user runs it: real processes, real files, real signals."""

import csv
import hashlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden" / "backtest_summary.json"


def gridbot(*args, cwd, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "gridbot.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        **kwargs,
    )


def test_golden_backtest_on_embedded_data(tmp_path):
    """Any behaviour change shows up as a diff of the checked-in summary (update it in the same commit)."""
    out = gridbot("backtest", "--json", "--trades", "t.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary == json.loads(GOLDEN.read_text())
    with (tmp_path / "t.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["date", "side", "amount", "price", "fee", "fee_currency", "realized_pnl"]
    # a buy's fee is in base (BTC), a sell's in quote: valued at the fill's price
    fees = sum(float(r["fee"]) * (float(r["price"]) if r["fee_currency"] == "BTC" else 1) for r in rows)
    assert fees == pytest.approx(summary["fees"], abs=0.01)


def test_backtest_and_sweep_outputs_go_to_a_results_directory_named_for_the_config(tmp_path):
    (tmp_path / "wide.yml").write_text("grid:\n  width_pct: 30\n")

    def made() -> list[str]:
        return sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.csv"))

    assert gridbot("backtest", "-c", "wide.yml", cwd=tmp_path).returncode == 0
    assert gridbot("backtest", cwd=tmp_path).returncode == 0
    assert gridbot("backtest", "--results", "runs/a", cwd=tmp_path).returncode == 0
    assert gridbot("backtest", "--trades", "t.csv", cwd=tmp_path).returncode == 0  # a path given: as given
    sweep = gridbot("sweep", "-c", "wide.yml", "--set", "grid.levels=8,10", cwd=tmp_path)
    assert sweep.returncode == 0, sweep.stderr
    assert made() == [
        "results/defaults/trades-roundtrips.csv", "results/defaults/trades.csv",
        "results/wide/sweep.csv", "results/wide/trades-roundtrips.csv", "results/wide/trades.csv",
        "runs/a/trades-roundtrips.csv", "runs/a/trades.csv",
        "t-roundtrips.csv", "t.csv",
    ]  # fmt: skip


def test_backtest_of_a_ccxt_csv_and_its_errors(tmp_path):
    rows = [
        [1_700_000_000_000 + i * 60_000, 100 + i % 7, 101 + i % 7, 99 + i % 7, 100.5 + i % 7, 1]
        for i in range(500)
    ]
    good = tmp_path / "candles.csv"
    good.write_text("\n".join(",".join(str(v) for v in r) for r in rows))
    out = gridbot("backtest", "--data", str(good), "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["candles"] == 500

    bad = tmp_path / "bad.csv"
    bad.write_text("1700000000000,100,99,101,100,1\n")  # high below low
    out = gridbot("backtest", "--data", str(bad), cwd=tmp_path)
    assert out.returncode == 2
    assert "bad.csv:1: candle is not OHLC" in out.stderr


def test_check_config_names_the_bad_field(tmp_path):
    cfg = tmp_path / "bot.yml"
    cfg.write_text("grid:\n  levels: 20\n  spacing: geometric\nmarket:\n  maker_fee: 0.5\n")
    out = gridbot("check-config", str(cfg), cwd=tmp_path)
    assert out.returncode == 2
    assert "market.maker_fee" in out.stderr
    assert "0.5" in out.stderr

    cfg.write_text("exchange:\n  id: Binance US\n")
    out = gridbot("check-config", str(cfg), cwd=tmp_path)
    assert out.returncode == 2
    assert "exchange.id" in out.stderr

    cfg.write_text("grid: {levels: 10}\nexchange: {id: kraken, credentials_file: /run/secrets/exchange}\n")
    out = gridbot("check-config", str(cfg), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout


def test_check_config_judges_the_grid_at_the_data_prices(tmp_path):
    eurusd = tmp_path / "eurusd.csv"
    eurusd.write_text(
        "\n".join(f"{1_700_000_000_000 + i * 3_600_000},1.1,1.102,1.098,1.1,1" for i in range(50))
    )
    cfg = tmp_path / "eur.yml"
    cfg.write_text(
        "market: {symbol: EUR/USD, tick_size: 0.01, lot_step: 1}\ngrid: {levels: 10, width_pct: 3}\n"
    )
    out = gridbot("check-config", str(cfg), "--data", str(eurusd), cwd=tmp_path)
    assert out.returncode == 2
    assert "at price 1.098" in out.stderr
    assert "collapse onto the same ticks" in out.stderr

    cfg.write_text(
        "market: {symbol: EUR/USD, tick_size: 0.00001, lot_step: 1}\ngrid: {levels: 10, width_pct: 3}\n"
    )
    out = gridbot("check-config", str(cfg), "--data", str(eurusd), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "1.098..1.102" in out.stdout

    cfg.write_text(
        "market: {symbol: EUR/USD, tick_size: 0.00001, lot_step: 1}\n"
        "grid: {levels: 10, width_pct: 3, atr_spacing: {enabled: true, multiplier: 0.1}}\n"
    )
    out = gridbot("check-config", str(cfg), "--data", str(eurusd), cwd=tmp_path)
    assert out.returncode == 0, out.stderr  # the engine skips those grids: a note, not a refusal
    assert "note: on 36 of 36 candles the ATR grid's step would not pay twice the fee" in out.stdout

    btc = tmp_path / "btc.yml"
    btc.write_text("market: {tick_size: 1}\n")  # BTC/USDT on the embedded data, ~40k-70k
    out = gridbot("check-config", str(btc), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "embedded" in out.stdout

    out = gridbot("check-config", str(btc), "--data", str(tmp_path / "missing.csv"), cwd=tmp_path)
    assert out.returncode == 2  # data that cannot be read is an error, not a price assumed
    assert "missing.csv" in out.stderr

    btc.write_text("regrid: {cooldown_candles: 288}\n")
    out = gridbot("check-config", str(btc), cwd=tmp_path)
    assert out.returncode == 2
    assert "regrid" in out.stderr
    assert "cooldown, a duration" in out.stderr


def test_run_heartbeats_stops_on_sigterm_and_resumes(tmp_path):
    cfg = tmp_path / "bot.yml"
    beat = tmp_path / "heartbeat"
    cfg.write_text(
        f"run:\n  cycle_seconds: 0.01\n  state_dir: {tmp_path / 'data'}\n  heartbeat_file: {beat}\n"
        "  http_port: null\n"
    )
    before = gridbot("status", "-c", str(cfg), cwd=tmp_path)
    assert before.returncode == 1
    assert "no status saved yet" in before.stderr
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridbot.cli", "run", "-c", str(cfg)], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not beat.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    first = beat.read_text()
    time.sleep(0.5)
    assert beat.read_text() != first, "the heartbeat must advance every cycle"
    # Judged while the bot runs: a stopped bot's heartbeat ages, and on a loaded machine the commands after
    # the stop take seconds.
    assert gridbot("health", "--heartbeat", str(beat), cwd=tmp_path).returncode == 0
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert not beat.exists()  # a stopped bot is unhealthy at once, not once its last beat has aged out
    stopped = gridbot("health", "--heartbeat", str(beat), cwd=tmp_path)
    assert (stopped.returncode, stopped.stdout.split(":")[0]) == (1, "unhealthy")
    shown = gridbot("status", "-c", str(cfg), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert status["cycle"] > 10
    assert status["mode"] == "paper"
    assert status["symbol"] == "BTC/USDT"
    assert {"end_equity", "round_trips", "realized_pnl", "unrealized_pnl"} <= status.keys()
    assert status["config_sha256"] == hashlib.sha256(cfg.read_bytes()).hexdigest()
    assert "stopped after cycle" in err

    cfg.write_text(cfg.read_text().replace("0.01", "0.02"))
    again = gridbot("run", "-c", str(cfg), "--max-cycles", "3", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"from cycle {status['cycle']}" in again.stderr
    after = json.loads(gridbot("status", "-c", str(cfg), cwd=tmp_path).stdout)
    assert after["cycle"] == status["cycle"] + 3
    assert after["config_sha256"] == hashlib.sha256(cfg.read_bytes()).hexdigest() != status["config_sha256"]


def test_a_run_on_a_desktop_writes_nothing_but_its_state_in_the_users_data_directory(tmp_path):
    """No run.state_dir or heartbeat_file: not /data and /tmp as in the container, nor the working directory,
    but $XDG_DATA_HOME/gridbot, where status and health find them without being told."""
    cfg = tmp_path / "bot.yml"
    cfg.write_text("run:\n  cycle_seconds: 0.001\n  http_port: null\n")
    home = Path(os.environ["XDG_DATA_HOME"]) / "gridbot"  # conftest: this test's own
    out = gridbot("run", "-c", str(cfg), "--max-cycles", "2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["bot.yml"]
    assert sorted(p.name for p in home.iterdir() if not p.name.startswith("gridbot.db-")) == ["gridbot.db"]
    assert json.loads(gridbot("status", "-c", str(cfg), cwd=tmp_path).stdout)["cycle"] == 2
    health = gridbot("health", cwd=tmp_path)  # the default heartbeat: the default state directory's
    beat = home / "gridbot.heartbeat"
    assert (health.returncode, health.stdout) == (
        1,
        f"unhealthy: no heartbeat at {beat} (No such file or directory)\n",
    )


def test_a_runs_events_are_its_log_on_stderr_one_line_each_naming_the_bot_and_the_host(tmp_path):
    cfg = tmp_path / "bot.yml"
    cfg.write_text(f"run:\n  cycle_seconds: 0.001\n  state_dir: {tmp_path / 'data'}\n  heartbeat_file: "
                   f"{tmp_path / 'hb'}\n  http_port: null\n  bot_id: pi5a\n")  # fmt: skip
    out = gridbot("run", "-c", str(cfg), "--max-cycles", "2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""  # a run answers nothing
    where = f"bot=pi5a host={socket.gethostname()} gridbot.ops.service"
    assert out.stderr.splitlines() == [
        f"INFO {where}: paper BTC/USDT, 51840 candles, every 0.001s, from cycle 0",
        f"INFO {where}: grid placed around 60128.8: 20 levels 56816.4..63634.3",  # the first candle's close
        f"INFO {where}: stopped after cycle 2: equity 1000.0, round trips 0",
    ]
    # each fill as it is booked, a sell with what it realized: the lines match the store's fills
    more = gridbot("run", "-c", str(cfg), "--max-cycles", "1500", cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    filled = [line for line in more.stderr.splitlines() if " filled (fee " in line]
    grids = [line for line in more.stderr.splitlines() if ": grid placed around " in line]
    assert 0 < len(grids) == json.loads(gridbot("status", "-c", str(cfg), cwd=tmp_path).stdout)["regrids"]
    with sqlite3.connect(tmp_path / "data/gridbot.db") as db:
        stored = dict(db.execute("SELECT side, count(*) FROM fills GROUP BY side").fetchall())
    assert stored["buy"] > 0
    assert stored["sell"] > 0
    assert {side: sum(f" {side} " in line for line in filled) for side in stored} == stored
    assert all(re.fullmatch(rf"INFO {where}: buy [0-9.]+ at [0-9.]+ filled \(fee [0-9.e-]+ BTC\)", line)
               or re.fullmatch(rf"INFO {where}: sell [0-9.]+ at [0-9.]+ filled \(fee [0-9.e-]+ USDT, "
                               r"realized [+-][0-9]+\.[0-9]{2}\)", line) for line in filled)  # fmt: skip
    # the bot's level, and one logger's alone (after -v, which turned the bot's to debug)
    for levels in (["--log-level", "warning"], ["-v", "--log-level", "gridbot.ops.service=warning"]):
        quiet = gridbot(*levels, "run", "-c", str(cfg), "--max-cycles", "1", cwd=tmp_path)
        assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", ""), levels


@pytest.mark.parametrize(
    ("age", "limit", "code", "word"),
    [(1.0, 13.0, 0, "healthy"), (20.0, 13.0, 1, "unhealthy"), (None, None, 1, "unhealthy")],
)
def test_health_reads_the_heartbeat_age_against_its_own_limit(tmp_path, age, limit, code, word):
    beat = tmp_path / "heartbeat"
    if age is not None:
        beat.write_text(f"{time.time() - age:.3f} 42 {limit}\n")
    out = gridbot("health", "--heartbeat", str(beat), cwd=tmp_path)
    assert out.returncode == code
    assert out.stdout.startswith(word)
