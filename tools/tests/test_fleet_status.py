"""The fleet status table's logic on the controller: the rows from what status.yml collects, and the host
report (playbooks/files/host_health.py run as a process against a fake /sys and /proc)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import local_victoria
import pytest
from modules import load_module

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
fleet_status = load_module(PLAYBOOKS / "filter_plugins" / "fleet_status.py", "fleet_status")

NOW = "2026-11-23T10:00:00Z"
IMAGE_ID = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


def container(name="gridbot", running=True, health="healthy", started="2026-11-22T06:52:30.123456789Z",
              status="running"):  # fmt: skip
    """One container as `docker inspect` shows it."""
    return {
        "Name": f"/{name}",
        "Image": IMAGE_ID,
        "Config": {"Image": "gridbot:0.1.1-arm64-0123456789ab"},
        "State": {"Running": running, "Status": status, "StartedAt": started, "Health": {"Status": health}},
    }


BOT = {"mode": "live", "end_equity": 1012.345, "realized_pnl": 3.5, "round_trips": 7, "open_orders": 11,
       "last_fill_age_s": 3725.0, "api_errors": 2, "breaker": "closed", "halted": ""}  # fmt: skip
HEALTH = {"soc_temp_c": 61.2, "throttled": "0x0", "mem_total_mib": 7820, "mem_used_mib": 910,
          "swap_total_mib": 2047, "swap_used_mib": 0, "oom_kills": 0, "rootfs_used_pct": 41.46,
          "reboot_pending": None}  # fmt: skip


def host(name="pi-a", bots=None, inspect=None, health=None, **over):
    """What status.yml collects on a host: its bots ({name: `gridbot status` stdout}; default: one bot,
    `default`, trading), their containers as inspected (default: each running), `docker stats`, its health."""
    bots = {"default": json.dumps(BOT)} if bots is None else bots
    listed = [{"bot": b, "container": "gridbot" if b == "default" else f"gridbot-{b}"} for b in bots]
    inspected = [container(b["container"]) for b in listed] if inspect is None else inspect
    base = {
        "host": name, "model": "pi5",
        "ps": {"rc": 0, "stdout_lines": [b["container"] for b in listed]},
        "bots": listed,
        "inspect": json.dumps(inspected),
        "stats": "".join(f"{b['container']}\t52.3MiB / 384MiB\n" for b in listed),
        "status": [{"__bot": b, "rc": 0, "stdout": bots[b["bot"]]} for b in listed],
        "health": json.dumps(HEALTH) + "\r\n" if health is None else health,
    }  # fmt: skip
    return {**base, **over}


def test_a_trading_bot_and_its_host_in_one_row():
    (row,) = fleet_status.fleet_rows([host()], NOW)
    assert fleet_status.fleet_rows([host()], "2026-11-23T10:00:00.000001") == [row]  # now(utc=true): naive
    assert row == {
        "host": "pi-a", "bot": "default", "model": "pi5", "image": "gridbot:0.1.1-arm64-0123456789ab",
        "image_id": "0123456789ab", "health": "healthy", "uptime": "1d03h07m", "memory": "52.3MiB/384MiB",
        "mode": "live", "equity": "1012.35", "realized_pnl": "3.50", "round_trips": 7, "open_orders": 11,
        "last_fill": "0d01h02m", "api_errors": 2, "state": "trading", "soc_temp": "61.2C", "throttled": "0x0",
        "mem": "910/7820MiB", "swap": "0/2047MiB", "oom_kills": 0, "rootfs": "41%", "reboot": "no",
        "alerts": "n/a", "bot_alerts": "n/a",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("pending", "shown"),
    [(["linux-image-6.12.47+rpt-rpi-2712"], "pending: linux-image-6.12.47+rpt-rpi-2712"), ([], "pending"),
     (None, "no")],
)  # fmt: skip
def test_a_host_waiting_for_a_reboot_says_so_with_the_packages(pending, shown):
    (row,) = fleet_status.fleet_rows([host(health=json.dumps({**HEALTH, "reboot_pending": pending}))], NOW)
    assert row["reboot"] == shown


@pytest.mark.parametrize(
    ("bot", "state"),
    [({**BOT, "halted": "max drawdown: equity 900"}, "halted: max drawdown: equity 900"),
     ({**BOT, "breaker": "open"}, "breaker open"),
     ({**BOT, "halted": "manual", "breaker": "open"}, "halted: manual")],
)  # fmt: skip
def test_the_state_says_halted_with_the_reason_before_a_breaker(bot, state):
    (row,) = fleet_status.fleet_rows([host(bots={"default": json.dumps(bot)})], NOW)
    assert row["state"] == state


def test_a_stopped_a_missing_and_an_unreadable_bot_show_dashes_not_errors():
    rows = fleet_status.fleet_rows([
        host("stopped", inspect=[container(running=False, status="exited")], bots={"default": ""}),
        host("none", bots={}),
        host("garbled", bots={"default": "Traceback (most recent call last):"}),
        host("vm", health=json.dumps({**HEALTH, "soc_temp_c": None, "throttled": None}), model=None),
        host("no-python", health="/usr/bin/env: 'python3': No such file or directory"),
    ], NOW)  # fmt: skip
    stopped, none, garbled, vm, no_python = rows
    assert (stopped["health"], stopped["uptime"], stopped["memory"], stopped["mode"], stopped["state"]) == (
        "exited", "-", "-", "-", "-")  # fmt: skip
    assert (none["bot"], none["image"], none["health"], none["image_id"]) == (
        "-",
        "no gridbot container",
        "-",
        "-",
    )
    assert (garbled["health"], garbled["mode"], garbled["equity"], garbled["state"]) == (
        "healthy",
        "-",
        "-",
        "-",
    )
    assert (vm["soc_temp"], vm["throttled"], vm["model"]) == ("n/a", "n/a", "-")
    host_keys = ("soc_temp", "throttled", "mem", "swap", "oom_kills", "rootfs", "reboot")
    assert {no_python[k] for k in host_keys} == {"n/a"}


def test_a_host_with_three_bots_has_a_row_for_each_and_one_line_in_the_hosts_table():
    """Each bot its own container, figures and state; the host's figures once. A bot whose container is
    gone from the inspection (removed between the two commands) shows dashes, not another's figures."""
    wide = {**BOT, "end_equity": 500.0, "open_orders": 4}
    narrow = {**BOT, "halted": "manual"}
    pi = host(
        "pi-a", bots={"default": json.dumps(BOT), "wide": json.dumps(wide), "narrow": json.dumps(narrow)}
    )
    pi["stats"] = "gridbot\t52.3MiB / 384MiB\ngridbot-wide\t61MiB / 256MiB\n"
    rows = fleet_status.fleet_rows([pi, host("pi-b")], NOW)
    assert [(r["host"], r["bot"]) for r in rows] == [
        ("pi-a", "default"), ("pi-a", "wide"), ("pi-a", "narrow"), ("pi-b", "default")]  # fmt: skip
    default, wide_row, narrow_row, _ = rows
    assert (wide_row["equity"], wide_row["open_orders"], wide_row["memory"]) == ("500.00", 4, "61MiB/256MiB")
    assert (default["equity"], default["memory"]) == ("1012.35", "52.3MiB/384MiB")
    assert (narrow_row["state"], narrow_row["memory"]) == ("halted: manual", "-")
    bots, hosts = fleet_status.fleet_table(rows).split("\n\n")
    assert len(bots.splitlines()) == 5
    assert [line.split()[0] for line in hosts.splitlines()] == ["HOST", "pi-a", "pi-b"]


