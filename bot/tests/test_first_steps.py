"""A new user's first steps: `gridbot new-config`, the shipped examples, and the README's commands run exactly
as printed, in a fresh directory, writing nothing there but what they were asked to."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
STARTERS = ROOT / "bot/gridbot/config/starters"


def gridbot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gridbot.cli", *args], cwd=cwd, capture_output=True,
                          text=True, check=False, timeout=300)  # fmt: skip


def test_the_examples_are_the_starters_new_config_writes(tmp_path):
    """One text each: examples/bot.yml and live.yml are links to what `new-config` writes."""
    for example, args in (("bot.yml", ()), ("live.yml", ("--live",))):
        out = gridbot("new-config", *args, example, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(f"wrote {example} (")
        assert (tmp_path / example).read_text() == (ROOT / "examples" / example).read_text()
        assert (ROOT / "examples" / example).resolve().parent == STARTERS


def test_the_paper_example_passes_check_config_and_trades(tmp_path):
    example = ROOT / "examples/bot.yml"
    checked = gridbot("check-config", "-c", str(example), cwd=tmp_path)
    assert (checked.returncode, checked.stderr) == (0, "")
    assert checked.stdout.startswith(f"{example}: ok (paper BTC/USDT, 20 levels, judged at embedded's prices")
    summary = json.loads(gridbot("backtest", "-c", str(example), "--json", cwd=tmp_path).stdout)
    assert summary["round_trips"] > 0


def test_the_live_example_passes_check_config_and_names_its_missing_credentials(tmp_path):
    example = ROOT / "examples/live.yml"
    checked = gridbot("check-config", "-c", str(example), "--offline", cwd=tmp_path)
    assert (checked.returncode, checked.stderr) == (0, "")
    ok, note = checked.stdout.splitlines()
    assert ok.startswith(f"{example}: ok (live BTC/USDT, 20 levels")
    credentials = Path("~/.config/gridbot/exchange").expanduser()  # the file's ~ is the user's home
    assert note.startswith(f"{example}: note: exchange.credentials_file {credentials} does not exist")
    assert yaml.safe_load(example.read_text())["grid"]["budget_quote"] <= 200  # a first live grid is small


def test_new_config_never_overwrites_unless_forced(tmp_path):
    mine = tmp_path / "bot.yml"
    mine.write_text("grid: {levels: 7}\n")
    refused = gridbot("new-config", cwd=tmp_path)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert (
        refused.stderr
        == "gridbot: new-config: bot.yml exists: choose another name, or --force to replace it\n"
    )
    assert mine.read_text() == "grid: {levels: 7}\n"
    assert gridbot("new-config", "--force", cwd=tmp_path).returncode == 0
    assert mine.read_text() == (STARTERS / "paper.yml").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bot.yml"]  # no temporary file left
    nowhere = gridbot("new-config", str(tmp_path / "missing/bot.yml"), cwd=tmp_path)
    assert nowhere.returncode == 2
    assert (
        nowhere.stderr == f"gridbot: new-config: {tmp_path / 'missing/bot.yml'}: No such file or directory\n"
    )


def readme_commands() -> list[str]:
    """The `gridbot` lines of the README's "The bot on its own" block, comments cut."""
    section = (ROOT / "README.md").read_text().split("## The bot on its own", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "README: no sh block under 'The bot on its own'"
    lines = [line.split("  #", 1)[0].strip() for line in block[1].splitlines()]
    return [line for line in lines if line.startswith("gridbot ")]


def saved_cycles(cwd: Path) -> int:
    status = gridbot("status", "-c", "bot.yml", cwd=cwd)
    return int(json.loads(status.stdout)["cycle"]) if status.returncode == 0 else 0


def test_the_readmes_bot_commands_run_as_printed(tmp_path):
    """Each line as printed, in order, in an empty directory; `run` is stopped as its comment says (Ctrl-C)
    once it has traded a few cycles. Nothing lands in the directory but the config, the asked-for plot and the
    results directory."""
    commands = readme_commands()
    assert [shlex.split(c)[1] for c in commands] == [
        "new-config", "check-config", "backtest", "sweep", "run", "status", "backup"]  # fmt: skip
    for command in commands:
        argv = shlex.split(command)[1:]
        if argv[0] != "run":
            out = gridbot(*argv, cwd=tmp_path)
            assert out.returncode == 0, f"{command}: {out.stderr}"
            continue
        bot = subprocess.Popen([sys.executable, "-m", "gridbot.cli", *argv], cwd=tmp_path, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while saved_cycles(tmp_path) < 3:
                assert bot.poll() is None, bot.communicate()[1]
                assert time.monotonic() < deadline, "no third cycle within 60 s"
                time.sleep(0.5)
            bot.send_signal(signal.SIGINT)
            _, err = bot.communicate(timeout=30)
            assert bot.returncode == 0, err
        finally:
            bot.kill()
            bot.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bot.yml", "equity.png", "results"]
    assert sorted(p.name for p in (tmp_path / "results/bot").iterdir()) == [
        "sweep.csv", "trades-roundtrips.csv", "trades.csv"]  # fmt: skip
    state = Path(os.environ["XDG_DATA_HOME"]) / "gridbot"
    assert (state / "gridbot.db").is_file()
    backups = sorted(p.name for p in (state / "backups").iterdir())
    assert len(backups) == 2
    assert backups[0].startswith("gridbot-paper-BTCUSDT-")
    assert backups[1] == backups[0] + ".sha256"
