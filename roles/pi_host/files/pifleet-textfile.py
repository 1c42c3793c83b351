#!/usr/bin/python3
"""What only a Pi knows, for the node exporter's textfile collector: the firmware's throttling bits, the bot
container's state as the engine sees it, and a pending reboot. Written whole to a temporary file and renamed,
so a scrape never reads half a file. Standard library only: it runs under the host's python3."""

import json
import os
import shutil
import subprocess
import sys
import time

# `vcgencmd get_throttled` bits: (flag, bit now, bit since boot)
THROTTLED = (
    ("under_voltage", 0, 16),
    ("freq_capped", 1, 17),
    ("throttled", 2, 18),
    ("soft_temp_limit", 3, 19),
)


def run(argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


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


def container(name):
    out = run(["docker", "inspect", "--type", "container", name]) if shutil.which("docker") else None
    state = json.loads(out)[0] if out else None
    running = bool(state and state["State"]["Running"])
    health = ((state or {}).get("State", {}).get("Health") or {}).get("Status")
    values = {
        "running": int(running),
        "healthy": int(running and health == "healthy"),
        "restarts": state["RestartCount"] if state else 0,
        "oom_killed": int(bool(state and state["State"]["OOMKilled"])),
    }
    helps = {
        "running": "1 while the bot's container runs",
        "healthy": "1 while the engine's healthcheck finds the bot healthy",
        "restarts": "Restarts of the bot's container by the engine (its RestartCount)",
        "oom_killed": "1 when the container's last exit was the kernel's OOM kill",
    }
    lines = []
    for key, value in values.items():
        name = f"pifleet_bot_container_{key}"
        lines += [f"# HELP {name} {helps[key]}.", f"# TYPE {name} gauge", f"{name} {value}"]
    return lines


def main():
    directory, bot = sys.argv[1], sys.argv[2]
    reboot = int(os.path.exists("/run/reboot-required"))
    lines = [*throttled(), *container(bot),
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
