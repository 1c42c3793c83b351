"""What the gridbot role's rollback reads of the trading gate's answer (its vars/main.yml, rendered by Ansible
itself from registered results as `gridbot gate` leaves them): the rescue names the gate's reason and lifts a
halt the refused key made only on its word, so an answer read as empty rolls back in silence and leaves the
canary halted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from stock_ansible import rendered_vars

PROJECT = Path(__file__).resolve().parents[2]

# `gridbot gate`'s answer to a key the exchange refused: its reason holds the exchange's own JSON.
REFUSED = {
    "state": "not trading",
    "why": "halted since its start: exchange refused the credentials: balances: AuthenticationError: binance "
    '{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}',
    "key_refused": True,
}


def rendered(tmp_path: Path, gate: dict[str, Any]) -> dict[str, Any]:
    return rendered_vars(
        tmp_path,
        [PROJECT / "roles" / "gridbot" / "vars" / "main.yml"],
        {"__gridbot_gate": gate},
        {"said": "__gridbot_gate_said", "missing": "__gridbot_gate_missing"},
    )


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
