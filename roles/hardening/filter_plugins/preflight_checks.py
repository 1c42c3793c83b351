"""The hardening preflight's checks of the settings, in Python (unit-tested on the controller: tools/tests).

Every problem of the inventory's values at once, each naming its variable, before anything changes
(`hardening_setting_problems`, one assert in tasks/preflight.yml). nft would refuse a malformed network only
on the host, after other changes, and a network with host bits set (192.168.1.5/24) is a typo for another
one: the preflight names both.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

# address/prefix written out: ipaddress alone would take a bare address or a netmask (10.0.0.0/255.0.0.0).
_SHAPE = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}")


def is_ipv4_network(value: object) -> bool:
    """True for an IPv4 network in CIDR form without host bits set: 192.168.1.0/24, 203.0.113.7/32.

    Octets with leading zeros (010.0.0.1) are refused: some tools read them as octal, so they are ambiguous.
    """
    if not isinstance(value, str) or not _SHAPE.fullmatch(value):
        return False
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        return False
    return True


def invalid_ipv4_networks(values: Sequence[object]) -> list[object]:
    """The entries of `values` that are not IPv4 networks in CIDR form, in order (empty: all are)."""
    return [value for value in values if not is_ipv4_network(value)]


def ipv4_within(address: object, networks: Sequence[object]) -> bool:
    """True when `address` (an IPv4 address, as sshd reports a client) is inside one of `networks` (valid
    CIDRs; the others, refused by the check above, hold nothing)."""
    try:
        ip = ipaddress.IPv4Address(str(address))
    except ValueError:
        return False
    return any(ip in ipaddress.IPv4Network(n, strict=True) for n in networks if is_ipv4_network(n))


# Empty, each of these would lock the fleet or open it: why, in the message.
_NOT_EMPTY = {
    "hardening_admin_users": "leave nobody with sudo or an SSH login",
    "hardening_ssh_allow_groups": "let every account with a key log in (no AllowGroups)",
    "hardening_firewall_ssh_cidrs": "refuse SSH from everywhere, Ansible included",
}
_NETWORKS = ("hardening_firewall_ssh_cidrs", "hardening_firewall_monitoring_cidrs")
_PORT_LISTS = (
    "hardening_firewall_metrics_ports",
    "hardening_firewall_monitoring_ports",
    "hardening_firewall_admin_ports",
)
_RATE = re.compile(r"[1-9][0-9]*/(second|minute|hour)")
# Under 20 s a login over a slow link could miss the window and undo a good change; over 600 s a host that
# shut the controller out stays shut for too long.
_CONFIRM_S = range(20, 601)
_PORTS = range(1, 65536)


def _json(value: object) -> str:
    return json.dumps(value)


def _within(value: object, allowed: range) -> bool:
    """`value`, a whole number written as the inventory may (22 or "22"), inside `allowed`."""
    try:
        return int(str(value)) in allowed
    except ValueError:
        return False


def hardening_setting_problems(
    settings: Mapping[str, Any], monitoring_hosts: Sequence[str], monitoring_addresses: Sequence[str]
) -> list[str]:
    """What is wrong with the role's settings (by their names in `settings`), one line each naming the
    variable and the value; empty when nothing is. `monitoring_addresses`: each monitoring host's address, ''
    where none is known, in the order of `monitoring_hosts`."""
    problems = []
    for name, why in _NOT_EMPTY.items():
        if len(settings[name]) == 0:
            problems.append(
                f"{name} must name at least one entry: empty, it would {why}; got {_json(settings[name])}"
            )
    for name in _NETWORKS:
        bad = invalid_ipv4_networks(settings[name])
        if bad:
            problems.append(
                f"{name}: {', '.join(_json(b) for b in bad)} is not an IPv4 network in CIDR form "
                "(address/prefix, no host bits set, e.g. 192.168.1.0/24 or 203.0.113.7/32)"
            )
    unknown = [h for h, a in zip(monitoring_hosts, monitoring_addresses, strict=True) if a == ""]
    if unknown:
        problems.append(
            f"monitoring hosts {', '.join(unknown)}: their address is unknown (no facts gathered): set "
            "hardening_firewall_monitoring_address in their host_vars"
        )
    bad = [a for a in monitoring_addresses if a and not is_ipv4_network(f"{a}/32")]
    if bad:
        problems.append(
            f"monitoring host addresses {', '.join(_json(b) for b in bad)} are not IPv4 addresses "
            "(hardening_firewall_monitoring_address)"
        )
    ports = [("hardening_ssh_port", settings["hardening_ssh_port"])]
    ports += [(name, port) for name in _PORT_LISTS for port in settings[name]]
    problems += [
        f"{name} must be a TCP port, 1 to 65535; got {_json(port)}"
        for name, port in ports
        if not _within(port, _PORTS)
    ]
    window = settings["hardening_commit_confirm_seconds"]
    if not _within(window, _CONFIRM_S):
        problems.append(
            "hardening_commit_confirm_seconds must be 20 to 600 (seconds a host waits for a new login before "
            f"it undoes an sshd or firewall change); got {_json(window)}"
        )
    rate = settings["hardening_firewall_ssh_rate_limit"]
    if rate != "" and not (isinstance(rate, str) and _RATE.fullmatch(rate)):
        problems.append(
            "hardening_firewall_ssh_rate_limit must be empty (no limit) or a rate such as 10/minute; got "
            + _json(rate)
        )
    return problems


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "invalid_ipv4_networks": invalid_ipv4_networks,
            "ipv4_within": ipv4_within,
            "hardening_setting_problems": hardening_setting_problems,
        }
