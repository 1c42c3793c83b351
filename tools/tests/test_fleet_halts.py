"""resume.yml's question before it lifts several halts (playbooks/filter_plugins/fleet_halts.py): which bots
it names, and what it says when it lifts none. The playbook itself, asked nothing and then told yes, is the
scale tier's (molecule/scale/tests/test_halt.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
spec = importlib.util.spec_from_file_location("fleet_halts", PLAYBOOKS / "filter_plugins" / "fleet_halts.py")
assert spec is not None
assert spec.loader is not None
fleet_halts = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fleet_halts)

HOSTVARS = {
    "pi5-a": {"__bot_state": {"halted": True, "reason": "drawdown 26.1% past risk.max_drawdown_pct 25%"}},
    "pi5-b": {"__bot_state": {"halted": False, "reason": ""}},
    # what Ansible templated from a string ("True"), and a halt with no reason kept
    "pi4-c": {"__bot_state": {"halted": "True", "reason": ""}},
    "pi4-d": {},  # failed before it read its bot: nothing to lift there
}


def test_the_halted_bots_in_play_order_with_their_reasons() -> None:
    halts = fleet_halts.halts_to_lift(["pi4-c", "pi5-a", "pi5-b", "pi4-d"], HOSTVARS)
    assert halts == [
        {"host": "pi4-c", "reason": "(no reason given)"},
        {"host": "pi5-a", "reason": "drawdown 26.1% past risk.max_drawdown_pct 25%"},
    ]
    assert fleet_halts.halts_to_lift(["pi5-b", "pi4-d"], HOSTVARS) == []


def test_the_question_names_each_bot_and_the_way_out() -> None:
    halts = fleet_halts.halts_to_lift(["pi5-a", "pi4-c"], HOSTVARS)
    question = fleet_halts.resume_question(halts)
    assert question.splitlines() == [
        "resume.yml would lift the halts of 2 bots:",
        "  pi5-a: drawdown 26.1% past risk.max_drawdown_pct 25%",
        "  pi4-c: (no reason given)",
        "Type yes to lift them all (-l HOST lifts one; -e gridbot_resume_confirmed=true asks no more)",
    ]


def test_the_refusal_says_why_nothing_was_lifted() -> None:
    halts = fleet_halts.halts_to_lift(["pi5-a", "pi4-c"], HOSTVARS)
    unasked = fleet_halts.resume_refusal(halts, "")
    assert unasked.startswith("resume.yml lifted none of the 2 halts; nothing was asked: stdin is no term")
    assert "  pi4-c: (no reason given)\n" in unasked
    assert unasked.endswith("-e gridbot_resume_confirmed=true.")
    assert "the answer was 'no'" in fleet_halts.resume_refusal(halts, " no\n")
