"""prune.yml's choice (roles/gridbot/filter_plugins/prune.py): what a rollback needs is never removed, what no
bot keeps is."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from modules import load_module

PROJECT = Path(__file__).resolve().parents[2]
prune = load_module(PROJECT / "roles/gridbot/filter_plugins/prune.py", "prune")

ids = st.sampled_from([f"sha256:{c * 64}" for c in "0123456789abcdef"])


def record(images: list[str]) -> dict[str, str]:
    """A bot's known-good/images as slurp returns it."""
    return {"content": base64.b64encode("".join(f"{i}\n" for i in images).encode()).decode()}


@given(st.lists(ids), st.lists(st.lists(ids, max_size=3), max_size=4), st.lists(ids, max_size=3))
def test_an_image_is_removed_exactly_when_no_bot_keeps_it(
    present: list[str], records: list[list[str]], passed: list[str]
) -> None:
    removed = prune.images_to_remove(present, [record(r) for r in records], passed)
    kept = {i for r in records for i in r} | set(passed)
    assert set(removed) == set(present) - kept
    assert len(removed) == len(set(removed))  # docker lists an image once per tag: removed once


def test_a_neighbours_record_keeps_its_image() -> None:
    mine, theirs, old = (f"sha256:{c * 64}" for c in "abc")
    assert prune.images_to_remove([mine, theirs, old, old], [record([theirs])], [mine]) == [old]


files = st.lists(st.integers(0, 10**9), unique=True, max_size=8)


@given(st.lists(files, max_size=4), st.integers(1, 5))
def test_each_file_keeps_its_own_newest_backups(mtimes: list[list[int]], keep: int) -> None:
    found = [
        {"files": [{"path": f"/bot/{n}.yml.{t}~", "mtime": t} for t in times]}
        for n, times in enumerate(mtimes)
    ]
    removed = set(prune.backups_beyond(found, keep))
    for n, times in enumerate(mtimes):
        newest = sorted(times, reverse=True)
        assert {f"/bot/{n}.yml.{t}~" for t in newest[keep:]} <= removed
        assert not {f"/bot/{n}.yml.{t}~" for t in newest[:keep]} & removed


def test_a_file_without_backups_removes_nothing() -> None:
    assert prune.backups_beyond([{"files": []}, {"skipped": True}], 3) == []


@pytest.mark.parametrize("keep", [0, -1])
def test_keeping_none_is_refused(keep: int) -> None:
    with pytest.raises(ValueError, match="gridbot_keep_versions"):
        prune.backups_beyond([], keep)
