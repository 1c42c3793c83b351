#!/usr/bin/python3
"""What only a Pi knows, for the node exporter's textfile collector: the firmware's throttling bits, each bot
container's state as the engine sees it (labelled with its bot: `default` for the container named on the
command line, <name> for each `<container>-<name>` of the same compose service) and its newest backup (in the
host directory the engine mounts at the bot's backup directory, PIFLEET_BACKUP_MOUNT), a pending reboot,
which of the units named on the command line (glob patterns, after the bot's container) have failed, when
the journal uploader last saved its place, and how worn its flash storage says it is (an eMMC's life time
estimates and pre-EOL state from sysfs, an NVMe drive's SMART health log through smartctl; an SD card tells
none). Written whole to a temporary file and renamed, so a scrape never
reads half a file. Standard library only: it runs under the host's python3."""

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime

# `vcgencmd get_throttled` bits: (flag, bit now, bit since boot)
THROTTLED = (
    ("under_voltage", 0, 16),
    ("freq_capped", 1, 17),
    ("throttled", 2, 18),
    ("soft_temp_limit", 3, 19),
)


# Where a bot's container has its backups (the image's contract, gridbot.contract.BACKUP_DIR, which the role
# passes): the host directory mounted there holds that bot's backups, another bot's in subdirectories of it.
# Unset: no backup is dated.
BACKUP_MOUNT = os.environ.get("PIFLEET_BACKUP_MOUNT")

# The kernel's sysfs (a test points it at a directory of its own).
SYSFS = os.environ.get("PIFLEET_SYSFS", "/sys")

# systemd-journal-upload --save-state's default (a link into /var/lib/private under DynamicUser=)
JOURNAL_UPLOAD_STATE = os.environ.get("PIFLEET_JOURNAL_UPLOAD_STATE", "/var/lib/systemd/journal-upload/state")


def run(argv, any_status=False):
    """The command's output; None when it cannot run, times out, or (unless `any_status`) fails."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 or any_status else None


def throttled():
    if shutil.which("vcgencmd") is None:
        return []  # not a Pi (a VM, a container): no series rather than a made-up zero
    out = run(["vcgencmd", "get_throttled"])  # throttled=0x50005
    if out is None or "=" not in out:
        return []
    bits = int(out.strip().split("=", 1)[1], 16)
    lines = ["# HELP pifleet_throttled The firmware's throttling flags (vcgencmd get_throttled).",
             "# TYPE pifleet_throttled gauge"]  # fmt: skip
    for flag, now, since in THROTTLED:
        lines.append(f'pifleet_throttled{{flag="{flag}",when="now"}} {bits >> now & 1}')
        lines.append(f'pifleet_throttled{{flag="{flag}",when="since_boot"}} {bits >> since & 1}')
    return lines


def bots(default):
    """(bot, container) for the default container (always: a missing one is a bot down) and each other the
    engine runs for the same compose service."""
    found = [("default", default)]
    out = run(["docker", "ps", "--all", "--filter", f"label=com.docker.compose.service={default}",
               "--format", "{{.Names}}"]) if shutil.which("docker") else None  # fmt: skip
    for name in sorted((out or "").split()):
        if name.startswith(default + "-"):
            found.append((name[len(default) + 1 :], name))
    return found


HELPS = {
    "running": "1 while the bot's container runs",
    "healthy": "1 while the engine's healthcheck finds the bot healthy",
    "restarts": "Restarts of the bot's container by the engine (its RestartCount)",
    "oom_killed": "1 when the container's last exit was the kernel's OOM kill",
    "created_seconds": "When the bot's container was created (0: there is none)",
}
BACKUP_HELPS = {
    "seconds": "When the bot's newest backup was written (its file's time; 0: none yet)",
    "bytes": "The size of the bot's newest backup",
}


def created(stamp):
    """The engine's Created (RFC 3339, nanoseconds) as epoch seconds; 0 when it says none."""
    try:
        return datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    except (TypeError, ValueError):
        return 0.0


