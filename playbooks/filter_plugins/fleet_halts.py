"""What a resume would lift, and the question playbooks/resume.yml asks before it lifts several halts at once
(tested on the controller: tools/tests/test_fleet_halts.py), computed in Python, not in Jinja.

A halt is someone's decision or a kill switch's verdict: lifting every halt in the fleet is one typo of `-l`
away, so a run that would lift more than one names them and their reasons and waits for a "yes" (or
`-e gridbot_resume_confirmed=true`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CONFIRM_VAR = "gridbot_resume_confirmed"


def _true(value: object) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes", "1")


def halts_to_lift(hosts: list[str], hostvars: Mapping[str, Any]) -> list[dict[str, str]]:
    """{host, bot, reason} for each bot of `hosts` (in their order) that said it is halted:
    tasks/bot-state.yml's `__bot_states`. A host that has not read its bots' states (it failed before) is not
    counted."""
    lifted = []
    for host in hosts:
        for state in hostvars[host].get("__bot_states") or []:
            if _true(state.get("halted")):
                reason = str(state.get("reason") or "").strip() or "(no reason given)"
                lifted.append({"host": host, "bot": str(state.get("bot") or "default"), "reason": reason})
    return lifted


def bots_named(hosts: list[str], hostvars: Mapping[str, Any], fact: str) -> list[dict[str, str]]:
    """{host, bot} for each bot name in each host's list `fact` (the bots halt.yml halted, or resume.yml
    lifted, set once each had taken it): what the monitoring hosts' silences are made or expired for. A host
    without the fact (it failed, or was not in the run) names none."""
    return [{"host": host, "bot": str(bot)} for host in hosts for bot in hostvars[host].get(fact) or []]


def _listed(halts: list[dict[str, str]]) -> str:
    return "\n".join(f"  {h['host']}/{h.get('bot', 'default')}: {h['reason']}" for h in halts)


def resume_question(halts: list[dict[str, str]]) -> str:
    return (
        f"resume.yml would lift the halts of {len(halts)} bots:\n{_listed(halts)}\n"
        "Type yes to lift them all (-l HOST -e gridbot_only=BOT lifts one; "
        f"-e {CONFIRM_VAR}=true asks no more)"
    )


def resume_refusal(halts: list[dict[str, str]], answer: str) -> str:
    said = "nothing was asked: stdin is no terminal"
    if answer.strip():
        said = f"the answer was {answer.strip()!r}"
    return (
        f"resume.yml lifted none of the {len(halts)} halts; {said}:\n{_listed(halts)}\n"
        f"Lift them with -l HOST -e gridbot_only=BOT one at a time, a yes at the prompt, or "
        f"-e {CONFIRM_VAR}=true."
    )


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "halts_to_lift": halts_to_lift,
            "bots_named": bots_named,
            "resume_question": resume_question,
            "resume_refusal": resume_refusal,
        }
