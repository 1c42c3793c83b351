"""Stock ansible-playbook for the tools' tests: the venv's, run in a scratch directory, away from the
project's ansible.cfg, so what a test renders does not depend on the project's settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
# An inventory host that is this machine, reached as the tests' own user (no sudo here) with this Python.
LOCAL_HOST = {
    "ansible_connection": "local",
    "ansible_become": False,
    "ansible_python_interpreter": sys.executable,
}


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


def rendered_vars(
    tmp_path: Path, vars_files: list[Path], given: dict[str, Any], wanted: dict[str, str], **env: str
) -> dict[str, Any]:
    """What Ansible itself renders of role variables: `wanted` maps each name of the answer to the expression
    rendered on localhost with `vars_files` (a role's vars/main.yml) and `given` (what registered results
    would set), in a stock run away from the project's ansible.cfg (`env`: e.g. a role's filter plugins)."""
    out = tmp_path / "rendered.json"
    content = "{{ {" + ", ".join(f"'{name}': {expr}" for name, expr in wanted.items()) + "} | to_json }}"
    playbook = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars_files": [str(f) for f in vars_files],
            "vars": given,
            "tasks": [
                {
                    "name": "Write what is rendered",
                    "ansible.builtin.copy": {"dest": str(out), "content": content, "mode": "0644"},
                }
            ],
        }
    ]
    (tmp_path / "play.yml").write_text(json.dumps(playbook))
    run = stock_playbook(
        tmp_path, "-i", "localhost,", tmp_path / "play.yml", ANSIBLE_LOCALHOST_WARNING="False", **env
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return json.loads(out.read_text())