def test_the_table_aligns_every_column_under_its_title():
    halted = json.dumps({**BOT, "halted": "x y"})
    rows = fleet_status.fleet_rows([host("pi-a"), host("a-much-longer-name", bots={"default": halted})], NOW)
    bot_lines, host_lines = fleet_status.fleet_table(rows).split("\n\n")
    for lines, columns in ((bot_lines.splitlines(), fleet_status.BOT_COLUMNS),
                           (host_lines.splitlines(), fleet_status.HOST_COLUMNS)):  # fmt: skip
        header = lines[0]
        starts, at = [], 0
        for title, _ in columns:  # in order: MODE is also the start of MODEL
            at = header.index(title, at)
            starts.append(at)
            at += len(title)
        for line, row in zip(lines[1:], rows, strict=True):
            for start, (_, key) in zip(starts, columns, strict=True):
                assert line[start:].startswith(str(row[key])), (line, key)


@pytest.fixture
def victoria_metrics(prom_tools: Path, tmp_path: Path) -> Iterator[str]:
    """A real VictoriaMetrics (Debian's) on loopback, with an empty store."""
    with local_victoria.victoria_metrics(prom_tools / "victoria-metrics", tmp_path / "vm") as vm:
        yield vm.url


def load(url: str, lines: list[str]) -> None:
    """Samples in Prometheus' text format, each with its timestamp (ms), imported and flushed for queries."""
    body = "\n".join(lines).encode() + b"\n"
    with urllib.request.urlopen(
        urllib.request.Request(f"{url}/api/v1/import/prometheus", data=body), timeout=10
    ):
        pass
    with urllib.request.urlopen(f"{url}/internal/force_flush", timeout=10):
        pass


