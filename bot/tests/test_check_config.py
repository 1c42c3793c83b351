"""check-config (and backtest before running) refuses a valid config that could not trade on its data, naming
the field, the number and the nearest value that would trade; `run` refuses a live config without credentials
before it makes its state directory. Real processes, the embedded data as the price reference."""

import re
import subprocess
import sys

import pytest

from gridbot.ops.candle_files import load_embedded

CANDLES = load_embedded()
LOW, HIGH = float(CANDLES.low.min()), float(CANDLES.high.max())


def gridbot(*args, cwd):
    cmd = [sys.executable, "-m", "gridbot.cli", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (f"grid: {{lower: {HIGH * 2:.0f}, upper: {HIGH * 3:.0f}}}\n", "is outside every price of the data"),
        ("grid: {levels: 40, budget_quote: 100}\n", "below market.min_notional (5)"),
        (
            "start_quote: 500\ngrid: {budget_quote: 1000}\n",
            "grid.budget_quote (1000) is above start_quote (500)",
        ),
        (f"exits: {{stop_loss: {HIGH * 2:.0f}}}\n", "exits.stop_loss"),
        (f"exits: {{take_profit: {LOW / 2:.0f}}}\n", "exits.take_profit"),
        (f"exits: {{trigger_price: {HIGH * 2:.0f}}}\n", "exits.trigger_price"),
    ],
)
def test_a_config_that_cannot_trade_is_refused_by_check_config_and_backtest(tmp_path, body, words):
    cfg = tmp_path / "bot.yml"
    cfg.write_text(body)
    for cmd in (["check-config", str(cfg)], ["backtest", "-c", str(cfg)]):
        out = gridbot(*cmd, cwd=tmp_path)
        assert out.returncode == 2, out.stderr
        assert words in out.stderr
    assert not list(tmp_path.rglob("*.csv")), "the backtest wrote nothing"


def test_the_suggestions_are_configs_that_trade(tmp_path):
    cfg = tmp_path / "bot.yml"
    cfg.write_text("grid: {levels: 40, budget_quote: 100}\n")
    err = gridbot("check-config", str(cfg), cwd=tmp_path).stderr
    levels = re.search(r"grid\.levels: (\d+) or less", err)
    budget = re.search(r"grid\.budget_quote: ([\d.]+) or more", err)
    assert levels, err
    assert budget, err
    for fixed in (f"grid: {{levels: {levels[1]}, budget_quote: 100}}\n", f"grid: {{levels: 40, budget_quote: "
                  f"{budget[1]}}}\n"):  # fmt: skip
        cfg.write_text(fixed)
        out = gridbot("check-config", str(cfg), cwd=tmp_path)
        assert out.returncode == 0, out.stderr

    cfg.write_text("market: {tick_size: 500}\ngrid: {levels: 40, width_pct: 12}\n")  # ticks too coarse
    out = gridbot("check-config", str(cfg), cwd=tmp_path)
    assert out.returncode == 2
    nearest = re.search(r"nearest that trades: grid\.levels: (\d+)", out.stderr)
    assert nearest, out.stderr
    cfg.write_text(f"market: {{tick_size: 500}}\ngrid: {{levels: {nearest[1]}, width_pct: 12}}\n")
    assert gridbot("check-config", str(cfg), cwd=tmp_path).returncode == 0
    cfg.write_text(f"market: {{tick_size: 500}}\ngrid: {{levels: {int(nearest[1]) + 1}, width_pct: 12}}\n")
    assert gridbot("check-config", str(cfg), cwd=tmp_path).returncode == 2, "the nearest, not any"


def test_data_that_cannot_be_read_is_an_error_not_a_guess(tmp_path):
    cfg = tmp_path / "bot.yml"
    cfg.write_text("grid: {levels: 10}\n")
    out = gridbot("check-config", str(cfg), "--data", str(tmp_path / "missing.csv"), cwd=tmp_path)
    assert out.returncode == 2
    assert "missing.csv" in out.stderr
    assert "assumed" not in out.stderr + out.stdout


def test_check_config_takes_its_file_positionally_or_with_c(tmp_path):
    cfg = tmp_path / "bot.yml"
    cfg.write_text("grid: {levels: 10}\n")
    assert gridbot("check-config", str(cfg), cwd=tmp_path).returncode == 0
    assert gridbot("check-config", "-c", str(cfg), cwd=tmp_path).returncode == 0
    out = gridbot("check-config", cwd=tmp_path)
    assert out.returncode == 2
    assert "-c FILE" in out.stderr


def test_a_live_config_without_credentials_is_noted_and_run_refuses_it_before_its_state_dir(tmp_path):
    state = tmp_path / "state"
    cfg = tmp_path / "live.yml"
    cfg.write_text(
        "mode: live\nrun: {data: exchange, state_dir: " + str(state) + "}\n"
        f"exchange: {{api_url: 'http://127.0.0.1:9', credentials_file: {tmp_path / 'nokeys'}}}\n"
    )
    out = gridbot("check-config", "--offline", str(cfg), cwd=tmp_path)
    assert out.returncode == 0, out.stderr  # the deploy role checks the config before it writes the keys
    assert "exchange.credentials_file" in out.stdout
    out = gridbot("run", "-c", str(cfg), cwd=tmp_path)
    assert out.returncode == 2
    assert "exchange.credentials_file" in out.stderr
    assert "nokeys" in out.stderr
    assert not state.exists()
