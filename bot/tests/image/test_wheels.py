"""The image's dependencies come only as the lock pins them (bot/image/wheels.sh, pip --require-hashes): the
wheels `make image` fetched, offered again from a directory instead of PyPI, pass; the same with one wheel
altered fail, naming it. Runs after `make image` for the architectures GRIDBOT_IMAGE_ARCHES names."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ARCHES = [a for a in os.environ.get("GRIDBOT_IMAGE_ARCHES", "").split() if a]
LOCK = ROOT / "bot" / "image" / "requirements.lock"
PYVER = re.search(r"^# python: ([0-9]+)$", LOCK.read_text(), re.MULTILINE)

pytestmark = pytest.mark.skipif(not ARCHES, reason="no image built: run `make image-test`")


def fetch(arch: str, links: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    """wheels.sh for `arch`, its index the directory `links` (no network)."""
    assert PYVER is not None
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(links), "PYTHON": sys.executable}
    return subprocess.run(
        [ROOT / "bot" / "image" / "wheels.sh", arch, PYVER[1], dest],
        capture_output=True, text=True, env=env, check=False, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("arch", ARCHES)
def test_only_the_locked_wheels_pass(tmp_path: Path, arch: str) -> None:
    links = tmp_path / "links"
    shutil.copytree(ROOT / ".cache" / "image" / arch / "wheels", links)
    ok = fetch(arch, links, tmp_path / "ok")
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "ok").iterdir()) == sorted(
        p.name for p in links.iterdir() if not p.name.startswith("pifleet_gridbot-")
    )

    (idna,) = links.glob("idna-*.whl")
    idna.write_bytes(idna.read_bytes() + b"\0")
    bad = fetch(arch, links, tmp_path / "bad")
    assert bad.returncode != 0
    assert "DO NOT MATCH THE HASHES" in bad.stderr
    assert re.search(r"^\s+idna==", bad.stderr, re.MULTILINE), bad.stderr[-3000:]
