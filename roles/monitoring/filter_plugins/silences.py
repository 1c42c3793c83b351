"""Alertmanager silences for what an operator does on purpose (tested against Debian's Alertmanager on the
controller: tools/tests/test_notifications.py). playbooks/halt.yml silences the BotHalted of each bot it
halts, so a deliberate halt does not page as an emergency; playbooks/resume.yml expires those silences as it
lifts the halts, so the next halt, the bot's own, pages again. Alertmanager's API v2: a silence is a list of
matchers, startsAt, endsAt, createdBy and a comment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

ALERT = "BotHalted"
CREATED_BY = "pifleet playbooks/halt.yml"
STAMP = "%Y-%m-%dT%H:%M:%SZ"


def _matcher(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value, "isRegex": False, "isEqual": True}


def halt_silences(
    bots: Iterable[Mapping[str, str]], reason: str, now: str, hours: float
) -> list[dict[str, Any]]:
    """One silence per bot ({host, bot}): its BotHalted from `now` (UTC, %Y-%m-%dT%H:%M:%SZ) for `hours`.
    It starts a minute earlier: a controller's clock ahead of the monitoring host's would leave it pending
    (Alertmanager moves a start in the past to its now)."""
    hours = float(hours)
    if hours <= 0:
        raise ValueError(f"gridbot_halt_silence_hours must be positive, got {hours!r}")
    start = datetime.strptime(now, STAMP).replace(tzinfo=UTC) - timedelta(minutes=1)
    end = start + timedelta(minutes=1, hours=hours)
    return [
        {
            "matchers": [
                _matcher("alertname", ALERT),
                _matcher("host", b["host"]),
                _matcher("bot", b["bot"]),
            ],
            "startsAt": start.strftime(STAMP),
            "endsAt": end.strftime(STAMP),
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
    for s in silences:
        if s.get("createdBy") != CREATED_BY or s.get("status", {}).get("state") == "expired":
            continue
        named = {m["name"]: m["value"] for m in s.get("matchers", []) if not m.get("isRegex")}
        if named.get("alertname") == ALERT and (named.get("host"), named.get("bot")) in wanted:
            out.append(s["id"])
    return sorted(out)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "monitoring_halt_silences": halt_silences,
            "monitoring_halt_silences_to_expire": halt_silences_to_expire,
        }
