"""The built gridbot image, run for real with the hardening flags and limits the deploy role uses.

Runs only when GRIDBOT_IMAGE_ARCHES names architectures whose images were built (`make image-test`):
amd64 natively, arm64 under qemu-user binfmt. The flags, limits and uid are read from the gridbot role
(vars/main.yml, defaults/main.yml), so the image is tested as it is deployed.
"""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from gridbot import contract

ARCHES = [a for a in os.environ.get("GRIDBOT_IMAGE_ARCHES", "").split() if a]
GOLDEN = Path(__file__).parents[1] / "golden" / "backtest_summary.json"
ROLE = Path(__file__).resolve().parents[3] / "roles" / "gridbot"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
HARDENING = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__gridbot_hardening"]
UID = DEFAULTS["gridbot_uid"]
HARDENED = [
    *(["--read-only"] if HARDENING["read_only"] else []),
    *(f"--cap-drop={c}" for c in HARDENING["cap_drop"]),
    *(f"--security-opt={o}" for o in HARDENING["security_opt"]),
    "--tmpfs", f"/tmp:size={DEFAULTS['gridbot_tmpfs_size']},mode=1777",
    "--memory", DEFAULTS["gridbot_memory"], "--cpus", str(DEFAULTS["gridbot_cpus"]),
    "--pids-limit", str(DEFAULTS["gridbot_pids_limit"]), "--user", f"{UID}:{UID}",
]  # fmt: skip

pytestmark = pytest.mark.skipif(not ARCHES, reason="no image built: run `make image-test`")


def docker(*args, check=True, timeout=600):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout)


@pytest.fixture(params=ARCHES)
def image(request):
    return f"gridbot:latest-{request.param}"


@pytest.fixture
def container(image):
    names = []

    def start(*extra):
        name = f"gridbot-test-{os.getpid()}-{len(names)}"
        names.append(name)
        docker("run", "-d", "--name", name, *HARDENED, *extra, image)
        return name

    yield start
    for name in names:
        docker("rm", "-f", "-v", name, check=False)


def health(name):
    return docker("inspect", "-f", "{{.State.Health.Status}}", name).stdout.strip()


def wait_for(name, status, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if health(name) == status:
            return time.monotonic()
        time.sleep(0.2)
    pytest.fail(f"{name} not {status} after {timeout}s: {docker('logs', name, check=False).stderr[-2000:]}")


def test_image_metadata(image):
    arch = image.rsplit("-", 1)[1]
    info = json.loads(docker("image", "inspect", image).stdout)[0]
    assert info["Architecture"] == arch
    assert info["Config"]["User"] == f"{UID}:{UID}"
    assert info["Config"]["Labels"]["org.opencontainers.image.version"]
    assert info["Config"]["Healthcheck"]["Test"] == ["CMD", "gridbot", "health"]


def test_runtime_is_the_interpreter_the_bot_and_their_libraries_only(image):
    """No shell, no coreutils, no package manager, no pip, no compilers: nothing to exec into but Python."""
    name = docker("create", image).stdout.strip()
    try:
        export = subprocess.run(f"docker export {name} | tar -t", shell=True, capture_output=True, text=True,
                                check=True)  # fmt: skip
    finally:
        docker("rm", name)
    files = {"/" + line.rstrip("/") for line in export.stdout.splitlines()}
    assert {"/usr/bin/python3", "/usr/local/bin/gridbot", "/etc/passwd", "/data", "/tmp"} <= files
    absent = {"/usr/bin/sh", "/usr/bin/bash", "/usr/bin/dash", "/usr/bin/cat", "/usr/bin/apt-get",
              "/usr/bin/dpkg", "/var/lib/dpkg", "/var/lib/apt", "/usr/bin/gcc", "/usr/bin/cc"}  # fmt: skip
    assert not absent & files
    assert not [f for f in files if f.endswith(("/pip", "/ensurepip"))]
    shell = docker("run", "--rm", "--entrypoint", "sh", image, check=False)
    assert shell.returncode != 0
    assert "executable file not found" in shell.stderr


def test_backtest_in_the_container_matches_outside(image):
    out = docker("run", "--rm", *HARDENED, image, "backtest", "--json", "--trades", "/tmp/t.csv")
    assert json.loads(out.stdout) == json.loads(GOLDEN.read_text())


def test_healthy_then_unhealthy_when_the_loop_stops_then_clean_sigterm(container):
    name = container("--health-interval", "1s", "--health-retries", "1", "--health-start-period", "60s")
    wait_for(name, "healthy", 120)
    docker("kill", "--signal", "SIGSTOP", name)  # the loop (PID 1) stops; the healthcheck still runs
    wait_for(name, "unhealthy", 120)
    docker("kill", "--signal", "SIGCONT", name)
    wait_for(name, "healthy", 120)
    started = time.monotonic()
    docker("stop", "-t", "30", name)
    assert time.monotonic() - started < 30
    assert docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    logs = docker("logs", name).stdout
    assert "stopped after cycle" in logs


def run_python(image, code):
    return docker("run", "--rm", *HARDENED, "--entrypoint", "python3", image, "-c", code, check=False)


def test_sqlite3_works_in_the_image(image):
    """The store keeps its state in SQLite (WAL): the stdlib module and its library ship in the image."""
    code = (
        "import sqlite3; c = sqlite3.connect('/tmp/t.db');"
        "print(c.execute('pragma journal_mode=wal').fetchone()[0]);"
        "c.execute('create table t (x)'); c.execute('insert into t values (1)'); c.commit();"
        "print(c.execute('select sum(x) from t').fetchone()[0])"
    )
    out = run_python(image, code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["wal", "1"]


def test_the_contract_values_are_the_images(image):
    info = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert info["WorkingDir"] == str(contract.DATA_DIR)
    assert str(contract.DATA_DIR) in info["Volumes"]
    assert f"{contract.HTTP_PORT}/tcp" in info["ExposedPorts"]
    out = run_python(
        image, "from gridbot import contract, health; print(health.DEFAULT_HEARTBEAT, contract.HTTP_PORT)"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(contract.HEARTBEAT_FILE), str(contract.HTTP_PORT)]
