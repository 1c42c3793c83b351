"""resume.yml's question before it lifts several halts (playbooks/filter_plugins/fleet_halts.py): which bots
it names, and what it says when it lifts none. The playbook itself, asked nothing and then told yes, is the
scale tier's (molecule/scale/tests/test_halt.py)."""

from __future__ import annotations

from pathlib import Path

from modules import load_module

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
fleet_halts = load_module(PLAYBOOKS / "filter_plugins" / "fleet_halts.py", "fleet_halts")

HOSTVARS = {
    "pi5-a": {"__bot_states": [
        {"bot": "default", "halted": True, "reason": "drawdown 26.1% past risk.max_drawdown_pct 25%"},
        {"bot": "eth", "halted": False, "reason": ""},
        {"bot": "wide", "halted": True, "reason": "manual halt"},
    ]},
    "pi5-b": {"__bot_states": [{"bot": "default", "halted": False, "reason": ""}]},
    # what Ansible templated from a string ("True"), and a halt with no reason kept
    "pi4-c": {"__bot_states": [{"bot": "default", "halted": "True", "reason": ""}]},
    "pi4-d": {},  # failed before it read its bots: nothing to lift there
}  # fmt: skip


def test_the_halted_bots_in_play_order_with_their_reasons() -> None:
    halts = fleet_halts.halts_to_lift(["pi4-c", "pi5-a", "pi5-b", "pi4-d"], HOSTVARS)
    assert halts == [
        {"host": "pi4-c", "bot": "default", "reason": "(no reason given)"},
        {"host": "pi5-a", "bot": "default", "reason": "drawdown 26.1% past risk.max_drawdown_pct 25%"},
        {"host": "pi5-a", "bot": "wide", "reason": "manual halt"},
    ]
    assert fleet_halts.halts_to_lift(["pi5-b", "pi4-d"], HOSTVARS) == []


def test_the_question_names_each_bot_and_the_way_out() -> None:
    halts = fleet_halts.halts_to_lift(["pi5-a", "pi4-c"], HOSTVARS)
    question = fleet_halts.resume_question(halts)
    assert question.splitlines() == [
        "resume.yml would lift the halts of 3 bots:",
        "  pi5-a/default: drawdown 26.1% past risk.max_drawdown_pct 25%",
        "  pi5-a/wide: manual halt",
        "  pi4-c/default: (no reason given)",
        "Type yes to lift them all (-l HOST -e gridbot_only=BOT lifts one; "
        "-e gridbot_resume_confirmed=true asks no more)",
    ]


def test_the_refusal_says_why_nothing_was_lifted() -> None:
    halts = fleet_halts.halts_to_lift(["pi5-a", "pi4-c"], HOSTVARS)
    unasked = fleet_halts.resume_refusal(halts, "")
    assert unasked.startswith("resume.yml lifted none of the 3 halts; nothing was asked: stdin is no term")
    assert "  pi4-c/default: (no reason given)\n" in unasked
    assert unasked.endswith("-e gridbot_resume_confirmed=true.")
    assert "the answer was 'no'" in fleet_halts.resume_refusal(halts, " no\n")


fleet_bots = load_module(PLAYBOOKS / "filter_plugins" / "fleet_bots.py", "fleet_bots")


def test_a_hosts_bots_are_the_roles_containers_default_first_or_the_one_named() -> None:
    running = ["gridbot-wide\n", "gridbot", "gridbot-pull-check-x-y-z-long", "gridbot_old", "gridbot-eth"]
    assert fleet_bots.host_bots(running) == [
        {"bot": "default", "container": "gridbot"},
        {"bot": "eth", "container": "gridbot-eth"},
        {"bot": "wide", "container": "gridbot-wide"},
    ]
    assert fleet_bots.host_bots(running, "wide") == [{"bot": "wide", "container": "gridbot-wide"}]
    assert fleet_bots.host_bots(running, "btc") == []


def test_each_bots_state_and_those_that_did_not_answer() -> None:
    results = [
        {"__bot": {"bot": "default", "container": "gridbot"}, "rc": 0,
         "stdout": '{"halted": "manual halt", "open_orders": 4}'},
        {"__bot": {"bot": "eth", "container": "gridbot-eth"}, "rc": 0,
         "stdout": '{"halted": "", "open_orders": 7}'},
        {"__bot": {"bot": "wide", "container": "gridbot-wide"}, "rc": 1, "stdout": "",
         "stderr": "Error response from daemon: container is not running"},
    ]  # fmt: skip
    assert fleet_bots.bot_states(results[:2]) == [
        {"bot": "default", "container": "gridbot", "halted": True, "reason": "manual halt", "open_orders": 4},
        {"bot": "eth", "container": "gridbot-eth", "halted": False, "reason": "", "open_orders": 7},
    ]
    assert fleet_bots.unanswered(results) == [
        "wide (rc 1): Error response from daemon: container is not running"
    ]


def test_the_silenced_bots_are_those_each_host_noted_and_a_host_that_failed_names_none() -> None:
    hostvars = {
        "pi5-a": {"__halt_new": ["default", "wide"]},
        "pi5-b": {"__bot_states": []},
        "pi5-c": {"__halt_new": []},
    }
    assert fleet_halts.bots_named(["pi5-a", "pi5-b", "pi5-c"], hostvars, "__halt_new") == [
        {"host": "pi5-a", "bot": "default"},
        {"host": "pi5-a", "bot": "wide"},
    ]
    assert fleet_halts.bots_named(["pi5-b"], hostvars, "__resume_lifted") == []
