"""Which bots a fleet playbook acts on, on each host (tested on the controller:
tools/tests/test_fleet_bots.py).

A host's bots are the containers its engine runs for the gridbot role (its compose service `gridbot`):
`gridbot`, the bot `default`, and `gridbot-<name>` for each other. They are read from the host, not from the
inventory, so that halt.yml also halts a bot the inventory no longer names. `gridbot_only` (-e) aims a run at
one bot by name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

DEFAULT = "default"
_CONTAINER = re.compile(r"^gridbot(?:-([a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?))?$")


def host_bots(containers: Iterable[str], only: str = "") -> list[dict[str, str]]:
    """{bot, container} for each of the role's containers, `default` first; only `only`'s when it names
    one."""
    found = []
    for container in containers:
        m = _CONTAINER.match(container.strip())
        if m is not None:
            found.append({"bot": m[1] or DEFAULT, "container": container.strip()})
    found.sort(key=lambda b: (b["bot"] != DEFAULT, b["bot"]))
    return [b for b in found if not only or b["bot"] == only]


def bot_states(results: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each bot's state from its `gridbot status` (a loop's results, its item {bot, container}): {bot,
    container, halted, reason, open_orders}."""
    out = []
    for r in results:
        try:
            said = json.loads(r.get("stdout") or "{}")
        except ValueError:
            said = {}
        said = said if isinstance(said, dict) else {}
        reason = str(said.get("halted") or "")
        out.append({**r["__bot"], "halted": bool(reason), "reason": reason,
                    "open_orders": int(said.get("open_orders") or 0)})  # fmt: skip
    return out


def unanswered(results: Iterable[Mapping[str, Any]]) -> list[str]:
    """'bot (rc N): what it said' for each bot whose `gridbot status` failed."""
    out = []
    for r in results:
        if r.get("rc") != 0:
            said = (r.get("stderr") or r.get("stdout") or "").strip()[:300]
            out.append(f"{r['__bot']['bot']} (rc {r.get('rc')}): {said}")
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"host_bots": host_bots, "bot_states": bot_states, "bots_unanswered": unanswered}
