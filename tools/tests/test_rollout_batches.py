"""rollout.yml's batches: the filters that cut them (roles/gridbot/filter_plugins/rollout_batches.py) against
Ansible's own `serial` (PlaybookExecutor._get_serialized_batches), and the check play and the rollout play's
serial run by stock ansible-playbook on the controller, with local hosts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from ansible.executor.playbook_executor import PlaybookExecutor
from hypothesis import given
from hypothesis import strategies as st
from modules import load_module
from stock_ansible import stock_playbook

PROJECT = Path(__file__).resolve().parents[2]
rollout_batches = load_module(PROJECT / "roles/gridbot/filter_plugins/rollout_batches.py", "rollout_batches")

entries = st.one_of(st.integers(1, 70), st.integers(1, 100).map(lambda p: f"{p}%"))
serials = st.lists(entries, min_size=1, max_size=5)
fleets = st.integers(0, 300).map(lambda n: [f"pi-{i:03d}" for i in range(n)])


def ansible_serial(hosts: list[str], serial: list[int | str]) -> list[list[str]]:
    """What a play with `serial: <serial>` over `hosts` runs as batches: Ansible's code, not a copy of it."""
    executor = SimpleNamespace(_inventory=SimpleNamespace(get_hosts=lambda _pattern, **_order: list(hosts)))
    play = SimpleNamespace(hosts="pifleet", order="inventory", serial=serial)
    return PlaybookExecutor._get_serialized_batches(executor, play)


@given(fleets, serials)
def test_batches_are_serials(hosts: list[str], serial: list[int | str]) -> None:
    batches = rollout_batches.serial_batches(hosts, serial)
    assert batches == ansible_serial(hosts, serial)
    # Every host in exactly one batch, in the inventory's order; no batch empty.
    assert [h for batch in batches for h in batch] == hosts
    assert all(batches)


@given(fleets, serials)
def test_each_entry_sizes_its_batch_and_the_last_repeats(hosts: list[str], serial: list[int | str]) -> None:
    batches = rollout_batches.serial_batches(hosts, serial)
    for number, batch in enumerate(batches):
        entry = str(serial[min(number, len(serial) - 1)])
        want = max(int(entry[:-1]) * len(hosts) // 100, 1) if entry.endswith("%") else int(entry)
        # Ansible's float arithmetic may round a percentage one host lower than exact arithmetic.
        assert len(batch) in {want, want - 1} if number < len(batches) - 1 else len(batch) <= want


@pytest.mark.parametrize(
    ("count", "serial", "sizes"),
    [
        (8, [1, "25%", "100%"], [1, 2, 5]),  # the default, on molecule/scale's 8 hosts
        (8, [2, "50%"], [2, 4, 2]),  # molecule/scale's inventory
        (2, [1, "25%", "100%"], [1, 1]),
        (3, ["10%"], [1, 1, 1]),  # rounded down, at least 1
        (50, ["58%"], [28, 22]),  # 58% of 50 in floats is 28.999...: serial's 28, not 29
        (0, [1], []),
    ],
)
def test_known_cuts(count: int, serial: list[int | str], sizes: list[int]) -> None:
    hosts = [f"pi-{i}" for i in range(count)]
    assert [len(b) for b in rollout_batches.serial_batches(hosts, serial)] == sizes


@pytest.mark.parametrize("serial", [[0], ["0%"], ["101%"], [-1], [], "25%"])
def test_what_would_restart_every_bot_at_once_is_refused(serial: object) -> None:
    with pytest.raises(ValueError, match="rollout batch"):
        rollout_batches.serial_batches(["a", "b"], serial)


@given(fleets, serials)
def test_groups_read_back_in_order(hosts: list[str], serial: list[int | str]) -> None:
    batches = rollout_batches.serial_batches(hosts, serial)
    groups: dict[str, list[str]] = {"all": hosts, "pifleet": hosts, "pi5": hosts[::2]}
    for host in hosts:
        groups.setdefault(rollout_batches.rollout_batch_group(batches, host), []).append(host)
    assert rollout_batches.rollout_batches(groups) == batches


def test_a_host_in_no_batch_is_named() -> None:
    with pytest.raises(ValueError, match="pi-9 is in no rollout batch"):
        rollout_batches.rollout_batch_group([["pi-1"]], "pi-9")


def run_plan(
    tmp_path: Path, count: int, serial: list[int | str], own: dict[str, object] | None = None
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """rollout.yml's check play (the role's plan.yml) then a play with rollout.yml's own serial expression,
    over `count` local hosts (`own`: a host's own gridbot_rollout_batches), with stock ansible-playbook; the
    run, and the file the rollout play wrote its batches to."""
    rollout = yaml.safe_load((PROJECT / "playbooks" / "rollout.yml").read_text())
    out = tmp_path / "batches.jsonl"
    hosts = [f"pi-{i:03d}" for i in range(count)]
    inventory = {
        "pifleet": {
            "hosts": {
                host: {"ansible_connection": "local"}
                | ({"gridbot_rollout_batches": (own or {})[host]} if host in (own or {}) else {})
                for host in hosts
            },
            "vars": {"gridbot_rollout_batches": serial},
        }
    }
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))
    playbook = [
        {
            "name": "Plan",
            "hosts": "pifleet",
            "gather_facts": False,
            "tasks": [{"ansible.builtin.import_role": {"name": "gridbot", "tasks_from": "plan.yml"}}],
        },
        {
            "name": "Roll out",
            "hosts": "pifleet",
            "gather_facts": False,
            "serial": rollout[1]["serial"],
            "tasks": [
                {
                    "ansible.builtin.lineinfile": {
                        "path": str(out),
                        "line": "{{ ansible_play_batch | to_json }}",
                        "create": True,
                        "mode": "0644",
                    },
                    "run_once": True,
                }
            ],
        },
    ]
    (tmp_path / "play.yml").write_text(json.dumps(playbook))
    run = stock_playbook(
        tmp_path, "-i", "hosts.yml", "play.yml", ANSIBLE_ROLES_PATH=str(PROJECT / "roles"), ANSIBLE_FORKS="50"
    )
    return run, out


