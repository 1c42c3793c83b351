"""The hardening preflight's check of the settings argument specs cannot express
(roles/hardening/filter_plugins/preflight_checks.py, one assert in tasks/preflight.yml): each bad value is
named with its variable and the value, every problem of a run at once, and the role's own defaults pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from modules import load_module

ROLE = Path(__file__).resolve().parents[2] / "roles/hardening"
checks = load_module(ROLE / "filter_plugins/preflight_checks.py", "preflight_checks")

NAMES = (
    "hardening_admin_users",
    "hardening_ssh_allow_groups",
    "hardening_firewall_ssh_cidrs",
    "hardening_firewall_monitoring_cidrs",
    "hardening_ssh_port",
    "hardening_firewall_metrics_ports",
    "hardening_firewall_monitoring_ports",
    "hardening_firewall_admin_ports",
    "hardening_commit_confirm_seconds",
    "hardening_firewall_ssh_rate_limit",
)


def good() -> dict[str, object]:
    """The role's defaults, with an admin and the networks an inventory must give."""
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    settings = {name: defaults.get(name) for name in NAMES}
    settings.update(
        hardening_admin_users=["pi"],
        hardening_firewall_ssh_cidrs=["192.168.1.0/24"],
        hardening_firewall_metrics_ports=[9108],
        hardening_firewall_monitoring_ports=[9100],
        hardening_firewall_admin_ports=[8428, 8880],
    )
    return settings


def problems(monitoring: dict[str, str] | None = None, **changed: object) -> list[str]:
    hosts = monitoring or {}
    return checks.hardening_setting_problems({**good(), **changed}, list(hosts), list(hosts.values()))


def test_the_defaults_with_an_admin_and_a_network_pass():
    assert problems({"pi5-garage": "192.168.1.20"}) == []


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("hardening_admin_users", [], "must name at least one entry: empty, it would leave nobody with sudo"),
        ("hardening_ssh_allow_groups", [], "let every account with a key log in (no AllowGroups)"),
        ("hardening_firewall_ssh_cidrs", [], "refuse SSH from everywhere, Ansible included"),
        ("hardening_firewall_ssh_cidrs", ["192.168.1.5/24"], '"192.168.1.5/24" is not an IPv4 network'),
        ("hardening_firewall_monitoring_cidrs", ["10.0.0.0/33"], '"10.0.0.0/33" is not an IPv4 network'),
        ("hardening_ssh_port", 70000, "must be a TCP port, 1 to 65535; got 70000"),
        ("hardening_ssh_port", "ssh", 'must be a TCP port, 1 to 65535; got "ssh"'),
        ("hardening_firewall_admin_ports", [8428, 70000], "must be a TCP port, 1 to 65535; got 70000"),
        ("hardening_firewall_metrics_ports", [0], "must be a TCP port, 1 to 65535; got 0"),
        ("hardening_firewall_monitoring_ports", ["x"], 'must be a TCP port, 1 to 65535; got "x"'),
        ("hardening_commit_confirm_seconds", 10, "must be 20 to 600 (seconds a host waits"),
        ("hardening_commit_confirm_seconds", 601, "got 601"),
        ("hardening_firewall_ssh_rate_limit", "lots", 'or a rate such as 10/minute; got "lots"'),
        ("hardening_firewall_ssh_rate_limit", "0/minute", 'got "0/minute"'),
    ],
)
def test_a_bad_value_is_one_problem_naming_its_variable_and_value(name, value, says):
    (found,) = problems(**{name: value})
    assert found.startswith(name), found
    assert says in found, found


@pytest.mark.parametrize("value", [20, 600, "60"])
def test_the_edges_of_the_commit_window_and_a_number_written_as_text_pass(value):
    assert problems(hardening_commit_confirm_seconds=value) == []


@pytest.mark.parametrize("rate", ["", "10/minute", "3/second", "100/hour"])
def test_no_rate_limit_or_a_rate_passes(rate):
    assert problems(hardening_firewall_ssh_rate_limit=rate) == []


def test_a_monitoring_host_without_an_address_and_one_that_is_no_address_are_named():
    found = problems({"pi5-garage": "", "pi4-attic": "192.168.1.300", "pi5-den": "192.168.1.21"})
    assert found == [
        "monitoring hosts pi5-garage: their address is unknown (no facts gathered): set "
        "hardening_firewall_monitoring_address in their host_vars",
        'monitoring host addresses "192.168.1.300" are not IPv4 addresses '
        "(hardening_firewall_monitoring_address)",
    ]


def test_every_problem_of_a_run_is_named_at_once():
    found = problems(hardening_admin_users=[], hardening_ssh_port=0, hardening_firewall_ssh_rate_limit="fast")
    assert [p.split(" ")[0] for p in found] == [
        "hardening_admin_users",
        "hardening_ssh_port",
        "hardening_firewall_ssh_rate_limit",
    ]
