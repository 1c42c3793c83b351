"""Stock ansible-playbook for the tools' tests: the venv's, run in a scratch directory, away from the
project's ansible.cfg, so what a test renders does not depend on the project's settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def stock_playbook(tmp_path: Path, *args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`ansible-playbook ARGS` in `tmp_path` with HOME there and only the venv and the system on PATH."""
    return subprocess.run(
        [BIN / "ansible-playbook", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path), **env},
    )
