"""The fleet status table's rows, computed in Python (tested on the controller: tools/tests), not in Jinja.

`fleet_rows(hosts, now, metrics)` turns what playbooks/status.yml collected per host into one flat row each,
with what the monitoring host's VictoriaMetrics holds (files/fleet_metrics.py; empty without one): the alerts
firing for each host, and for a host that did not answer, its last scraped figures and how old they are;
`fleet_table(rows)` prints them as two aligned tables (the bot, then the host). The rows as they are
(`make status FORMAT=json`) are the machine-readable form.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

NA = "n/a"

BOT_COLUMNS = [
    ("HOST", "host"), ("MODEL", "model"), ("IMAGE", "image"), ("ID", "image_id"), ("HEALTH", "health"),
    ("UPTIME", "uptime"), ("MEMORY", "memory"), ("MODE", "mode"), ("EQUITY", "equity"),
    ("PNL", "realized_pnl"), ("TRIPS", "round_trips"), ("OPEN", "open_orders"), ("LAST FILL", "last_fill"),
    ("API ERR", "api_errors"), ("STATE", "state"),
]  # fmt: skip
HOST_COLUMNS = [
    ("HOST", "host"), ("SOC", "soc_temp"), ("THROTTLED", "throttled"), ("MEM USED", "mem"),
    ("SWAP USED", "swap"), ("OOM KILLS", "oom_kills"), ("ROOTFS", "rootfs"), ("REBOOT", "reboot"),
    ("ALERTS", "alerts"),
]  # fmt: skip


def duration(seconds: float | None) -> str:
    """0d03h07m; '-' when unknown."""
    if seconds is None or seconds < 0:
        return "-"
    s = int(seconds)
    return f"{s // 86400}d{s % 86400 // 3600:02d}h{s % 3600 // 60:02d}m"


def _started(state: dict[str, Any]) -> datetime | None:
    """Docker's StartedAt: UTC with nanoseconds, which datetime cannot parse whole."""
    stamp = str(state.get("StartedAt") or "")[:19]
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _json_object(stdout: str | dict[str, Any]) -> dict[str, Any]:
    """A command's JSON answer; {} for none, an error text or anything but an object."""
    if isinstance(stdout, dict):
        return stdout
    try:
        value = json.loads(stdout or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _money(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else "-"


def _state(bot: dict[str, Any]) -> str:
    if not bot:
        return "-"
    if bot.get("halted"):
        return f"halted: {bot['halted']}"
    if bot.get("breaker") == "open":
        return "breaker open"
    return "trading"


def _seen(scraped: dict[str, Any], at: datetime) -> str:
    """A host that did not answer: when the monitoring host last scraped its bot (or, without one, itself)."""
    seen = scraped.get("seen") or {}
    last = seen.get("bot") or seen.get("node")
    age = duration(at.timestamp() - last) if isinstance(last, int | float) else "-"
    halted = (scraped.get("bot") or {}).get("halted")
    return f"unreachable: last scraped {age} ago" + (f"; halted: {halted}" if halted else "")


def _reboot(hw: dict[str, Any]) -> str:
    """'no', or the packages that wait for one (a kernel installed by unattended-upgrades): the reboot is the
    operator's, one host at a time."""
    if "reboot_pending" not in hw:
        return NA
    pending = hw["reboot_pending"]
    if pending is None:
        return "no"
    return f"pending: {', '.join(pending)}" if pending else "pending"


def fleet_rows(
    hosts: list[dict[str, Any]], now: str, metrics: str | dict[str, Any] = ""
) -> list[dict[str, Any]]:
    """One row per host from {host, model, container (docker_container_info's result), memory (docker stats'
    MemUsage), bot (`gridbot status` stdout), health (host_health.py's stdout)}; `now` in ISO 8601 UTC;
    `metrics` fleet_metrics.py's stdout, empty when the inventory has no monitoring host (or it did not
    answer)."""
    at = datetime.fromisoformat(now.replace("Z", "+00:00"))
    if at.tzinfo is None:  # Ansible's now(utc=true) is naive
        at = at.replace(tzinfo=UTC)
    held = _json_object(metrics or "")
    rows = []
    for h in hosts:
        info = h.get("container") or {}
        c = info.get("container") or {}
        state = c.get("State") or {}
        running = bool(info.get("exists") and state.get("Running"))
        bot = _json_object(h.get("bot") or "") if running else {}
        hw = _json_object(h.get("health") or "")
        scraped = held.get(h["host"]) or {}
        # No answer over SSH (a dead Pi, a cut network; Ansible records {"unreachable": true, ...}): the
        # figures it last sent the monitoring host.
        gone = (not info or bool(info.get("unreachable"))) and not hw and bool(scraped)
        if gone:
            bot, hw = scraped.get("bot") or {}, scraped.get("health") or {}
        started = _started(state)
        fill_age = bot.get("last_fill_age_s")
        temp = hw.get("soc_temp_c")
        row = {
            "host": h["host"],
            "model": h.get("model") or "-",
            "image": "-" if gone else
                     c.get("Config", {}).get("Image", "no gridbot container") if info.get("exists") else
                     "no gridbot container",
            "image_id": str(c.get("Image", ""))[7:19] or "-",
            "health": (state.get("Health", {}).get("Status", "none") if running else state.get("Status", "-"))
                      if info.get("exists") else "-",
            "uptime": duration((at - started).total_seconds()) if running and started else "-",
            "memory": (h.get("memory") or "-").replace(" ", "") if running else "-",
            "mode": bot.get("mode", "-"),
            "equity": _money(bot.get("end_equity", bot.get("equity"))),
            "realized_pnl": _money(bot.get("realized_pnl")),
            "round_trips": bot.get("round_trips", "-"),
            "open_orders": bot.get("open_orders", "-"),
            "last_fill": duration(fill_age) if isinstance(fill_age, int | float) else "-",
            "api_errors": bot.get("api_errors", "-"),
            "state": _seen(scraped, at) if gone else _state(bot),
            "soc_temp": f"{temp:.1f}C" if isinstance(temp, int | float) else NA,
            "throttled": hw.get("throttled") or NA,
            "mem": f"{hw['mem_used_mib']}/{hw['mem_total_mib']}MiB" if "mem_total_mib" in hw else NA,
            "swap": f"{hw['swap_used_mib']}/{hw['swap_total_mib']}MiB" if "swap_total_mib" in hw else NA,
            "oom_kills": hw["oom_kills"] if hw.get("oom_kills") is not None else NA,
            "rootfs": f"{hw['rootfs_used_pct']:.0f}%" if "rootfs_used_pct" in hw else NA,
            "reboot": _reboot(hw),
            "alerts": ", ".join(scraped.get("alerts") or []) or "-" if held else NA,
        }  # fmt: skip
        rows.append(row)
    return rows


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> list[str]:
    cells = [[title for title, _ in columns]] + [[str(r[key]) for _, key in columns] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in cells]


def fleet_table(rows: list[dict[str, Any]]) -> str:
    return "\n".join([*_table(rows, BOT_COLUMNS), "", *_table(rows, HOST_COLUMNS)])


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"fleet_rows": fleet_rows, "fleet_table": fleet_table}
