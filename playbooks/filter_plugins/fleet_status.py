"""The fleet status table's rows, computed in Python (tested on the controller: tools/tests), not in Jinja.

`status_collected(hosts, hostvars)` gathers what playbooks/status.yml registered on each host, and
`fleet_rows(hosts, now, metrics)` turns it into one flat row per bot
(a host without a bot: one row that says so), each with its host's figures, and with what the monitoring
host's VictoriaMetrics holds (files/fleet_metrics.py; empty without one): the alerts firing for each host and
each bot, and for a host that did not answer, its bots' last scraped figures and how old they are;
`fleet_table(rows)` prints them as two aligned tables (the bots, then the hosts, one line each). The rows as
they are (`make status FORMAT=json`) are the machine-readable form.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

NA = "n/a"
MODELS = ("pi4", "pi5")  # the inventory's groups that name a host's board
DEFAULT = "default"

BOT_COLUMNS = [
    ("HOST", "host"), ("BOT", "bot"), ("MODEL", "model"), ("IMAGE", "image"), ("ID", "image_id"),
    ("HEALTH", "health"), ("UPTIME", "uptime"), ("MEMORY", "memory"), ("MODE", "mode"), ("EQUITY", "equity"),
    ("PNL", "realized_pnl"), ("TRIPS", "round_trips"), ("OPEN", "open_orders"), ("LAST FILL", "last_fill"),
    ("API ERR", "api_errors"), ("STATE", "state"), ("ALERTS", "bot_alerts"),
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


def _started(state: Mapping[str, Any]) -> datetime | None:
    """Docker's StartedAt: UTC with nanoseconds, which datetime cannot parse whole."""
    stamp = str(state.get("StartedAt") or "")[:19]
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _json(text: object) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text or "null")
    except ValueError:
        return None


def _object(text: object) -> dict[str, Any]:
    """A command's JSON answer; {} for none, an error text or anything but an object."""
    value = _json(text)
    return value if isinstance(value, dict) else {}


