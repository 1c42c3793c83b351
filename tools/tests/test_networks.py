"""The hardening preflight's network check (roles/hardening/filter_plugins/preflight_checks.py): what it
accepts is an IPv4 network nft takes as meant, checked against arithmetic on the address rather than against
ipaddress."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from modules import load_module

PLUGIN = Path(__file__).resolve().parents[2] / "roles/hardening/filter_plugins/preflight_checks.py"
networks = load_module(PLUGIN, "networks")


def dotted(address: int) -> str:
    return ".".join(str(address >> shift & 255) for shift in (24, 16, 8, 0))


@given(st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_a_network_is_valid_exactly_when_no_host_bit_is_set(address: int, prefix: int) -> None:
    cidr = f"{dotted(address)}/{prefix}"
    assert networks.is_ipv4_network(cidr) == (address % 2 ** (32 - prefix) == 0)


@given(st.lists(st.integers(0, 400), min_size=4, max_size=4), st.integers(0, 40))
def test_octets_and_prefixes_out_of_range_are_refused(octets: list[int], prefix: int) -> None:
    cidr = ".".join(map(str, octets)) + f"/{prefix}"
    if max(octets) > 255 or prefix > 32:
        assert not networks.is_ipv4_network(cidr)


@pytest.mark.parametrize(
    "value",
    [
        "192.168.1.5/24",  # host bits: a typo for another network
        "192.168.1.0",  # no prefix
        "10.0.0.0/255.0.0.0",  # a netmask, not a prefix
        "010.0.0.0/8",  # a leading zero: octal to some tools
        "10.0.0.0/33",
        "256.0.0.0/8",
        "10.0.0/8",
        " 10.0.0.0/8",
        "fd00::/8",
        "",
        8,
        None,
        ["10.0.0.0/8"],
    ],
)
def test_not_networks(value: object) -> None:
    assert not networks.is_ipv4_network(value)


def test_the_bad_entries_are_named_in_order() -> None:
    values = ["10.0.0.0/8", "192.168.1.5/24", "203.0.113.7/32", 7, "0.0.0.0/0"]
    assert networks.invalid_ipv4_networks(values) == ["192.168.1.5/24", 7]
    assert networks.invalid_ipv4_networks(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]) == []


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_an_address_is_within_a_network_exactly_when_its_prefix_bits_match(
    address: int, base: int, prefix: int
) -> None:
    network = base >> (32 - prefix) << (32 - prefix) if prefix else 0
    cidr = f"{dotted(network)}/{prefix}"
    inside = address >> (32 - prefix) == network >> (32 - prefix) if prefix else True
    assert networks.ipv4_within(dotted(address), [cidr]) == inside
    # an entry the CIDR check refuses holds nothing
    assert networks.ipv4_within(dotted(address), ["192.168.1.5/24", cidr]) == inside


@pytest.mark.parametrize("address", ["", "100.64.0.1.", "fe80::1", None, "localhost"])
def test_what_is_not_an_ipv4_address_is_within_nothing(address: object) -> None:
    assert not networks.ipv4_within(address, ["0.0.0.0/0"])
