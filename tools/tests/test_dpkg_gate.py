"""The package lists the roles derive from `dpkg-query --show` (their vars/main.yml), rendered by Ansible
itself: a package task is skipped on their word, so a list that is wrongly empty runs every apt task again,
and one that is wrongly full would skip an install."""

from __future__ import annotations

from pathlib import Path

from stock_ansible import rendered_vars

PROJECT = Path(__file__).resolve().parents[2]
ROLES = ("pi_host", "docker_engine", "hardening")

# What `dpkg-query --show --showformat='${Package} ${db:Status-Abbrev}\n'` prints: desired, status, error.
DPKG_LINES = [
    "nftables ii ",  # installed
    "dphys-swapfile rc ",  # removed, its configuration files kept
    "watchdog un ",  # listed by dpkg, never installed: nothing of it on disk
    "zram-tools iU ",  # unpacked, not configured: apt must finish it
    "rng-tools5 iF ",  # half-configured
    "dphys-swapfile-old pn ",  # purged: dpkg only remembers the name
    "chrony hi ",  # installed and held
    "gpg iiR",  # installed, reinstallation required
]


def rendered(tmp_path: Path) -> dict[str, list[str]]:
    wanted = {f"{role}_installed": f"__{role}_dpkg_installed" for role in ROLES} | {
        "pi_host_known": "__pi_host_dpkg_known"
    }
    return rendered_vars(
        tmp_path,
        [PROJECT / "roles" / role / "vars" / "main.yml" for role in ROLES],
        {f"__{role}_dpkg": {"stdout_lines": DPKG_LINES} for role in ROLES},
        wanted,
    )


def test_installed_means_status_installed_and_known_means_files_on_disk(tmp_path: Path) -> None:
    lists = rendered(tmp_path)
    for role in ROLES:
        assert lists[f"{role}_installed"] == ["nftables", "chrony", "gpg"], role
    known = ["nftables", "dphys-swapfile", "zram-tools", "rng-tools5", "chrony", "gpg"]
    assert lists["pi_host_known"] == known
