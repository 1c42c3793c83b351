"""What the gridbot role's rollback reads of the trading gate's answer (its vars/main.yml, rendered by Ansible
itself from registered results as `gridbot gate` leaves them): the rescue names the gate's reason and lifts a
halt the refused key made only on its word, so an answer read as empty rolls back in silence and leaves the
canary halted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from stock_ansible import stock_playbook

PROJECT = Path(__file__).resolve().parents[2]

# `gridbot gate`'s answer to a key the exchange refused: its reason holds the exchange's own JSON.
REFUSED = {
    "state": "not trading",
    "why": "halted since its start: exchange refused the credentials: balances: AuthenticationError: binance "
    '{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}',
    "key_refused": True,
}


def rendered(tmp_path: Path, gate: dict[str, Any]) -> dict[str, Any]:
    out = tmp_path / "answer.json"
    playbook = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars_files": [str(PROJECT / "roles" / "gridbot" / "vars" / "main.yml")],
            "vars": {"__gridbot_gate": gate},
            "tasks": [
                {
                    "name": "Write what the rescue reads",
                    "ansible.builtin.copy": {
                        "dest": str(out),
                        "content": "{{ {'said': __gridbot_gate_said, 'missing': __gridbot_gate_missing}"
                        " | to_json }}",
                        "mode": "0644",
                    },
                }
            ],
        }
    ]
    (tmp_path / "play.yml").write_text(json.dumps(playbook))
    run = stock_playbook(
        tmp_path, "-i", "localhost,", tmp_path / "play.yml", ANSIBLE_LOCALHOST_WARNING="False"
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("printed", [json.dumps(REFUSED), "\n  " + json.dumps(REFUSED) + "\n"])
def test_the_gates_refusal_is_read_whole(tmp_path: Path, printed: str) -> None:
    answer = rendered(tmp_path, {"rc": 1, "stdout": printed, "stderr": ""})
    assert answer == {"said": REFUSED, "missing": False}


@pytest.mark.parametrize(
    "gate",
    [
        {"skipped": True, "changed": False},  # the gate did not run (no soak due, trading not judged)
        {"rc": 1, "stdout": "", "stderr": "Traceback (most recent call last): ..."},  # printed no answer
    ],
)
def test_no_answer_is_read_as_none(tmp_path: Path, gate: dict[str, Any]) -> None:
    assert rendered(tmp_path, gate) == {"said": {}, "missing": False}


def test_a_release_from_before_the_gate_is_told_by_argparses_refusal(tmp_path: Path) -> None:
    refused = "gridbot: error: argument command: invalid choice: 'gate' (choose from 'run', 'status')\n"
    assert rendered(tmp_path, {"rc": 2, "stdout": "", "stderr": refused}) == {"said": {}, "missing": True}
    other = {"rc": 2, "stdout": "", "stderr": "gridbot: error: unrecognized arguments: --since"}
    assert rendered(tmp_path, other) == {"said": {}, "missing": False}
