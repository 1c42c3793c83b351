"""site.yml's engine upgrade on 8 hosts: one host at a time in play order, the first failure ending it for
every host. The engine's packages are stood in for by a canary package (upgrading the real engine to a version
made here would break the fleet the other tests need): version 1 installed on every host, version 2 in an apt
repository on each, held like the engine through the role's own list of held packages."""

import base64
import hashlib
import itertools
import json
import subprocess
from pathlib import Path

from fleet import hosts, play_order, playbook

CANARY = "pifleet-canary"
REPO = "/var/local/pifleet-canary"
SOURCE = "/etc/apt/sources.list.d/pifleet-canary.list"
HELD = "/etc/apt/apt.conf.d/53pifleet-docker-engine"  # the role's unattended-upgrades blacklist
FAILS = "/etc/pifleet-canary-fails"  # where it exists, version 2's postinst fails
LOG = "/var/lib/pifleet-canary.log"  # version 2's postinst: its start and end, one line per upgrade
# 2 s inside dpkg's configure step: two hosts upgrading at once would overlap by seconds, not microseconds
POSTINST = f"""#!/bin/sh
set -e
[ "$1" = configure ] || exit 0
start=$(date +%s.%N)
if [ -e {FAILS} ]; then echo "{CANARY}: told to fail on this host" >&2; exit 1; fi
sleep 2
echo "$start $(date +%s.%N)" >> {LOG}
"""


def build(out: Path) -> dict[str, bytes]:
    """Versions 1 and 2 of the canary and the flat repository's index for 2: its files by name."""
    files = {}
    for version in ("1", "2"):
        root = out / f"pkg-{version}"
        (root / "DEBIAN").mkdir(parents=True)
        (root / "DEBIAN" / "control").write_text(
            f"Package: {CANARY}\nVersion: {version}\nArchitecture: all\n"
            "Maintainer: pifleet <tests@localhost>\nDescription: the engine's stand-in in the upgrade test\n"
        )
        if version == "2":
            (root / "DEBIAN" / "postinst").write_text(POSTINST)
            (root / "DEBIAN" / "postinst").chmod(0o755)
        deb = out / f"{CANARY}_{version}_all.deb"
        subprocess.run(["dpkg-deb", "--root-owner-group", "-b", root, deb], check=True, capture_output=True)
        files[deb.name] = deb.read_bytes()
    new = f"{CANARY}_2_all.deb"
    control = subprocess.run(["dpkg-deb", "-f", out / new], capture_output=True, text=True, check=True).stdout
    data = files[new]
    sha256 = hashlib.sha256(data).hexdigest()
    files["Packages"] = (
        f"{control.rstrip()}\nFilename: ./{new}\nSize: {len(data)}\nSHA256: {sha256}\n\n".encode()
    )
    return files


def sudo(host, command):
    out = host.run(f"sudo sh -c {json.dumps(command)}")
    assert out.rc == 0, (command, out.stdout, out.stderr)
    return out.stdout


def canary(host):
    """The canary's version and dpkg's status letters ("ii": configured; "iF": its configure step failed)."""
    return host.run(f"dpkg-query -W -f '${{Version}} ${{db:Status-Abbrev}}' {CANARY}").stdout.strip()


def test_an_engine_upgrade_goes_one_host_at_a_time_and_stops_at_the_first_that_fails(tmp_path):
    """Version 2 is found on all 8 hosts; site.yml upgrades the first three in play order, each upgrade over
    before the next begins (the hosts' own clocks, shared with the controller's kernel), fails on the fourth
    (told to fail there), and the last four keep version 1: one bad upgrade stops at one host. No host is left
    holding the change lock, and every engine still answers."""
    fleet = hosts()
    order = play_order()
    done, doomed, untouched = order[:3], order[3], order[4:]
    files = build(tmp_path)
    saved = {}
    try:
        for name, h in fleet.items():
            saved[name] = sudo(h, f"cat {HELD}")
            sudo(h, f"mkdir -p {REPO}")
            for file, data in files.items():
                sudo(h, f"echo {base64.b64encode(data).decode()} | base64 -d > {REPO}/{file}")
            sudo(h, f"dpkg -i {REPO}/{CANARY}_1_all.deb && echo 'deb [trusted=yes] file:{REPO} ./' > {SOURCE}"
                    f" && apt-get update -o Dir::Etc::sourcelist={SOURCE} -o Dir::Etc::sourceparts=-"
                    " -o APT::Get::List-Cleanup=0")  # fmt: skip
        sudo(fleet[doomed], f"touch {FAILS}")
        held = {"__docker_engine_held": {"debian": [CANARY], "docker": [CANARY]}}
        run = playbook("site.yml", "--tags", "docker_engine_install", "-e", json.dumps(held))
        assert run.returncode != 0, run.stdout[-3000:]
        assert f"fatal: [{doomed}]" in run.stdout, run.stdout[-3000:]
        assert {name: canary(fleet[name]) for name in order} == {
            **dict.fromkeys(done, "2 ii"),
            doomed: "2 iF",
            **dict.fromkeys(untouched, "1 ii"),
        }
        spans = []
        for name in done:
            lines = fleet[name].run(f"cat {LOG}").stdout.split("\n")[:-1]
            assert len(lines) == 1, (name, lines)
            spans.append(tuple(map(float, lines[0].split())))
        for (name_a, (_, end)), (name_b, (start, _)) in itertools.pairwise(zip(done, spans, strict=True)):
            assert start >= end, f"{name_b}'s upgrade began {end - start:.2f} s before {name_a}'s was over"
        for name, h in fleet.items():
            assert h.run("test -e /run/pifleet/change.lock").rc != 0, f"{name}: the change lock was left"
            assert h.run("sudo docker version --format '{{.Server.Version}}'").rc == 0, f"{name}: no engine"
    finally:
        for name, h in fleet.items():
            h.run(f"sudo dpkg --purge --force-all {CANARY}; sudo rm -rf {REPO} {SOURCE} {FAILS} {LOG}"
                  " /var/lib/apt/lists/_var_local_pifleet-canary_*")  # fmt: skip
            if name in saved:
                h.run(f"echo {base64.b64encode(saved[name].encode()).decode()} | base64 -d | sudo tee {HELD}")
