"""What the monitoring host scrapes (unit-tested on the controller: tools/tests/test_scrape_targets.py):
each host of the scrape group, as the monitoring host reaches it (itself over loopback, the others by the
address Ansible uses, or monitoring_target_address), its node exporter, and each of its bots' metrics port,
labelled with the bot's name.

A host's bots are the gridbot role's: the names of gridbot_bots and gridbot_host_bots (merged by name, the
host's port over the group's), or the single-bot form's one bot, `default`, on gridbot_metrics_host_port. What
a host leaves unset is the roles' own default (`defaults`, read from their defaults files by the preflight).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

DEFAULT = "default"


def _bots(hv: Mapping[str, Any], port: int) -> list[dict[str, Any]]:
    named: dict[str, Any] = {}
    for field in ("gridbot_bots", "gridbot_host_bots"):
        given = hv.get(field)
        if isinstance(given, Mapping):
            for name, settings in given.items():
                seen = (settings or {}).get("metrics_port") if isinstance(settings, Mapping) else None
                named[name] = seen if seen is not None else named.get(name)
    if not named:
        return [{"name": DEFAULT, "port": port}]
    return [{"name": n, "port": port if n == DEFAULT and p is None else p} for n, p in named.items()]


def scrape_targets(
    hostvars: Mapping[str, Mapping[str, Any]], hosts: Iterable[str], me: str, defaults: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """[{host, address, bot (its bots are published), bot_bound, bots: [{name, port}], node, node_port}]."""
    out = []
    for name in hosts:
        hv = hostvars[name]

        def get(key: str, hv: Mapping[str, Any] = hv) -> Any:
            return hv.get(key, defaults[key])

        address = (
            "127.0.0.1" if name == me else hv.get("monitoring_target_address", hv.get("ansible_host", name))
        )
        out.append({
            "host": name,
            "address": address,
            "bot": bool(get("gridbot_metrics_publish")),
            "bot_bound": get("gridbot_metrics_host_address"),
            "bots": _bots(hv, int(get("gridbot_metrics_host_port"))),
            "node": bool(hv.get("pi_host_node_exporter_enabled", True)),
            "node_port": int(get("pi_host_node_exporter_port")),
        })  # fmt: skip
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"monitoring_scrape_targets": scrape_targets}
