"""The hardening preflight's network checks, in Python (unit-tested on the controller: tools/tests).

nft would refuse a malformed network only on the host, after other changes, and a network with host bits set
(192.168.1.5/24) is a typo for another one: the preflight names both before anything changes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
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


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"invalid_ipv4_networks": invalid_ipv4_networks, "ipv4_within": ipv4_within}
