#!/usr/bin/env python3
"""What the fleet's operators watch on a Pi, as one JSON object (run on each host by playbooks/status.yml):
SoC temperature, throttling, memory and swap, OOM kills since boot, root filesystem use, a pending reboot.

Stdlib only, read-only. ROOT (default /) lets the controller's unit tests run it against a fake /sys and
/proc.
A value the host does not have (no thermal zone in a VM, no vcgencmd off Raspberry Pi OS) is null.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


def soc_temp_c(root: Path) -> float | None:
    """The CPU's thermal zone (a Pi has one, `cpu-thermal`); the first zone when none is named so."""
    zones = sorted((root / "sys/class/thermal").glob("thermal_zone*"))
    named = [z for z in zones if "cpu" in _read(z / "type").lower()]
    for zone in named or zones:
        try:
            return round(int(_read(zone / "temp")) / 1000, 1)
        except ValueError:
            continue
    return None


def throttled() -> str | None:
    """`vcgencmd get_throttled`'s bits (0x0: never throttled nor under-voltage since boot)."""
    vcgencmd = shutil.which("vcgencmd")
    if vcgencmd is None:
        return None
    try:
        argv = [vcgencmd, "get_throttled"]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):  # a firmware that does not answer: unknown, not a lost row
        return None
    return out.stdout.strip().partition("=")[2] or None


def meminfo(root: Path) -> dict[str, int]:
    """MiB used of memory (total minus available) and of swap."""
    kb = {}
    for line in _read(root / "proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        if rest.split():
            kb[key] = int(rest.split()[0])
    return {
        "mem_total_mib": kb.get("MemTotal", 0) // 1024,
        "mem_used_mib": (kb.get("MemTotal", 0) - kb.get("MemAvailable", 0)) // 1024,
        "swap_total_mib": kb.get("SwapTotal", 0) // 1024,
        "swap_used_mib": (kb.get("SwapTotal", 0) - kb.get("SwapFree", 0)) // 1024,
    }


def oom_kills(root: Path) -> int | None:
    for line in _read(root / "proc/vmstat").splitlines():
        name, _, value = line.partition(" ")
        if name == "oom_kill":
            return int(value)
    return None


def rootfs_used_pct(root: Path) -> float:
    st = os.statvfs(root)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    usable = used + st.f_bavail * st.f_frsize  # as df counts it: root's reserve is not the user's
    return round(100 * used / usable, 1) if usable else 0.0


def reboot_pending(root: Path) -> list[str] | None:
    """Debian's notice that a reboot is due (/run/reboot-required, written by the kernel packages' postinst
    hook that unattended-upgrades installs): the packages that asked for it; None when no reboot is due."""
    if not (root / "run/reboot-required").exists():
        return None
    return sorted(set(_read(root / "run/reboot-required.pkgs").split()))


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path("/")
    report = {
        "soc_temp_c": soc_temp_c(root),
        "throttled": throttled(),
        **meminfo(root),
        "oom_kills": oom_kills(root),
        "rootfs_used_pct": rootfs_used_pct(root),
        "reboot_pending": reboot_pending(root),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
