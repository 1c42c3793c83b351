"""The monitoring role's scrape targets, rendered by Ansible's own templating and checked by Debian's
VictoriaMetrics (-dryRun, as the role's validate does): the fleet's bots and node exporters, and the
monitoring services themselves over loopback, each labelled with its host's inventory name, a bot's with its
name too."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from role_templates import MANAGED, render

MONITOR = "mon-a"
# __monitoring_targets as vars/main.yml builds it from the inventory (filter_plugins/scrape_targets.py): the
# monitoring host is itself at 127.0.0.1; pi5-a runs two bots.
BOTS = [{"name": "default", "port": 9108}, {"name": "eth", "port": 9110}]
TARGETS = [
    {"host": "pi5-a", "address": "192.168.1.11", "bot": True, "node": True, "bots": BOTS, "node_port": 9100},
    {"host": MONITOR, "address": "127.0.0.1", "bot": False, "node": True, "bots": [], "node_port": 9100},
]
INVENTORY = {"inventory_hostname": MONITOR, "__monitoring_targets": TARGETS}


def scrape_config(tmp_path: Path, prom_tools: Path, **overrides: Any) -> dict[str, list[dict[str, Any]]]:
    """The jobs of the rendered scrape.yml, once VictoriaMetrics accepts it: each job's static configs."""
    path = tmp_path / "scrape.yml"
    path.write_text(render("scrape.yml.j2", **INVENTORY, **overrides))
    assert path.read_text().splitlines()[:3] == ["#", f"# {MANAGED}", "#"]
    checked = subprocess.run(
        [prom_tools / "victoria-metrics", "-dryRun", f"-promscrape.config={path}"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr[-3000:]
    parsed = yaml.safe_load(path.read_text())
    return {job["job_name"]: job["static_configs"] for job in parsed["scrape_configs"]}


def test_the_monitoring_services_scrape_themselves(tmp_path: Path, prom_tools: Path) -> None:
    jobs = scrape_config(tmp_path, prom_tools, monitoring_vmalert_port=18880)
    assert jobs["gridbot"] == [
        {"targets": ["192.168.1.11:9108"], "labels": {"host": "pi5-a", "bot": "default"}},
        {"targets": ["192.168.1.11:9110"], "labels": {"host": "pi5-a", "bot": "eth"}},
    ]
    assert jobs["node"] == [
        {"targets": ["192.168.1.11:9100"], "labels": {"host": "pi5-a"}},
        {"targets": ["127.0.0.1:9100"], "labels": {"host": MONITOR}},
    ]
    # The job names the alerts on the watcher tell them apart by; the ports are the role's.
    for job, port in (("victoria-metrics", 8428), ("vmalert", 18880), ("alertmanager", 9093)):
        assert jobs[job] == [{"targets": [f"127.0.0.1:{port}"], "labels": {"host": MONITOR}}], job


def test_without_alerting_only_victoria_metrics_scrapes_itself(tmp_path: Path, prom_tools: Path) -> None:
    jobs = scrape_config(tmp_path, prom_tools, monitoring_alerting_enabled=False)
    assert set(jobs) == {"gridbot", "node", "victoria-metrics"}


def test_victoria_metrics_is_scraped_once() -> None:
    """Its own scrape job, not its self-scrape too: the same metrics twice under two jobs."""
    defaults = render(
        "victoria-metrics.default.j2",
        __monitoring_data_dir="/var/lib/victoria-metrics",
        __monitoring_scrape_file="/etc/victoria-metrics/scrape.yml",
    )
    args = next(line for line in defaults.splitlines() if line.startswith("ARGS="))
    assert "-promscrape.config=/etc/victoria-metrics/scrape.yml" in args
    assert "-selfScrape" not in args
