#!/usr/bin/python3
"""The engine's upgrades that wait, for the node exporter's textfile collector: the engine and what it runs on
are held out of unattended upgrades (site.yml upgrades them one host at a time), so a security fix for them
waits until someone runs it. apt's own simulation (`apt-get --simulate --only-upgrade install` of the held
packages that are installed) names each upgrade and the suites its candidate comes from; one from a
`*-security` suite is a security update. Run by apt after each successful `apt-get update` (its daily timer's
included) and by the role. Written whole to a temporary file and renamed. Standard library only: it runs under
the host's python3.

Usage: pifleet-engine-updates.py DIRECTORY PACKAGE..."""

import os
import re
import subprocess
import sys
import time

# "Inst docker.io [20.10.24+dfsg1-1+b3] (20.10.24+dfsg1-1+deb12u1 Debian-Security:12/stable-security [arm64])"
INST = re.compile(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) ([^\[]*)")
SECURITY = re.compile(r"/\S*-security\b")


def installed(packages):
    argv = ["dpkg-query", "--show", "--showformat=${Package} ${db:Status-Abbrev}\n", *packages]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    rows = [line.split() for line in done.stdout.splitlines()]
    return [row[0] for row in rows if len(row) > 1 and row[1] == "ii"]


def upgrades(packages):
    """{package: (candidate, from a security suite)} of the installed ones apt would upgrade; None when apt
    could not say."""
    if not packages:
        return {}
    done = subprocess.run(["apt-get", "--simulate", "-o", "Debug::NoLocking=1", "--only-upgrade", "install",
                           *packages], capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        return None
    found = {}
    for line in done.stdout.splitlines():
        m = INST.match(line)
        if m is not None:
            found[m[1]] = (m[2], bool(SECURITY.search(m[3])))
    return found


def main():
    directory, held = sys.argv[1], sys.argv[2:]
    found = upgrades(installed(held))
    if found is None:
        sys.exit("pifleet-engine-updates: apt-get --simulate failed: nothing written")
    lines = ["# HELP pifleet_engine_update_pending 1 for each package of the engine apt would upgrade "
             "(held out of unattended upgrades: site.yml upgrades it); security: from a -security suite.",
             "# TYPE pifleet_engine_update_pending gauge"]  # fmt: skip
    for package, (candidate, security) in sorted(found.items()):
        lines.append(f'pifleet_engine_update_pending{{package="{package}",candidate="{candidate}",'
                     f'security="{str(security).lower()}"}} 1')  # fmt: skip
    lines += ["# HELP pifleet_engine_updates_checked_seconds When apt last said which it would upgrade.",
              "# TYPE pifleet_engine_updates_checked_seconds gauge",
              f"pifleet_engine_updates_checked_seconds {time.time():.0f}"]  # fmt: skip
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "pifleet-engine-updates.prom")
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