def newest_backup(state):
    """(time, size) of the newest backup (`*.db`) in the host directory mounted at BACKUP_MOUNT, (0, 0) when
    there is none (or it cannot be read); None when the container mounts none (backups off)."""
    if not BACKUP_MOUNT:
        return None
    mounts = (state or {}).get("Mounts") or []
    source = next((m.get("Source") for m in mounts if m.get("Destination") == BACKUP_MOUNT), None)
    if not source:
        return None
    newest = (0.0, 0)
    try:
        with os.scandir(source) as entries:
            for entry in entries:
                if entry.name.endswith(".db") and entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    newest = max(newest, (st.st_mtime, st.st_size))
    except OSError:
        pass
    return newest


def container(name):
    out = run(["docker", "inspect", "--type", "container", name]) if shutil.which("docker") else None
    state = json.loads(out)[0] if out else None
    running = bool(state and state["State"]["Running"])
    health = ((state or {}).get("State", {}).get("Health") or {}).get("Status")
    return {
        "running": int(running),
        "healthy": int(running and health == "healthy"),
        "restarts": state["RestartCount"] if state else 0,
        "oom_killed": int(bool(state and state["State"]["OOMKilled"])),
        "created_seconds": created((state or {}).get("Created")),
        "backup": newest_backup(state),
    }


def containers(default):
    states = [(bot, container(name)) for bot, name in bots(default)]
    lines = []
    for key, helps in HELPS.items():
        name = f"pifleet_bot_container_{key}"
        lines += [f"# HELP {name} {helps}.", f"# TYPE {name} gauge"]
        lines += [f'{name}{{bot="{bot}"}} {values[key]:.0f}' for bot, values in states]
    backed = [(bot, values["backup"]) for bot, values in states if values["backup"] is not None]
    for i, (key, helps) in enumerate(BACKUP_HELPS.items()):
        name = f"pifleet_bot_backup_newest_{key}"
        lines += [f"# HELP {name} {helps}.", f"# TYPE {name} gauge"]
        lines += [f'{name}{{bot="{bot}"}} {newest[i]:.0f}' for bot, newest in backed]
    return lines


def units(patterns):
    """pifleet_unit_failed per loaded unit the patterns match (0 or 1): a oneshot's failure (a backup) stays
    "failed" until its next run succeeds, and a unit that gave up restarting stays so until someone acts."""
    if not patterns:
        return []
    out = run(["systemctl", "list-units", "--all", "--plain", "--no-legend", "--no-pager", "--", *patterns])
    if out is None:
        return []
    lines = ["# HELP pifleet_unit_failed 1 while the unit is in the failed state (systemctl list-units).",
             "# TYPE pifleet_unit_failed gauge"]  # fmt: skip
    for row in sorted(out.splitlines()):
        fields = row.split()
        if len(fields) >= 3 and fields[1] == "loaded":  # UNIT LOAD ACTIVE SUB DESCRIPTION...
            lines.append(f'pifleet_unit_failed{{unit="{fields[0]}"}} {int(fields[2] == "failed")}')
    return lines


def journal_upload():
    """The uploader rewrites its state file (its cursor) after each batch the receiver took: its age is how
    long nothing reached the monitoring host. An enabled uploader without the file (none taken yet, or the
    file removed because it could not be saved) reads 0, as long ago as can be; no uploader: no series."""
    try:
        saved = os.stat(JOURNAL_UPLOAD_STATE).st_mtime
    except OSError:
        enabled = run(["systemctl", "is-enabled", "--quiet", "systemd-journal-upload.service"]) is not None
        if not enabled:
            return []
        saved = 0.0
    return ["# HELP pifleet_journal_upload_saved_seconds When the journal uploader last saved its cursor "
            "(the receiver took a batch).",
            "# TYPE pifleet_journal_upload_saved_seconds gauge",
            f"pifleet_journal_upload_saved_seconds {saved:.3f}"]  # fmt: skip


def _sysfs_hex(path):
    """The hex fields of an eMMC sysfs attribute ("0x01 0x02"), or None where there is none (an SD card)."""
    try:
        with open(path) as f:
            return [int(v, 16) for v in f.read().split()]
    except (OSError, ValueError):
        return None