def scraped(host: str, at: float, bot: str = "", **over: str) -> list[str]:
    """One scrape of a host's bot and node exporter, as the monitoring role's targets label them (a bot's
    series without a `bot` label: as scraped before bots had names)."""
    ms = int(at * 1000)
    b = f',bot="{bot}"' if bot else ""
    series = {
        f'gridbot_equity_quote{{job="gridbot",host="{host}"{b}}}': "1012.345",
        f'gridbot_realized_pnl_quote{{job="gridbot",host="{host}"{b}}}': "3.5",
        f'gridbot_round_trips_total{{job="gridbot",host="{host}"{b}}}': "7",
        f'gridbot_open_orders{{job="gridbot",host="{host}"{b},side="buy"}}': "5",
        f'gridbot_open_orders{{job="gridbot",host="{host}"{b},side="sell"}}': "6",
        f'gridbot_api_errors_total{{job="gridbot",host="{host}"{b},error="NetworkError"}}': "1",
        f'gridbot_api_errors_total{{job="gridbot",host="{host}"{b},error="RequestTimeout"}}': "1",
        f'gridbot_breaker_open{{job="gridbot",host="{host}"{b}}}': "0",
        f'node_thermal_zone_temp{{job="node",host="{host}",type="cpu-thermal",zone="0"}}': "61.2",
        f'node_memory_MemTotal_bytes{{job="node",host="{host}"}}': str(7820 * 2**20),
        f'node_memory_MemAvailable_bytes{{job="node",host="{host}"}}': str(6910 * 2**20),
        f'node_memory_SwapTotal_bytes{{job="node",host="{host}"}}': str(2047 * 2**20),
        f'node_memory_SwapFree_bytes{{job="node",host="{host}"}}': str(2047 * 2**20),
        f'node_vmstat_oom_kill{{job="node",host="{host}"}}': "0",
        f'node_filesystem_avail_bytes{{job="node",host="{host}",mountpoint="/"}}': str(59 * 2**30),
        f'node_filesystem_size_bytes{{job="node",host="{host}",mountpoint="/"}}': str(100 * 2**30),
        f'node_time_seconds{{job="node",host="{host}"}}': f"{at:.3f}",
        f'pifleet_reboot_required{{job="node",host="{host}"}}': "0",
        f'pifleet_throttled{{job="node",host="{host}",flag="under_voltage",when="now"}}': "0",
        f'pifleet_throttled{{job="node",host="{host}",flag="under_voltage",when="since_boot"}}': "1",
        **over,
    }
    return [f"{name} {value} {ms}" for name, value in series.items()]


