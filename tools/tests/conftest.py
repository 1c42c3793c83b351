"""Fixtures the controller's tool tests share."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from monitoring_services import patched_alertmanager

PROJECT = Path(__file__).resolve().parents[2]
PROM_TOOLS = PROJECT / "tools" / "host" / "prom-tools.sh"


@pytest.fixture(scope="session")
def prom_tools() -> Path:
    """The directory holding promtool, amtool, vmalert, victoria-metrics and nginx, from Debian's packages
    (downloaded once)."""
    done = subprocess.run([PROM_TOOLS], capture_output=True, text=True, check=False, timeout=900)
    if done.returncode != 0:
        # A failure, never a skip: these tests are the only check of the alerting before a Pi runs it.
        pytest.fail(
            f"{PROM_TOOLS.relative_to(PROJECT)} could not provide promtool, amtool, vmalert, "
            "victoria-metrics and nginx from Debian's packages prometheus, prometheus-alertmanager, "
            f"victoria-metrics and nginx (apt-get download from deb.debian.org): exit {done.returncode}\n"
            f"{done.stderr[-3000:]}"
        )
    found = Path(done.stdout.strip())
    for tool in ("promtool", "amtool", "vmalert", "victoria-metrics", "nginx"):
        assert (found / tool).is_file(), f"no {tool} in {done.stdout}"
    return found


@pytest.fixture(scope="module")
def alertmanager_binary(prom_tools: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Debian's Alertmanager, run from the cache (monitoring_services.patched_alertmanager)."""
    return patched_alertmanager(prom_tools, tmp_path_factory.mktemp("alertmanager"))