def _emmc(name):
    """An eMMC's JEDEC estimates (ext_csd DEVICE_LIFE_TIME_EST_TYP_A/B: 0x01 up to 10 % of its life used, ...
    0x0A up to 100 %, 0x0B past it; 0: not given) as the ratio each bucket reaches, the worse of the two, and
    PRE_EOL_INFO (1 normal, 2 warning: 80 % of the reserved blocks used, 3 urgent)."""
    device = os.path.join(SYSFS, "block", name, "device")
    life, eol = (
        _sysfs_hex(os.path.join(device, "life_time")),
        _sysfs_hex(os.path.join(device, "pre_eol_info")),
    )
    out = {}
    if life and max(life) > 0:
        out["life_used_ratio"] = max(life) / 10
    if eol and eol[0] > 0:
        out["pre_eol"] = eol[0]
    return out


def _nvme(name):
    """An NVMe controller's SMART/health log (smartctl's JSON): its vendor's estimate of the life used
    (percentage_used, past 100 once the rated life is spent), critical_warning's bits, media errors."""
    if shutil.which("smartctl") is None:
        return {}
    # smartctl's exit status is a bit mask that also reports a failing drive: its JSON is read whatever it is
    out = run(["smartctl", "--json", "--health", "--attributes", f"/dev/{name}"], any_status=True)
    try:
        log = json.loads(out or "{}").get("nvme_smart_health_information_log") or {}
    except ValueError:
        return {}
    wear = {}
    fields = {"life_used_ratio": ("percentage_used", 100), "critical_warning": ("critical_warning", 1),
              "media_errors": ("media_errors", 1)}  # fmt: skip
    for key, (field, scale) in fields.items():
        if isinstance(log.get(field), int):
            wear[key] = log[field] / scale
    return wear


WEAR_HELPS = {
    "life_used_ratio": "The share of its rated life the flash storage says it has used (an eMMC's estimate, "
    "the upper end of its 10 % step; an NVMe drive's percentage_used; past 1 once spent)",
    "pre_eol": "An eMMC's pre-end-of-life state: 1 normal, 2 warning (80 % of its reserved blocks used), "
    "3 urgent",
    "critical_warning": "An NVMe drive's critical warning bits (spare below threshold, temperature, "
    "reliability degraded, read-only, backup failed): 0 when none",
    "media_errors": "Unrecovered data integrity errors an NVMe drive counted over its life",
}


def _names(directory):
    try:
        return sorted(os.listdir(os.path.join(SYSFS, directory)))
    except OSError:
        return []


def disk_wear():
    """What each eMMC (mmcblkN with a life time estimate) and NVMe controller (nvmeN) says of its wear. An SD
    card, a VM's disk, a container: no series."""
    found = [(n, "emmc", _emmc(n)) for n in _names("block") if n.startswith("mmcblk") and n[6:].isdigit()]
    found += [(n, "nvme", _nvme(n)) for n in _names("class/nvme")]
    lines = []
    for key, helps in WEAR_HELPS.items():
        name = f"pifleet_disk_{key}"
        have = [(device, kind, values[key]) for device, kind, values in found if key in values]
        if have:
            lines += [f"# HELP {name} {helps}.", f"# TYPE {name} gauge"]
            lines += [
                f'{name}{{device="{device}",kind="{kind}"}} {value:.12g}' for device, kind, value in have
            ]
    return lines


def main():
    directory, bot, patterns = sys.argv[1], sys.argv[2], sys.argv[3:]
    reboot = int(os.path.exists("/run/reboot-required"))
    lines = [*throttled(), *containers(bot), *units(patterns), *journal_upload(), *disk_wear(),
             "# HELP pifleet_reboot_required 1 while an upgrade waits for a reboot (/run/reboot-required).",
             "# TYPE pifleet_reboot_required gauge", f"pifleet_reboot_required {reboot}",
             "# HELP pifleet_textfile_timestamp_seconds When this file was written.",
             "# TYPE pifleet_textfile_timestamp_seconds gauge",
             f"pifleet_textfile_timestamp_seconds {time.time():.3f}"]  # fmt: skip
    path = os.path.join(directory, "pifleet.prom")
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