def _money(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else "-"


def _state(bot: Mapping[str, Any]) -> str:
    if not bot:
        return "-"
    if bot.get("halted"):
        return f"halted: {bot['halted']}"
    if bot.get("breaker") == "open":
        return "breaker open"
    return "trading"


def _seen(scraped: Mapping[str, Any], bot: str, figures: Mapping[str, Any], at: datetime) -> str:
    """A bot of a host that did not answer: when the monitoring host last scraped it (or, without one, its
    host)."""
    seen = scraped.get("seen") or {}
    last = (seen.get("bots") or {}).get(bot) or seen.get("node")
    age = duration(at.timestamp() - last) if isinstance(last, int | float) else "-"
    halted = figures.get("halted")
    return f"unreachable: last scraped {age} ago" + (f"; halted: {halted}" if halted else "")


def _reboot(hw: Mapping[str, Any]) -> str:
    """'no', or the packages that wait for one (a kernel installed by unattended-upgrades): the reboot is the
    operator's, one host at a time."""
    if "reboot_pending" not in hw:
        return NA
    pending = hw["reboot_pending"]
    if pending is None:
        return "no"
    return f"pending: {', '.join(pending)}" if pending else "pending"


def _host_columns(hw: Mapping[str, Any]) -> dict[str, Any]:
    temp = hw.get("soc_temp_c")
    return {
        "soc_temp": f"{temp:.1f}C" if isinstance(temp, int | float) else NA,
        "throttled": hw.get("throttled") or NA,
        "mem": f"{hw['mem_used_mib']}/{hw['mem_total_mib']}MiB" if "mem_total_mib" in hw else NA,
        "swap": f"{hw['swap_used_mib']}/{hw['swap_total_mib']}MiB" if "swap_total_mib" in hw else NA,
        "oom_kills": hw["oom_kills"] if hw.get("oom_kills") is not None else NA,
        "rootfs": f"{hw['rootfs_used_pct']:.0f}%" if "rootfs_used_pct" in hw else NA,
        "reboot": _reboot(hw),
    }


def _bot_columns(bot: Mapping[str, Any]) -> dict[str, Any]:
    fill_age = bot.get("last_fill_age_s")
    return {
        "mode": bot.get("mode", "-"),
        "equity": _money(bot.get("end_equity", bot.get("equity"))),
        "realized_pnl": _money(bot.get("realized_pnl")),
        "round_trips": bot.get("round_trips", "-"),
        "open_orders": bot.get("open_orders", "-"),
        "last_fill": duration(fill_age) if isinstance(fill_age, int | float) else "-",
        "api_errors": bot.get("api_errors", "-"),
    }


def _engine_columns(c: Mapping[str, Any], memory: str, at: datetime) -> dict[str, Any]:
    """A container as `docker inspect` and `docker stats` show it; dashes for none."""
    state = c.get("State") or {}
    running = bool(state.get("Running"))
    started = _started(state)
    return {
        "image": c.get("Config", {}).get("Image", "-") if c else "-",
        "image_id": str(c.get("Image", ""))[7:19] or "-",
        "health": (state.get("Health", {}).get("Status", "none") if running else state.get("Status", "-"))
                  if c else "-",
        "uptime": duration((at - started).total_seconds()) if running and started else "-",
        "memory": (memory or "-").replace(" ", "") if running else "-",
    }  # fmt: skip


def _memory(stats: object) -> dict[str, str]:
    """`docker stats --format '{{.Name}}\\t{{.MemUsage}}'`'s lines by container."""
    out = {}
    for line in str(stats or "").splitlines():
        name, _, usage = line.partition("\t")
        if usage:
            out[name.strip()] = usage.strip()
    return out


def _listed(names: list[str] | None, held: bool) -> str:
    """An alerts cell: n/a without a monitoring host, '-' for none."""
    return ", ".join(names or []) or "-" if held else NA


def _row(host: dict[str, Any], bot: str, engine: dict[str, Any], figures: Mapping[str, Any], state: str,
         alerts: str) -> dict[str, Any]:  # fmt: skip
    return {**host, "bot": bot, **engine, **_bot_columns(figures), "state": state, "bot_alerts": alerts}


def _host_rows(h: Mapping[str, Any], scraped: Mapping[str, Any], held: bool, at: datetime) -> list[dict]:
    hw = _object(h.get("health"))
    ps = h.get("ps") or {}
    # No answer over SSH (a dead Pi, a cut network; Ansible records {"unreachable": true, ...}): the figures
    # its bots last sent the monitoring host.
    gone = (not ps or bool(ps.get("unreachable"))) and not hw and bool(scraped)
    if gone:
        hw = scraped.get("health") or {}
    host = {"host": h["host"], "model": h.get("model") or "-", **_host_columns(hw),
            "alerts": _listed(scraped.get("alerts"), held)}  # fmt: skip
    bot_alerts = scraped.get("bot_alerts") or {}
    none = _engine_columns({}, "", at)
    if gone:
        last = sorted((scraped.get("bots") or {}).items(), key=lambda b: (b[0] != DEFAULT, b[0]))
        return [
            _row(host, b, none, f, _seen(scraped, b, f, at), _listed(bot_alerts.get(b), held))
            for b, f in last
        ] or [_row(host, "-", none, {}, _seen(scraped, "", {}, at), _listed([], held))]
    listed = _json(h.get("inspect"))
    inspected = {str(c.get("Name", "")).lstrip("/"): c for c in listed or [] if isinstance(c, dict)}
    memory = _memory(h.get("stats"))
    said = {r["__bot"]["bot"]: r.get("stdout", "") for r in h.get("status") or [] if "__bot" in r}
    rows = []
    for b in h.get("bots") or []:
        c = inspected.get(b["container"], {})
        figures = _object(said.get(b["bot"])) if (c.get("State") or {}).get("Running") else {}
        engine = _engine_columns(c, memory.get(b["container"], ""), at)
        rows.append(
            _row(host, b["bot"], engine, figures, _state(figures), _listed(bot_alerts.get(b["bot"]), held))
        )
    return rows or [_row(host, "-", {**none, "image": "no gridbot container"}, {}, "-", _listed([], held))]


def fleet_rows(
    hosts: list[dict[str, Any]], now: str, metrics: str | dict[str, Any] = ""
) -> list[dict[str, Any]]:
    """One row per bot from each host's {host, model, ps (the `docker ps` result: unreachable when the host
    did not answer), bots ([{bot, container}]: fleet_bots.host_bots), inspect (`docker inspect` of them),
    stats (`docker stats`' Name and MemUsage lines), status (the loop's results of `gridbot status`, each item
    {bot, container} as __bot), health
    (host_health.py's stdout)}; `now` in ISO 8601 UTC; `metrics` fleet_metrics.py's stdout, empty when the
    inventory has no monitoring host (or it did not answer)."""
    at = datetime.fromisoformat(now.replace("Z", "+00:00"))
    if at.tzinfo is None:  # Ansible's now(utc=true) is naive
        at = at.replace(tzinfo=UTC)
    held = _object(metrics or "")
    return [row for h in hosts for row in _host_rows(h, held.get(h["host"]) or {}, bool(held), at)]


def status_collected(hosts: list[str], hostvars: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What status.yml's first play registered on each host, as fleet_rows takes it; a host that did not
    answer has none of it (its row says so, or shows what the monitoring host last saw)."""
    out = []
    for name in hosts:
        hv = hostvars[name]
        models = [g for g in hv.get("group_names") or [] if g in MODELS]
        out.append({
            "host": name,
            "model": models[0] if models else "-",
            "ps": hv.get("__status_ps") or {},
            "bots": hv.get("__status_found") or [],
            "inspect": (hv.get("__status_inspect") or {}).get("stdout", ""),
            "stats": (hv.get("__status_stats") or {}).get("stdout", ""),
            "status": (hv.get("__status_bot") or {}).get("results", []),
            "health": (hv.get("__status_health") or {}).get("stdout", ""),
        })  # fmt: skip
    return out


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> list[str]:
    cells = [[title for title, _ in columns]] + [[str(r[key]) for _, key in columns] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in cells]


def fleet_table(rows: list[dict[str, Any]]) -> str:
    """The bots' table, then the hosts' (a host's first row for each)."""
    first: dict[str, dict[str, Any]] = {}
    for r in rows:
        first.setdefault(r["host"], r)
    return "\n".join([*_table(rows, BOT_COLUMNS), "", *_table(list(first.values()), HOST_COLUMNS)])


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"status_collected": status_collected, "fleet_rows": fleet_rows, "fleet_table": fleet_table}
