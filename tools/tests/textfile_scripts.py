"""Host scripts that write a file for the node exporter's textfile collector (pi_host's collector,
docker_engine's report of the engine's upgrades), run as their timer or apt's hook runs them: the host's tools
answering from shell scripts put first on PATH, and what they wrote read back through the exposition
parser."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def run_with_tools(
    tmp_path: Path, tools: Mapping[str, str], script: Path, *args: str | Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """SCRIPT ARGS under the host's python, each of TOOLS (name: shell script) answering from PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in tools.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return subprocess.run(
        [sys.executable, script, *args],
        env={**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def written(directory: Path, name: str) -> Samples:
    """The samples of file NAME, the only file in DIRECTORY (no temporary file left behind)."""
    assert [p.name for p in directory.iterdir()] == [name], "no temporary file left behind"
    found = {}
    for family in text_string_to_metric_families((directory / name).read_text()):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found