def test_the_monitoring_host_gives_the_alerts_and_a_dead_pis_last_figures(victoria_metrics: str) -> None:
    """fleet_metrics.py run as status.yml runs it on the monitoring host, against a real VictoriaMetrics:
    pi-a (its one bot scraped before bots had names) a minute ago; pi-b, with two bots, last scraped 20
    minutes ago and down since (throttled, a reboot due), its HostDown firing, its bot `wide` halted (an
    earlier halt resumed) with its BotHalted firing; pi-b did not answer over SSH, so its rows are the
    monitoring host's."""
    now = time.time()
    halted = 'gridbot_halt_reason{job="gridbot",host="pi-b",bot="wide",reason="max drawdown: equity 900"}'
    earlier = 'gridbot_halt_reason{job="gridbot",host="pi-b",bot="wide",reason="an earlier one"}'
    equity = 'gridbot_equity_quote{job="gridbot",host="pi-b",bot="wide"}'
    volt = 'pifleet_throttled{job="node",host="pi-b",flag="under_voltage",when="now"}'
    reboot = 'pifleet_reboot_required{job="node",host="pi-b"}'
    alerts = int(now - 60) * 1000
    load(victoria_metrics, [
        *scraped("pi-a", now - 60),
        *scraped("pi-b", now - 1800, bot="wide", **{equity: "999.0", earlier: "1"}),
        *scraped("pi-b", now - 1230, bot="wide", **{halted: "1", volt: "1", reboot: "1", equity: "500.0"}),
        *scraped("pi-b", now - 1230, bot="default", **{volt: "1", reboot: "1"}),
        f'ALERTS{{alertname="HostDown",alertstate="firing",host="pi-b"}} 1 {alerts}',
        f'ALERTS{{alertname="BotDown",alertstate="pending",host="pi-b",bot="default"}} 1 {alerts}',
        f'ALERTS{{alertname="BotHalted",alertstate="firing",host="pi-b",bot="wide"}} 1 {alerts}',
    ])  # fmt: skip
    script = (PLAYBOOKS / "files" / "fleet_metrics.py").read_text()
    run = subprocess.run([sys.executable, "-c", script, victoria_metrics], capture_output=True, text=True,
                         check=False, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    held = json.loads(run.stdout)
    assert set(held) == {"pi-a", "pi-b"}
    assert set(held["pi-a"]["bots"]) == {"default"}
    assert held["pi-b"]["bots"] == {
        "wide": {"end_equity": 500.0, "realized_pnl": 3.5, "round_trips": 7, "open_orders": 11,
                 "api_errors": 2, "halted": "max drawdown: equity 900", "breaker": "closed"},
        "default": {"end_equity": 1012.35, "realized_pnl": 3.5, "round_trips": 7, "open_orders": 11,
                    "api_errors": 2, "halted": "", "breaker": "closed"},
    }  # fmt: skip
    assert held["pi-b"]["health"] == {
        "soc_temp_c": 61.2, "mem_total_mib": 7820, "mem_used_mib": 910, "swap_total_mib": 2047,
        "swap_used_mib": 0, "oom_kills": 0, "rootfs_used_pct": 41.0, "reboot_pending": [],
        "throttled": "under_voltage",
    }  # fmt: skip
    assert (held["pi-b"]["alerts"], held["pi-b"]["bot_alerts"]) == (["HostDown"], {"wide": ["BotHalted"]})
    assert (held["pi-a"]["alerts"], held["pi-a"]["bot_alerts"]) == ([], {})
    assert abs(held["pi-b"]["seen"]["bots"]["wide"] - (now - 1230)) < 1

    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    unreachable = {"unreachable": True, "changed": False, "msg": "Failed to connect to the host via ssh"}
    gone = host("pi-b", ps=unreachable, bots={}, health="")
    pi_a, pi_b, pi_b_wide = fleet_status.fleet_rows([host("pi-a"), gone], at, run.stdout)
    assert (pi_a["alerts"], pi_a["bot_alerts"]) == ("-", "-")
    assert pi_a["state"] == "trading"  # its own answer, not the monitoring host's
    assert [pi_b["bot"], pi_b_wide["bot"]] == ["default", "wide"]
    assert pi_b["state"] == "unreachable: last scraped 0d00h20m ago"
    assert pi_b_wide["state"] == "unreachable: last scraped 0d00h20m ago; halted: max drawdown: equity 900"
    assert (pi_b_wide["equity"], pi_b_wide["open_orders"], pi_b_wide["api_errors"]) == ("500.00", 11, 2)
    assert (pi_b["mem"], pi_b["rootfs"], pi_b["throttled"], pi_b["reboot"]) == (
        "910/7820MiB", "41%", "under_voltage", "pending")  # fmt: skip
    assert (pi_b["image"], pi_b["health"], pi_b["alerts"], pi_b["bot_alerts"]) == ("-", "-", "HostDown", "-")
    assert (pi_b_wide["alerts"], pi_b_wide["bot_alerts"]) == ("HostDown", "BotHalted")


def test_without_an_answer_from_the_monitoring_host_the_rows_are_the_hosts_own():
    row, gone = fleet_status.fleet_rows([host("pi-a"), host("pi-b", ps={}, bots={}, health="")], NOW, "")
    assert row["alerts"] == gone["alerts"] == "n/a"
    assert (gone["bot"], gone["state"], gone["equity"]) == ("-", "-", "-")


def fake_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    for i, (kind, temp) in enumerate([("gpu-thermal", "39000"), ("cpu-thermal", "48312")]):
        zone = root / "sys/class/thermal" / f"thermal_zone{i}"
        zone.mkdir(parents=True)
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(temp + "\n")
    (root / "proc").mkdir()
    (root / "proc/meminfo").write_text(
        "MemTotal:        8000000 kB\nMemFree:          100000 kB\nMemAvailable:    6976000 kB\n"
        "SwapTotal:       2097148 kB\nSwapFree:        1048572 kB\n"
    )
    (root / "proc/vmstat").write_text("nr_free_pages 1\noom_kill 2\npgfault 9\n")
    return root


def run_host_health(root: Path, path: str) -> dict:
    script = PLAYBOOKS / "files" / "host_health.py"
    env = {**os.environ, "PATH": path}
    out = subprocess.run([sys.executable, str(script), str(root)], capture_output=True, text=True, check=True,
                         env=env)  # fmt: skip
    return json.loads(out.stdout)


def test_host_health_reads_the_cpu_zone_memory_swap_and_oom_kills(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    vcgencmd = bin_dir / "vcgencmd"
    vcgencmd.write_text('#!/bin/sh\n[ "$1" = get_throttled ] && echo throttled=0x50005\n')
    vcgencmd.chmod(0o755)
    report = run_host_health(fake_root(tmp_path), f"{bin_dir}:/usr/bin:/bin")
    assert report["soc_temp_c"] == 48.3  # the cpu zone, not the first one
    assert report["throttled"] == "0x50005"  # under-voltage and throttling seen since boot
    assert (report["mem_total_mib"], report["mem_used_mib"]) == (7812, 1000)
    assert (report["swap_total_mib"], report["swap_used_mib"]) == (2047, 1024)
    assert report["oom_kills"] == 2
    assert 0 < report["rootfs_used_pct"] <= 100
    assert report["reboot_pending"] is None


def test_host_health_reports_the_packages_a_pending_reboot_waits_for(tmp_path):
    root = fake_root(tmp_path)
    (root / "run").mkdir()
    (root / "run/reboot-required").write_text("*** System restart required ***\n")
    pkgs = "linux-image-6.1.0-41-arm64\nlibc6\nlinux-image-6.1.0-41-arm64\n"
    (root / "run/reboot-required.pkgs").write_text(pkgs)
    report = run_host_health(root, "/usr/bin:/bin")
    assert report["reboot_pending"] == ["libc6", "linux-image-6.1.0-41-arm64"]


def test_host_health_on_a_machine_without_them_reports_nulls(tmp_path):
    root = fake_root(tmp_path)
    for zone in (root / "sys/class/thermal").iterdir():
        (zone / "temp").unlink()
    report = run_host_health(root, "/usr/bin:/bin")
    assert report["soc_temp_c"] is None
    assert report["throttled"] is None


def test_a_vcgencmd_that_cannot_run_is_unknown_not_a_lost_row(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    broken = bin_dir / "vcgencmd"
    broken.write_text("#!/nonexistent/interpreter\n")  # exec fails: OSError, as a firmware tool gone bad
    broken.chmod(0o755)
    report = run_host_health(fake_root(tmp_path), f"{bin_dir}:/usr/bin:/bin")
    assert report["throttled"] is None
    assert report["oom_kills"] == 2  # the rest of the row is there
