"""Every relative link in the project's markdown (README.md, docs/, the roles' and the exchange's READMEs)
names a file that exists and, with a #fragment, a heading that file has (GitHub's anchors): pages were split
and will be again, and a link that silently points nowhere is how a reader gets lost."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
PAGES = sorted(
    [
        TOP / "README.md",
        TOP / "tools/exchange/README.md",
        *(TOP / "docs").glob("*.md"),
        *(TOP / "roles").glob("*/README.md"),
    ]
)
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """The text without code blocks and inline code, where brackets and parentheses are not links."""
    return CODE.sub("", FENCE.sub("", text))


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but - and _ dropped, spaces as -, repeats -1, -2."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        found.add(slug if n == 0 else f"{slug}-{n}")
        seen[slug] = n + 1
    return found


def broken_links(page: Path) -> list[str]:
    broken = []
    for link in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z]+:", link):  # https:, mailto:: not this test's to judge
            continue
        target, _, fragment = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(f"{link}: no such file")
        elif fragment and path.suffix == ".md" and fragment not in anchors(path):
            broken.append(f"{link}: no heading with that anchor in {path.name}")
    return broken


def test_the_pages_are_found() -> None:
    assert TOP / "README.md" in PAGES
    assert len([p for p in PAGES if p.parent.name == "docs"]) >= 5


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(TOP)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_a_missing_file_and_a_missing_heading_are_caught(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## `make test`'s run time\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#make-tests-run-time) [gone](missing.md) [no anchor](other.md#nowhere)\n"
        "`[code](missing.md)` [web](https://example.org/x)\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#nowhere: no heading with that anchor in other.md",
    ]
