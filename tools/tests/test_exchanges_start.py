"""The test fleets' local exchanges (molecule/shared/exchanges/start.yml), started for real on loopback: a
port another process holds is refused by name before anything starts, never taken for the exchange's own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import yaml
from stock_ansible import stock_playbook

START = Path(__file__).resolve().parents[2] / "molecule/shared/exchanges/start.yml"


def inventory(tmp_path: Path, port: int) -> Path:
    host = {"ansible_connection": "local", "fleet_exchange_port": port, "fleet_exchange_speed": 0,
            "fleet_exchange_balances": {"USDT": 1000}, "gridbot_exchange_api_key": "k1",
            "gridbot_exchange_api_secret": "s1",
            "fleet_exchanges": [{"port": port, "symbol": "BTC/USDT", "data": "embedded"}]}  # fmt: skip
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"pifleet": {"hosts": {"h1": host}}}}}))
    return path


def start(tmp_path: Path, port: int) -> subprocess.CompletedProcess[str]:
    return stock_playbook(tmp_path, "-i", inventory(tmp_path, port), START, "-e", f"vm_state_dir={tmp_path}")


def test_a_taken_port_is_refused_by_name_and_a_free_one_serves_the_accounts(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        run = stock_playbook(
            tmp_path, "-i", inventory(tmp_path, port), START, "-e", f"vm_state_dir={tmp_path}"
        )
        assert run.returncode == 2, run.stdout
        assert (
            f"127.0.0.1:{port} is taken by another process, so the BTC/USDT exchange cannot start"
            in run.stdout
        )
        assert not (tmp_path / f"exchange-{port}.pid").exists()
    # the port free again: the exchange starts, is checked alive and opens the host's account
    run = start(tmp_path, port)
    pid = int((tmp_path / f"exchange-{port}.pid").read_text())
    try:
        assert run.returncode == 0, run.stdout
        assert "failed=0" in run.stdout
    finally:
        os.kill(pid, signal.SIGTERM)
