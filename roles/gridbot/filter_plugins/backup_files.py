"""What backup-fetch-bot.yml accepts of a bot's backup directory (unit-tested on the controller:
tools/tests/test_backup_fetch.py, with the playbook run whole against a directory a bot could have planted).

The bot writes that directory, so whatever is in it is the bot's word: a checksum file could hold anything
(files/stage_backup.py copies only regular files, never through a link). Of a checksum file only its 64 hex
digits are ever shown.
"""

from __future__ import annotations

import re
from typing import Any

_SHA256 = re.compile(r"[0-9a-f]{64}")


def backup_checksum(text: str) -> str:
    """The sha256 a checksum line (`<hex>  <name>`) holds; '' when it holds none, so that nothing else of the
    file is ever shown."""
    words = str(text).split(maxsplit=1)
    return words[0] if words and _SHA256.fullmatch(words[0]) else ""


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"backup_checksum": backup_checksum}
