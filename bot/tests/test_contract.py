"""The container contract has one statement (gridbot.contract): every other place that names one of its values
must name the same one. Fails when a copy drifts."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from gridbot import contract
from gridbot.config.model import RunConfig

ROOT = Path(__file__).resolve().parents[2]


def text(rel: str) -> str:
    return (ROOT / rel).read_text()


def test_bot_defaults_in_the_image_are_the_contract(monkeypatch):
    monkeypatch.setenv(contract.STATE_DIR_ENV, contract.DATA_DIR)  # as the image sets them
    monkeypatch.setenv(contract.HEARTBEAT_ENV, contract.HEARTBEAT_FILE)
    run = RunConfig()
    assert (str(run.state_dir), str(run.heartbeat_file)) == (contract.DATA_DIR, contract.HEARTBEAT_FILE)
    assert run.http_port == contract.HTTP_PORT
    assert str(RunConfig(state_dir="/srv/b").heartbeat_file) == contract.HEARTBEAT_FILE  # the tmpfs, always


def test_bot_defaults_outside_a_container_are_the_users_data_directory(monkeypatch, tmp_path):
    """On a desktop nothing goes to / or /tmp: the store and the heartbeat in $XDG_DATA_HOME/gridbot."""
    for name in (contract.STATE_DIR_ENV, contract.HEARTBEAT_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    run = RunConfig()
    assert run.state_dir == tmp_path / "gridbot"
    assert run.heartbeat_file == tmp_path / "gridbot/gridbot.heartbeat"
    assert contract.heartbeat_path() == str(run.heartbeat_file)  # `gridbot health` without a config
    other = RunConfig(state_dir=tmp_path / "b")  # a second bot's state, its own heartbeat
    assert other.heartbeat_file == tmp_path / "b/gridbot.heartbeat"
    given = RunConfig(state_dir=tmp_path / "b", heartbeat_file=tmp_path / "hb")
    assert given.heartbeat_file == tmp_path / "hb"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert RunConfig().state_dir == tmp_path / "home/.local/share/gridbot"


def test_role_vars_are_the_contract():
    role_vars = yaml.safe_load(text("roles/gridbot/vars/main.yml"))
    assert role_vars["__gridbot_credentials"] == str(contract.CREDENTIALS_FILE)
    # Each bot's run.state_dir and exchange.credentials_file: the plan (filter_plugins/bots.py) puts these in.
    assert "'state_dir': __gridbot_data_dir" in role_vars["__gridbot_plan_of_inventory"]
    assert "'credentials_file': __gridbot_credentials" in role_vars["__gridbot_plan_of_inventory"]
    assert "'ip_quiet_dir': __gridbot_ip_quiet_mount" in role_vars["__gridbot_plan_of_inventory"]
    found = re.search(r'^IP_QUIET_DIR = "([^"]+)"$', text("bot/gridbot/contract.py"), re.MULTILINE)
    assert found
    assert found[1] == contract.IP_QUIET_DIR
    assert "regex_findall('^IP_QUIET_DIR = " in role_vars["__gridbot_ip_quiet_mount"]


def test_role_reads_the_data_dir_and_the_store_file_from_the_bot():
    """The role's data dir (the bot's state_dir, the volume's mount, the rollout's copies) and the store's
    file name (what a restore looks for in the volume) come from the bot's own statements; their patterns
    must still find them."""
    from gridbot.ops.store import DB_FILE  # noqa: PLC0415

    role_vars = yaml.safe_load(text("roles/gridbot/vars/main.yml"))
    assert "bot/gridbot/contract.py" in role_vars["__gridbot_data_dir"]
    assert "bot/gridbot/ops/store.py" in role_vars["__gridbot_store_file"]
    found = re.search(r'^DATA_DIR = "([^"]+)"$', text("bot/gridbot/contract.py"), re.MULTILINE)
    assert found
    assert found[1] == contract.DATA_DIR
    found = re.search(r'^DB_FILE = "([^"]+)"$', text("bot/gridbot/ops/store.py"), re.MULTILINE)
    assert found
    assert found[1] == DB_FILE


def test_compose_template_is_the_contract():
    compose = text("roles/gridbot/templates/compose.yaml.j2")
    assert f'"-c", "{contract.CONFIG_FILE}"' in compose
    assert f"./bot.yml:{contract.CONFIG_FILE}:ro" in compose
    assert "data:{{ __gridbot_data_dir }}\n" in compose
    assert f"{{{{ __gridbot_backup_dir }}}}:{contract.BACKUP_DIR}\n" in compose
    assert "{{ __gridbot_bot.ip_dir }}:{{ __gridbot_ip_quiet_mount }}\n" in compose


def test_image_is_the_contract():
    dockerfile = text("bot/Dockerfile")
    assert f"WORKDIR {contract.DATA_DIR}\n" in dockerfile
    assert f'VOLUME ["{contract.DATA_DIR}"]' in dockerfile
    assert f"EXPOSE {contract.HTTP_PORT}\n" in dockerfile
    assert f"    {contract.STATE_DIR_ENV}={contract.DATA_DIR} \\\n" in dockerfile
    assert f"    {contract.HEARTBEAT_ENV}={contract.HEARTBEAT_FILE}\n" in dockerfile


def test_role_reads_the_backup_dir_from_the_contract():
    """The deploy role mounts the backups there; pi_host's textfile collector finds each bot's there."""
    role_vars = yaml.safe_load(text("roles/gridbot/vars/main.yml"))
    assert "bot/gridbot/contract.py" in role_vars["__gridbot_backup_mount"]
    host_vars = yaml.safe_load(text("roles/pi_host/vars/main.yml"))
    assert "regex_findall('^BACKUP_DIR = " in host_vars["__pi_host_bot_backup_mount"]
    assert "PIFLEET_BACKUP_MOUNT={{ __pi_host_bot_backup_mount }}" in text(
        "roles/pi_host/templates/pifleet-textfile.service.j2"
    )
    found = re.search(r'^BACKUP_DIR = "([^"]+)"$', text("bot/gridbot/contract.py"), re.MULTILINE)
    assert found
    assert found[1] == contract.BACKUP_DIR


def test_role_reads_the_http_port_from_the_contract():
    """The role renders the published port from contract.py itself; its pattern must still find the value."""
    role_vars = yaml.safe_load(text("roles/gridbot/vars/main.yml"))
    assert "bot/gridbot/contract.py" in role_vars["__gridbot_http_port"]
    found = re.search(r"^HTTP_PORT = (\d+)", text("bot/gridbot/contract.py"), re.MULTILINE)
    assert found
    assert int(found[1]) == contract.HTTP_PORT


def test_the_heartbeat_a_run_writes_allows_the_age_its_config_states(tmp_path, monkeypatch):
    """The loop writes the age the probe allows into the heartbeat: one rule (RunConfig.heartbeat_max_age)."""
    from gridbot.cli import main  # noqa: PLC0415
    from gridbot.config.model import load_config  # noqa: PLC0415
    from gridbot.ops.health import heartbeat_age  # noqa: PLC0415

    beat = tmp_path / "beat"
    cfg = tmp_path / "bot.yml"
    cfg.write_text(
        f"run:\n  state_dir: {tmp_path}\n  heartbeat_file: {beat}\n  cycle_seconds: 0.5\n  http_port: null\n"
    )
    monkeypatch.setattr("gridbot.ops.service.clear_heartbeat", lambda _: None)  # the last beat, kept to read
    assert main(["run", "-c", str(cfg), "--max-cycles", "1"]) == 0
    _age, allowed = heartbeat_age(beat)
    assert allowed == load_config(cfg).run.heartbeat_max_age == 3 * 0.5 + 10
