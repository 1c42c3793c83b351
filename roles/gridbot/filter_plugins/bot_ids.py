"""Each host's bot id (the bot's `run.bot_id`, the prefix of its client order ids), unit-tested on the
controller (tools/tests/test_bot_ids.py).

Two bots on one exchange account under one id would take each other's orders for their own, and the fleet's
example inventory puts one API key in its group variables: so every host's bot gets an id of its own, made
from its inventory name (the name of the host it replaces, when it is told `gridbot_restore_from`: a
replacement is that bot). An id set in the inventory (`run.bot_id` in gridbot_config, gridbot_host_config or
the override) wins. The bot takes 1-12 letters and digits.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

MAX_LEN = 12
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_CONFIGS = ("gridbot_config_override", "gridbot_host_config", "gridbot_config")


def bot_id(name: str) -> str:
    """The host's name as a bot id: its letters and digits, lower case. A longer name keeps its first 4 and
    last 3 (a fleet's names differ most at their ends) around 5 base-36 characters of its digest, so that
    two long names sharing both ends still differ (1 chance in 60 million of a clash, which the preflight
    refuses anyway)."""
    plain = re.sub(r"[^a-z0-9]", "", str(name).lower())
    if not plain:
        raise ValueError(f"host name {name!r} has no letter or digit to make a bot id of: set run.bot_id")
    if len(plain) <= MAX_LEN:
        return plain
    n = int.from_bytes(hashlib.sha256(str(name).encode()).digest()[:8], "big")
    digest = "".join(_BASE36[(n // 36**k) % 36] for k in range(5))
    return plain[:4] + digest + plain[-3:]


def _set_id(hostvars: Mapping[str, Any]) -> str | None:
    for name in _CONFIGS:
        config = hostvars.get(name) or {}
        run = config.get("run") if isinstance(config, Mapping) else None
        if isinstance(run, Mapping) and run.get("bot_id"):
            return str(run["bot_id"])
    return None


def effective_bot_id(hostvars: Mapping[str, Any], name: str) -> str:
    """The id a host's bot runs under: the inventory's, else made from its name (or its predecessor's)."""
    return _set_id(hostvars) or bot_id(hostvars.get("gridbot_restore_from") or name)


def bot_id_clashes(all_hostvars: Mapping[str, Mapping[str, Any]], hosts: Iterable[str], me: str) -> list[str]:
    """The other hosts of `hosts` whose bot runs under the same id as `me`'s."""
    mine = effective_bot_id(all_hostvars[me], me)
    return sorted(h for h in hosts if h != me and effective_bot_id(all_hostvars[h], h) == mine)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "gridbot_bot_id": bot_id,
            "gridbot_bot_id_clashes": bot_id_clashes,
        }
