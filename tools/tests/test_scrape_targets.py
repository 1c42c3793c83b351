"""What the monitoring host scrapes (roles/monitoring/filter_plugins/scrape_targets.py): each host as the
monitoring host reaches it, and each of its bots' port labelled with the bot, from the inventory the gridbot
role reads its bots from."""

from __future__ import annotations

from pathlib import Path

from modules import load_module

PROJECT = Path(__file__).resolve().parents[2]
targets = load_module(PROJECT / "roles/monitoring/filter_plugins/scrape_targets.py", "scrape_targets")

DEFAULTS = {"gridbot_metrics_publish": False, "gridbot_metrics_host_address": "127.0.0.1",
            "gridbot_metrics_host_port": 9108, "pi_host_node_exporter_port": 9100}  # fmt: skip


def test_a_single_bot_host_is_its_bot_default_on_the_fleets_port() -> None:
    hostvars = {"mon": {}, "pi4": {"ansible_host": "10.0.0.4", "gridbot_metrics_publish": True}}
    made = targets.scrape_targets(hostvars, ["mon", "pi4"], "mon", DEFAULTS)
    assert made == [
        {"host": "mon", "address": "127.0.0.1", "bot": False, "bot_bound": "127.0.0.1",
         "bots": [{"name": "default", "port": 9108}], "node": True, "node_port": 9100},
        {"host": "pi4", "address": "10.0.0.4", "bot": True, "bot_bound": "127.0.0.1",
         "bots": [{"name": "default", "port": 9108}], "node": True, "node_port": 9100},
    ]  # fmt: skip


def test_named_bots_each_on_their_port_the_hosts_over_the_groups() -> None:
    pi5 = {
        "gridbot_metrics_host_port": 9200,
        "gridbot_bots": {"eth": {"metrics_port": 9110}, "btc": {"metrics_port": 9111}},
        "gridbot_host_bots": {"default": {}, "eth": {"metrics_port": 9120, "memory": "256M"}},
        "monitoring_target_address": "192.168.1.5",
    }
    (made,) = targets.scrape_targets({"pi5": pi5}, ["pi5"], "mon", DEFAULTS)
    assert made["address"] == "192.168.1.5"
    assert made["bots"] == [
        {"name": "eth", "port": 9120}, {"name": "btc", "port": 9111}, {"name": "default", "port": 9200},
    ]  # fmt: skip
