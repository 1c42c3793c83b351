"""The state directory's run lock: one `gridbot run` per state, and no restore beside a running bot."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from gridbot.ops.store import StoreError


class RunLock:
    """The state directory's run lock: held by `gridbot run` for its lifetime, taken by a restore first.

    An OS lock (flock) on the directory itself: no lock file to leave behind or to clean up, and a bot killed
    with SIGKILL or a power cut holds nothing after it."""

    def __init__(self, state_dir: Path, who: str) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise StoreError(
                f"{state_dir}: a gridbot runs on this state (its run lock is held): {who} needs it stopped"
            ) from None

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = -1
