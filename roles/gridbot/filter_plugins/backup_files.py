"""What backup-fetch-bot.yml accepts of a bot's backup directory (unit-tested on the controller:
tools/tests/test_backup_fetch.py, with the playbook run whole against a directory a bot could have planted).

The bot writes that directory, so whatever is in it is the bot's word: a link there would have root on the
host read what it points to, and a checksum file could hold anything. Only regular files are copied, and of a
checksum file only its 64 hex digits are ever shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_SHA256 = re.compile(r"[0-9a-f]{64}")


def backup_pair_problems(results: Sequence[Mapping[str, Any]], newest: str) -> list[str]:
    """What is wrong with the newest backup and its checksum file, from stat's results (links not followed,
    looped over the suffixes '' and '.sha256' as __gridbot_backup_part), each named by its path: missing, a
    symbolic link, or not a regular file."""
    problems = []
    for result in results:
        st = result.get("stat") or {}
        path = newest + str(result.get("__gridbot_backup_part", ""))
        if not st.get("exists"):
            problems.append(f"{path} is missing")
        elif st.get("islnk"):
            problems.append(f"{path} is a symbolic link (not followed)")
        elif not st.get("isreg"):
            problems.append(f"{path} is not a regular file")
    return problems


def backup_checksum(text: str) -> str:
    """The sha256 a checksum line (`<hex>  <name>`) holds; '' when it holds none, so that nothing else of the
    file is ever shown."""
    words = str(text).split(maxsplit=1)
    return words[0] if words and _SHA256.fullmatch(words[0]) else ""


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"backup_pair_problems": backup_pair_problems, "backup_checksum": backup_checksum}
