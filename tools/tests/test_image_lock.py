"""The image's lock (bot/image/requirements.lock, written by `make lock`) against pyproject.toml: every
dependency the bot declares is pinned within its range, with a hash, so that a change of pyproject.toml
without a new lock fails here, not at the next image build."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = Path(__file__).resolve().parents[2]
LOCK = (PROJECT / "bot" / "image" / "requirements.lock").read_text()
DECLARED = [
    Requirement(r) for r in tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["dependencies"]
]


def pins() -> dict[str, tuple[str, list[str]]]:
    """{package: (version, [sha256 ...])} as the lock holds them."""
    entries = re.findall(
        r"^([a-z0-9-]+)==(\S+)((?: \\\n    --hash=sha256:[0-9a-f]{64})+)$", LOCK, re.MULTILINE
    )
    return {name: (version, re.findall(r"[0-9a-f]{64}", hashes)) for name, version, hashes in entries}


def test_every_line_of_the_lock_is_a_pin_with_its_hashes() -> None:
    entries = [line for line in LOCK.splitlines() if line and not line.startswith(("#", "    --hash"))]
    assert len(entries) == len(pins()), "a line the pattern does not read as name==version with hashes"
    assert re.search(r"^# python: [0-9]{3}$", LOCK, re.MULTILINE)


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    locked = pins()
    for req in DECLARED:
        name = canonicalize_name(req.name)
        assert name in locked, f"{req}: not in bot/image/requirements.lock (make lock)"
        assert req.specifier.contains(locked[name][0], prereleases=True), (
            f"{req}: the lock pins {locked[name][0]} (make lock)"
        )
