"""Each role stands alone: none reads another's files (its `vars/`, `defaults/`, tasks) nor another's internal
variables (`__<role>_...`). What roles share goes through a place meant for it: a variable the playbook hands
over (site.yml's `monitoring_scrape_host_defaults`, the hardening play's `__hardening_site_*`), or a role's
public variables, documented in its README."""

import re
from pathlib import Path

import pytest

ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"
ROLES = sorted(p.name for p in ROLES_DIR.iterdir() if p.is_dir())
SOURCES = {".yml", ".yaml", ".j2", ".py"}


def findings(role: str, roles_dir: Path = ROLES_DIR) -> list[str]:
    others = "|".join(re.escape(p.name) for p in roles_dir.iterdir() if p.is_dir() and p.name != role)
    internal = re.compile(rf"\b__({others})_\w+")
    path = re.compile(rf"(?:\.\./|roles/)({others})/")
    found = []
    for f in sorted((roles_dir / role).rglob("*")):
        if not f.is_file() or f.suffix not in SOURCES:
            continue
        for n, line in enumerate(f.read_text().splitlines(), 1):
            where = f"{f.relative_to(roles_dir)}:{n}"
            found += [f"{where}: {m.group(0)}" for m in [*internal.finditer(line), *path.finditer(line)]]
    return found


@pytest.mark.parametrize("role", ROLES)
def test_a_role_reads_no_other_roles_files_nor_internal_variables(role):
    assert findings(role) == []


def test_the_check_finds_what_it_looks_for(tmp_path):
    """A role that reads a sibling's vars file and uses its internal register is found, line by line."""
    for name in ("alpha", "beta"):
        (tmp_path / name / "vars").mkdir(parents=True)
    (tmp_path / "alpha" / "vars" / "main.yml").write_text(
        "__alpha_arch: \"{{ lookup('file', role_path ~ '/../beta/vars/main.yml') }}\"\n"
        '__alpha_pending: "{{ __beta_installed is changed }}"\n'
        '__alpha_own: "{{ __alpha_arch }}"\n'
    )
    assert findings("alpha", tmp_path) == [
        "alpha/vars/main.yml:1: ../beta/",
        "alpha/vars/main.yml:2: __beta_installed",
    ]
    assert findings("beta", tmp_path) == []
