"""What prune.yml removes, chosen in Python (unit-tested on the controller: tools/tests/test_prune.py).

The SD card is small, and a wrong choice here removes what a rollback needs: an image some bot of the host
keeps among those that passed its gate here, or a bot's newest config backups. So the choice is made here,
from what the tasks read, and the tasks only remove what it names.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def images_to_remove(
    present: Iterable[str], records: Sequence[Mapping[str, Any]], passed: Sequence[str]
) -> list[str]:
    """The host's gridbot images (`present`, docker's ids) that no bot keeps: not in any bot's record of the
    images that passed its gate here (`records`, slurp's results: base64 of one id per line) nor among those
    the bot just deployed keeps (`passed`). Each id once, in the order docker listed them."""
    kept = set(passed)
    for record in records:
        kept.update(base64.b64decode(record["content"]).decode(errors="surrogateescape").split())
    return [image for image in dict.fromkeys(present) if image not in kept]


def backups_beyond(found: Sequence[Mapping[str, Any]], keep: int) -> list[str]:
    """The backups past the newest `keep` of each file: `found` holds one find result per file of a bot (its
    `files`, each with `path` and `mtime`), so that one file's backups never count against another's."""
    if int(keep) < 1:
        raise ValueError(f"gridbot_keep_versions must be 1 or more; got {keep!r}")
    old: list[str] = []
    for result in found:
        newest_first = sorted(result.get("files") or [], key=lambda f: f["mtime"], reverse=True)
        old.extend(f["path"] for f in newest_first[int(keep) :])
    return old


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"images_to_remove": images_to_remove, "backups_beyond": backups_beyond}
