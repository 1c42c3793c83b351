"""docker_engine's report of the engine's waiting upgrades (its files/pifleet-engine-updates.py), run as
apt's hook runs it, with `dpkg-query` and `apt-get` answering from a directory put first on PATH: only
the installed held packages are asked about, each upgrade apt would make is a series naming its candidate and
whether it comes from a security suite, and a simulation that fails leaves the last report in place."""

from __future__ import annotations

import subprocess
from pathlib import Path

from textfile_scripts import Samples, run_with_tools, written

SCRIPT = (
    Path(__file__).resolve().parents[2] / "roles" / "docker_engine" / "files" / "pifleet-engine-updates.py"
)
HELD = ["docker.io", "docker-cli", "docker-compose", "containerd", "runc"]
DPKG = """cat <<'LIST'
docker.io ii
docker-cli un
containerd ii
runc ii
LIST"""


def report(tmp_path: Path, apt_get: str, dpkg: str = DPKG) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "textfile"
    return run_with_tools(tmp_path, {"dpkg-query": dpkg, "apt-get": apt_get}, SCRIPT, out, *HELD), out


def samples(out: Path) -> Samples:
    return written(out, "pifleet-engine-updates.prom")


def test_each_upgrade_of_an_installed_held_package_and_whether_it_is_a_security_fix(tmp_path: Path) -> None:
    asked = "--simulate -o Debug::NoLocking=1 --only-upgrade install docker.io containerd runc"
    security = "Debian:12.8/stable, Debian-Security:12/stable-security [arm64]"
    simulated = [
        "NOTE: This is only a simulation!",
        f"Inst docker.io [20.10.24+dfsg1-1+b3] (20.10.24+dfsg1-1+deb12u1 {security})",
        "Inst runc [1.1.5+ds1-1+b1] (1.1.5+ds1-1+deb12u1 Debian:12.8/stable [arm64])",
        f"Conf docker.io (20.10.24+dfsg1-1+deb12u1 {security})",
        "Conf runc (1.1.5+ds1-1+deb12u1 Debian:12.8/stable [arm64])",
    ]
    newline = "\n"
    apt_get = f"""[ "$*" = "{asked}" ] || {{ echo "asked: $*" >&2; exit 3; }}
cat <<'SIM'
{newline.join(simulated)}
SIM"""
    done, out = report(tmp_path, apt_get)
    assert done.returncode == 0, done.stderr
    got = samples(out)
    pending = {
        dict(k[1])["package"]: dict(k[1]) for k, v in got.items() if k[0] == "pifleet_engine_update_pending"
    }
    assert pending == {
        "docker.io": {"package": "docker.io", "candidate": "20.10.24+dfsg1-1+deb12u1", "security": "true"},
        "runc": {"package": "runc", "candidate": "1.1.5+ds1-1+deb12u1", "security": "false"},
    }
    assert got[("pifleet_engine_updates_checked_seconds", ())] > 1.7e9


def test_nothing_to_upgrade_is_a_check_with_no_pending_series(tmp_path: Path) -> None:
    done, out = report(tmp_path, "echo 'NOTE: This is only a simulation!'")
    assert done.returncode == 0, done.stderr
    got = samples(out)
    assert [k for k in got if k[0] == "pifleet_engine_update_pending"] == []
    assert got[("pifleet_engine_updates_checked_seconds", ())] > 1.7e9
    # No held package installed (another source's engine): apt is not asked, the check is still written.
    done, out = report(tmp_path, "echo asked >&2; exit 3", dpkg="true")
    assert done.returncode == 0, done.stderr
    assert ("pifleet_engine_updates_checked_seconds", ()) in samples(out)


def test_a_simulation_that_fails_leaves_the_last_report(tmp_path: Path) -> None:
    done, out = report(tmp_path, "echo 'Inst runc [1] (2 Debian-Security:12/stable-security [arm64])'")
    assert done.returncode == 0, done.stderr
    before = (out / "pifleet-engine-updates.prom").read_text()
    done, out = report(tmp_path, "echo 'E: Could not get lock /var/lib/dpkg/lock-frontend' >&2; exit 100")
    assert done.returncode != 0
    assert "apt-get --simulate failed: nothing written" in done.stderr
    assert (out / "pifleet-engine-updates.prom").read_text() == before
    assert 'package="runc"' in before
