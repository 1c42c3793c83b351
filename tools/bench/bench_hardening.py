"""Lynis' hardening index of a Pi before and after site.yml: two Pi 5-like trixie VMs (tools/vm, as the fleet
scenario boots them) from the same image; one is audited by Debian's lynis as flashed while the other is
converged with site.yml (the test fleet's inventory; the bot's concerns skipped, as they add nothing Lynis
scores) and then audited. Prints both indexes, the goal (80), the tests that scored less than their maximum
and what Lynis still suggests. Under TCG a Lynis run takes tens of minutes: this is a benchmark, not a test.

    python tools/bench/bench_hardening.py [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
STATE = PROJECT / ".cache" / "bench-hardening"
CACHE = Path(os.environ.get("PIFLEET_CACHE", Path.home() / ".cache" / "pifleet"))
FLASHED, CONVERGED = "lynis-flashed", "lynis-pi5"
GOAL = 80
PLATFORM = {"release": "trixie", "nvme": "8G", "groups": ["pifleet", "pi5"]}
PLATFORMS = json.dumps({"vm_platforms": [{"name": name, **PLATFORM} for name in (FLASHED, CONVERGED)]})
# Lynis' own profile additions for a Docker host: the engine needs forwarding and loads modules, which Lynis
# would otherwise score against it; no apt update of its own (the audit must not change the host's lists).
PROFILE = (
    "skip-test=KRNL-6000:net.ipv4.conf.all.forwarding\n"
    "skip-test=KRNL-6000:kernel.modules_disabled\n"
    "refresh-repositories=no\n"
)


def env() -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_VAULT_PASSWORD_FILE": str(PROJECT / "molecule" / "fleet" / "vault-password"),
        "ANSIBLE_TIMEOUT": "120",
    }


def playbook(*args: str) -> None:
    run = subprocess.run([VENV_BIN / "ansible-playbook", *args], cwd=PROJECT, env=env(), check=False,
                         capture_output=True, text=True)  # fmt: skip
    if run.returncode != 0:
        sys.exit(f"bench_hardening: ansible-playbook {' '.join(args)} failed:\n{run.stdout[-4000:]}")


def on_vm(name: str, command: str, given: str | None = None) -> str:
    port = (CACHE / "vms" / name / "port").read_text().strip()
    ssh = ["ssh", "-q", "-i", str(CACHE / "ssh" / "id_ed25519"), "-p", port, "-o", "StrictHostKeyChecking=no",
           "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "pi@127.0.0.1", command]  # fmt: skip
    return subprocess.run(ssh, input=given, capture_output=True, text=True, check=True, timeout=7200).stdout


def audit(name: str) -> tuple[int, list[str], list[str]]:
    """Lynis as root (not its unprivileged pentest mode), the whole audit: the index, the tests that scored
    less than their maximum (from its log) and the suggestions."""
    on_vm(name, "sudo DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && sudo DEBIAN_FRONTEND="
                "noninteractive apt-get install -y -q --no-install-recommends lynis >/dev/null")  # fmt: skip
    on_vm(name, "sudo tee /etc/lynis/custom.prf >/dev/null", PROFILE)
    start = time.monotonic()
    on_vm(name, "sudo lynis audit system --quick --no-colors > /dev/null 2>&1")
    report = on_vm(name, "sudo cat /var/log/lynis-report.dat")
    index = int(re.search(r"^hardening_index=(\d+)$", report, re.M).group(1))
    partial, test = [], "?"
    for line in on_vm(name, "sudo cat /var/log/lynis.log").splitlines():
        if found := re.search(r"Performing test ID (\S+) \((.*)\)", line):
            test = f"{found.group(1)} ({found.group(2)})"
        elif found := re.search(r"assigned partial number of hardening points \((\d+) of (\d+)\)", line):
            partial.append(f"{test}: {found.group(1)} of {found.group(2)}")
    suggestions = [line.split("=", 1)[1].split("|")[:2] for line in report.splitlines()
                   if line.startswith("suggestion[]=")]  # fmt: skip
    print(f"  {name}: hardening index {index} ({len(partial)} tests short of their points; "
          f"the audit took {time.monotonic() - start:.0f} s under TCG)", flush=True)  # fmt: skip
    return index, partial, [f"{test}: {text}" for test, text in suggestions]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the VMs running")
    args = parser.parse_args(argv)
    STATE.mkdir(parents=True, exist_ok=True)
    vms = ["-i", "localhost,", "-e", "ansible_python_interpreter={{ ansible_playbook_python }}",
           "-e", PLATFORMS, "-e", f"vm_state_dir={STATE}"]  # fmt: skip
    inventory = STATE / "hosts.yml"
    print(f"bench_hardening: booting {FLASHED} and {CONVERGED} (trixie, as flashed)", flush=True)
    playbook(*vms, "-e", f"vm_inventory={inventory}", str(PROJECT / "tools" / "vm" / "create.yml"))
    try:
        for kind in ("group_vars", "host_vars"):
            link = STATE / kind
            if not link.exists():
                link.symlink_to(PROJECT / "molecule" / "fleet" / "inventory" / kind)
        # Each VM is a core of its own under TCG: the flashed one's audit runs beside the other's converge.
        flashed = ThreadPoolExecutor(max_workers=1).submit(audit, FLASHED)
        start = time.monotonic()
        playbook("-i", str(inventory), "--limit", CONVERGED, str(PROJECT / "playbooks" / "site.yml"),
                 "--skip-tags", "gridbot")  # fmt: skip
        print(f"  site.yml (without the bot) converged {CONVERGED} in {time.monotonic() - start:.0f} s",
              flush=True)  # fmt: skip
        after, partial, suggestions = audit(CONVERGED)
        before = flashed.result()[0]
    finally:
        if not args.keep:
            playbook(*vms, str(PROJECT / "tools" / "vm" / "destroy.yml"))
    print(f"\nLynis hardening index: {before} as flashed, {after} after site.yml (goal {GOAL}: "
          f"{'met' if after >= GOAL else 'missed'})")  # fmt: skip
    print("Tests that scored less than their maximum after site.yml:")
    for line in partial:
        print(f"  {line}")
    print("What Lynis still suggests:")
    for line in suggestions:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
