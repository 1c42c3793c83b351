"""Alertmanager silences for what an operator does on purpose (tested against Debian's Alertmanager on the
controller: tools/tests/test_notifications.py). playbooks/halt.yml silences the BotHalted of each bot it
halts, so a deliberate halt does not page as an emergency; playbooks/resume.yml expires those silences as it
lifts the halts, so the next halt, the bot's own, pages again. playbooks/rollout.yml silences the alerts a
restart of a host's bots raises while that host rolls out, and expires the silence when the host is done,
passed or not (a bot still down or halted after it pages). Alertmanager's API v2: a silence is a list of
matchers, startsAt, endsAt, createdBy and a comment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

ALERT = "BotHalted"
CREATED_BY = "pifleet playbooks/halt.yml"
# What restarting a host's bots raises while its health gate judges them: down, unhealthy, restarting, no
# candle, and a new version's or a new key's halt, which the gate rolls back.
ROLLOUT_ALERTS = ("BotDown", "BotUnhealthy", "BotRestarting", "BotNoCandle", "BotHalted", "BotKeyRejected")
ROLLOUT_BY = "pifleet playbooks/rollout.yml"
STAMP = "%Y-%m-%dT%H:%M:%SZ"


def _matcher(name: str, value: str, regex: bool = False) -> dict[str, Any]:
    return {"name": name, "value": value, "isRegex": regex, "isEqual": True}


def _window(now: str, minutes: float) -> tuple[str, str]:
    """From a minute before `now` (a controller's clock ahead of the monitoring host's would leave a silence
    pending: Alertmanager moves a start in the past to its now) to `minutes` after it."""
    start = datetime.strptime(now, STAMP).replace(tzinfo=UTC) - timedelta(minutes=1)
    return start.strftime(STAMP), (start + timedelta(minutes=1 + minutes)).strftime(STAMP)


def _named(silence: Mapping[str, Any]) -> dict[str, str]:
    return {m["name"]: m["value"] for m in silence.get("matchers", []) if not m.get("isRegex")}


def _in_force(silence: Mapping[str, Any], by: str) -> bool:
    return silence.get("createdBy") == by and silence.get("status", {}).get("state") != "expired"


def halt_silences(
    bots: Iterable[Mapping[str, str]], reason: str, now: str, hours: float
) -> list[dict[str, Any]]:
    """One silence per bot ({host, bot}): its BotHalted from `now` (UTC, %Y-%m-%dT%H:%M:%SZ) for `hours`."""
    hours = float(hours)
    if hours <= 0:
        raise ValueError(f"gridbot_halt_silence_hours must be positive, got {hours!r}")
    start, end = _window(now, hours * 60)
    return [
        {
            "matchers": [
                _matcher("alertname", ALERT),
                _matcher("host", b["host"]),
                _matcher("bot", b["bot"]),
            ],
            "startsAt": start,
            "endsAt": end,
            "createdBy": CREATED_BY,
            "comment": f"halted on purpose: {reason}",
        }
        for b in bots
    ]


def halt_silences_to_expire(
    silences: Iterable[Mapping[str, Any]], bots: Iterable[Mapping[str, str]]
) -> list[str]:
    """The ids of the silences halt.yml made (not an operator's own) that are still in force for one of
    `bots`: GET /api/v2/silences's answer."""
    wanted = {(ALERT, b["host"], b["bot"]) for b in bots}
    return sorted(
        s["id"]
        for s in silences
        if _in_force(s, CREATED_BY) and tuple(map(_named(s).get, ("alertname", "host", "bot"))) in wanted
    )


def rollout_silence(host: str, now: str, minutes: float, tag: str) -> dict[str, Any]:
    """The silence of `host`'s rollout by the run `tag` names: the alerts a restart of its bots raises
    (`ROLLOUT_ALERTS`, every bot of the host), from `now` for at most `minutes`, the bound should the run die
    (or lose the host) before it expires it."""
    minutes = float(minutes)
    if minutes <= 0:
        raise ValueError(f"gridbot_rollout_silence_minutes must be positive, got {minutes!r}")
    start, end = _window(now, minutes)
    return {
        "matchers": [_matcher("alertname", "|".join(ROLLOUT_ALERTS), regex=True), _matcher("host", host)],
        "startsAt": start,
        "endsAt": end,
        "createdBy": ROLLOUT_BY,
        "comment": _rollout_comment(host, tag),
    }


def _rollout_comment(host: str, tag: str) -> str:
    return f"gridbot rolling out on {host} (run {tag})"


def rollout_silences_to_expire(silences: Iterable[Mapping[str, Any]], host: str, tag: str) -> list[str]:
    """The ids of the silences of `host` the rollout run `tag` made that are still in force: not another
    run's (one that holds the host's change lock while this one, refused it, ends)."""
    comment = _rollout_comment(host, tag)
    return sorted(
        s["id"]
        for s in silences
        if _in_force(s, ROLLOUT_BY) and _named(s).get("host") == host and s.get("comment") == comment
    )


def answers_refused(results: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The uri results (registered, `failed_when: false`) of calls Alertmanager did not answer with 200: no
    answer at all (not installed, not running) or an error; a skipped call is none of them."""
    return [r for r in results if not r.get("skipped") and r.get("status") != 200]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "monitoring_halt_silences": halt_silences,
            "monitoring_halt_silences_to_expire": halt_silences_to_expire,
            "monitoring_rollout_silence": rollout_silence,
            "monitoring_rollout_silences_to_expire": rollout_silences_to_expire,
            "monitoring_silence_answers_refused": answers_refused,
        }
