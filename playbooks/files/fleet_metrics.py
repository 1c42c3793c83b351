#!/usr/bin/env python3
"""The fleet as the monitoring host's VictoriaMetrics holds it, for playbooks/status.yml: per host (the scrape
targets' `host` label) each bot's figures (by the `bot` label; a series from before it: `default`) in the
shape of `gridbot status`, its own in the shape of host_health.py, when each was last scraped and the alerts
firing for the host and for each bot, as one JSON object.

The status table reads each host itself over SSH; these are what it shows for a host that does not answer (a
dead Pi: its last figures, and how old they are), and the alerts column for all. Each figure is the newest
sample within WINDOW (MetricsQL's last_over_time), so a host gone an hour still has its last ones.

Stdlib only, read-only. Usage: fleet_metrics.py URL [WINDOW]   (URL: VictoriaMetrics, e.g.
http://127.0.0.1:8428; WINDOW: 1d)
"""

from __future__ import annotations

import json
import sys
import urllib.parse
import urllib.request
from typing import Any

MIB = 2**20
# What the row needs, one instant query each: (part of the host's report, key, MetricsQL with {w} for the
# window). The parts `bot` and `health` take the shapes of `gridbot status` and host_health.py.
QUERIES = [
    ("bot", "end_equity", "last_over_time(gridbot_equity_quote[{w}])"),
    ("bot", "realized_pnl", "last_over_time(gridbot_realized_pnl_quote[{w}])"),
    ("bot", "round_trips", "last_over_time(gridbot_round_trips_total[{w}])"),
    ("bot", "open_orders", "sum by (host, bot) (last_over_time(gridbot_open_orders[{w}]))"),
    ("bot", "api_errors", "sum by (host, bot) (last_over_time(gridbot_api_errors_total[{w}]))"),
    ("bot", "breaker_open", "last_over_time(gridbot_breaker_open[{w}])"),
    ("health", "soc_temp_c", "max by (host) (last_over_time(node_thermal_zone_temp[{w}]))"),
    ("health", "mem_total_mib", f"last_over_time(node_memory_MemTotal_bytes[{{w}}]) / {MIB}"),
    ("health", "mem_used_mib", "(last_over_time(node_memory_MemTotal_bytes[{w}])"
                               f" - last_over_time(node_memory_MemAvailable_bytes[{{w}}])) / {MIB}"),
    ("health", "swap_total_mib", f"last_over_time(node_memory_SwapTotal_bytes[{{w}}]) / {MIB}"),
    ("health", "swap_used_mib", "(last_over_time(node_memory_SwapTotal_bytes[{w}])"
                                f" - last_over_time(node_memory_SwapFree_bytes[{{w}}])) / {MIB}"),
    ("health", "oom_kills", "last_over_time(node_vmstat_oom_kill[{w}])"),
    ("health", "rootfs_used_pct",
     '100 * (1 - last_over_time(node_filesystem_avail_bytes{{mountpoint="/"}}[{w}])'
     ' / last_over_time(node_filesystem_size_bytes{{mountpoint="/"}}[{w}]))'),
    ("health", "reboot_required", "last_over_time(pifleet_reboot_required[{w}])"),
    ("seen", "bots", "tlast_over_time(gridbot_equity_quote[{w}])"),
    ("seen", "node", "tlast_over_time(node_time_seconds[{w}])"),
]  # fmt: skip
INTEGERS = {"round_trips", "open_orders", "api_errors", "mem_total_mib", "mem_used_mib", "swap_total_mib",
            "swap_used_mib", "oom_kills"}  # fmt: skip
# The halt's reason: its series is there only while the bot is halted (a resume deletes it), so the reasons
# scraped with the bot's last figures, none of an earlier halt of the window.
REASONS = "tlast_over_time(gridbot_halt_reason[{w}])"
# Label-valued: the firmware's flags set now; the alerts that fire (a bot's when labelled with one).
THROTTLED = 'last_over_time(pifleet_throttled{{when="now"}}[{w}]) == 1'
ALERTS = 'ALERTS{alertstate="firing"}'
# A bot series scraped before bots had names.
DEFAULT = "default"


def query(url: str, expr: str) -> list[dict[str, Any]]:
    """An instant query's series."""
    request = f"{url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(request, timeout=20) as r:
        answer = json.load(r)
    if answer.get("status") != "success":
        raise RuntimeError(f"{expr}: {answer.get('error', answer)}")
    return list(answer["data"]["result"])


def fleet(url: str, window: str) -> dict[str, Any]:
    hosts: dict[str, dict[str, Any]] = {}

    def of(series: dict[str, Any]) -> dict[str, Any] | None:
        name = series["metric"].get("host")
        if not name:
            return None
        return hosts.setdefault(name, {"bots": {}, "health": {}, "seen": {"bots": {}}, "throttled": [],
                                       "alerts": [], "bot_alerts": {}})  # fmt: skip

    def bot(series: dict[str, Any]) -> str:
        return str(series["metric"].get("bot") or DEFAULT)

    for part, key, expr in QUERIES:
        for series in query(url, expr.format(w=window)):
            report = of(series)
            if report is None:
                continue
            value = float(series["value"][1])
            value = round(value) if key in INTEGERS else round(value, 2)
            if part == "bot":
                report["bots"].setdefault(bot(series), {})[key] = value
            elif key == "bots":
                report["seen"]["bots"][bot(series)] = value
            else:
                report[part][key] = value
    for series in query(url, THROTTLED.format(w=window)):
        if (report := of(series)) is not None:
            report["throttled"] = sorted({*report["throttled"], series["metric"].get("flag", "")})
    for series in query(url, ALERTS):
        if (report := of(series)) is not None:
            name = series["metric"].get("alertname", "")
            if "bot" in series["metric"]:
                report["bot_alerts"][bot(series)] = sorted({*report["bot_alerts"].get(bot(series), []), name})
            else:
                report["alerts"] = sorted({*report["alerts"], name})
    halted: dict[tuple[str, str], list[str]] = {}
    for series in query(url, REASONS.format(w=window)):
        name = series["metric"].get("host", "")
        last = (hosts.get(name) or {}).get("seen", {}).get("bots", {}).get(bot(series))
        if last is not None and abs(float(series["value"][1]) - last) < 1:  # the same scrape's
            halted.setdefault((name, bot(series)), []).append(series["metric"].get("reason", ""))
    for name, report in hosts.items():
        for b, figures in report["bots"].items():
            figures["halted"] = ", ".join(sorted(halted.get((name, b), [])))
            figures["breaker"] = "open" if figures.pop("breaker_open", 0) == 1 else "closed"
        health = report["health"]
        if "reboot_required" in health:
            health["reboot_pending"] = [] if health.pop("reboot_required") == 1 else None
        if report["throttled"]:
            health["throttled"] = ",".join(report["throttled"])
        del report["throttled"]
    return hosts


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(fleet(argv[0], argv[1] if len(argv) > 1 else "1d")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