def play_batches(
    tmp_path: Path, count: int, serial: list[int | str], own: dict[str, object] | None = None
) -> tuple[list[list[str]], str]:
    """The batches the rollout play runs after the check play, and what the run printed."""
    run, out = run_plan(tmp_path, count, serial, own)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return [json.loads(line) for line in out.read_text().splitlines()], run.stdout


@pytest.mark.parametrize(
    ("count", "serial", "sizes"),
    [(8, [1, "25%", "100%"], [1, 2, 5]), (50, ["58%"], [28, 22])],
)
def test_the_rollout_play_runs_the_planned_batches(
    tmp_path: Path, count: int, serial: list[int | str], sizes: list[int]
) -> None:
    batches, stdout = play_batches(tmp_path, count, serial)
    assert [len(b) for b in batches] == sizes
    assert [h for b in batches for h in b] == [f"pi-{i:03d}" for i in range(count)]
    shown = "; ".join(f"batch {n}: {', '.join(b)}" for n, b in enumerate(batches, start=1))
    assert shown in stdout  # the check play shows the batches the rollout then runs


def test_batches_one_host_sets_apart_stop_the_rollout_naming_each_hosts(tmp_path: Path) -> None:
    run, out = run_plan(tmp_path, 3, [1, "100%"], own={"pi-001": [2]})
    assert run.returncode != 0
    assert not out.exists()  # no batch ran
    assert (
        "gridbot_rollout_batches must be one value for the whole rollout (group_vars or -e, not host_vars); "
        'got pi-000: [1, "100%"], pi-001: [2], pi-002: [1, "100%"]'
    ) in run.stdout


def test_batches_the_hosts_agree_on_pass_when_a_host_repeats_them(tmp_path: Path) -> None:
    batches, _ = play_batches(tmp_path, 3, [1, "100%"], own={"pi-001": [1, "100%"]})
    assert [len(b) for b in batches] == [1, 2]
