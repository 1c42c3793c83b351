"""Alertmanager silences for what an operator does on purpose (tested against Debian's Alertmanager on the
controller: tools/tests/test_notifications.py). playbooks/halt.yml silences the BotHalted of each bot it
halts, so a deliberate halt does not page as an emergency; playbooks/resume.yml expires those silences as it
lifts the halts, so the next halt, the bot's own, pages again. playbooks/rollout.yml silences what restarting
a batch's bots makes them say (ROLLOUT_ALERTS) for the batch's hosts while the batch runs, and expires those
silences when it ends: a bot the batch left broken pages then. Alertmanager's API v2: a silence is a list of
matchers, startsAt, endsAt, createdBy and a comment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

ALERT = "BotHalted"
CREATED_BY = "pifleet playbooks/halt.yml"
# A bot restarted, gated and soaked, or rolled back to its known-good deployment, goes through these; a
# release that makes it halt itself (a refused key) is the gate's to roll back.
ROLLOUT_ALERTS = ("BotDown", "BotUnhealthy", "BotRestarting", "BotNoCandle", "BotHalted", "BotKeyRejected")
ROLLOUT_BY = "pifleet playbooks/rollout.yml"
STAMP = "%Y-%m-%dT%H:%M:%SZ"


def _matcher(name: str, value: str, regex: bool = False) -> dict[str, Any]:
    return {"name": name, "value": value, "isRegex": regex, "isEqual": True}


def _window(now: str, length: timedelta) -> tuple[str, str]:
    """From a minute before `now` (a controller's clock ahead of the monitoring host's would leave a silence
    pending: Alertmanager moves a start in the past to its now) to `length` after `now`."""
    start = datetime.strptime(now, STAMP).replace(tzinfo=UTC) - timedelta(minutes=1)
    return start.strftime(STAMP), (start + timedelta(minutes=1) + length).strftime(STAMP)


def halt_silences(
    bots: Iterable[Mapping[str, str]], reason: str, now: str, hours: float
) -> list[dict[str, Any]]:
    """One silence per bot ({host, bot}): its BotHalted from `now` (UTC, %Y-%m-%dT%H:%M:%SZ) for `hours`.
    It starts a minute earlier: a controller's clock ahead of the monitoring host's would leave it pending
    (Alertmanager moves a start in the past to its now)."""
    hours = float(hours)
    if hours <= 0:
        raise ValueError(f"gridbot_halt_silence_hours must be positive, got {hours!r}")
    start, end = _window(now, timedelta(hours=hours))
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
    wanted = {(b["host"], b["bot"]) for b in bots}
    out = []
    for s, named in _in_force(silences, CREATED_BY):
        if named.get("alertname") == ALERT and (named.get("host"), named.get("bot")) in wanted:
            out.append(s["id"])
    return sorted(out)


def rollout_silences(hosts: Iterable[str], now: str, minutes: float) -> list[dict[str, Any]]:
    """One silence per host of a rollout's batch: every bot's ROLLOUT_ALERTS on it, from `now` for `minutes`
    (the bound when the batch never ends: rollout.yml expires them as it does)."""
    minutes = float(minutes)
    if minutes <= 0:
        raise ValueError(f"gridbot_rollout_silence_minutes must be positive, got {minutes!r}")
    start, end = _window(now, timedelta(minutes=minutes))
    return [
        {
            "matchers": [_matcher("alertname", "|".join(ROLLOUT_ALERTS), regex=True), _matcher("host", host)],
            "startsAt": start,
            "endsAt": end,
            "createdBy": ROLLOUT_BY,
            "comment": "rolling the host's bots out: restarted, gated and soaked, or rolled back",
        }
        for host in hosts
    ]


def rollout_silences_to_expire(silences: Iterable[Mapping[str, Any]], hosts: Iterable[str]) -> list[str]:
    """The ids of the silences rollout.yml made (not an operator's own) still in force for one of `hosts`."""
    wanted = set(hosts)
    return sorted(s["id"] for s, named in _in_force(silences, ROLLOUT_BY) if named.get("host") in wanted)


def _in_force(
    silences: Iterable[Mapping[str, Any]], created_by: str
) -> Iterable[tuple[Mapping[str, Any], dict[str, str]]]:
    """Each silence `created_by` made that has not expired, with its plain (non-regex) matchers by name."""
    for s in silences:
        if s.get("createdBy") == created_by and s.get("status", {}).get("state") != "expired":
            yield s, {m["name"]: m["value"] for m in s.get("matchers", []) if not m.get("isRegex")}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "monitoring_halt_silences": halt_silences,
            "monitoring_halt_silences_to_expire": halt_silences_to_expire,
            "monitoring_rollout_silences": rollout_silences,
            "monitoring_rollout_silences_to_expire": rollout_silences_to_expire,
        }
