"""The exchange's last Retry-After, kept across restarts.

Binance bans an IP (418, from 2 minutes up to 3 days) that sends again before a 429's Retry-After has passed.
The circuit breaker keeps that wait in memory; a bot killed inside it (OOM, SIGKILL, a power cut) and started
again at once by its container's restart policy would send at once and be banned. The wait's end is written
here when the exchange gives it, and a new process opens its breaker for what is left of it."""

from __future__ import annotations

import math
import os
from pathlib import Path

FILE_NAME = "rate_limited_until"


class QuietFile:
    """Wall-clock time (epoch seconds) before which the exchange must not be asked, in `state_dir`."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE_NAME

    def read(self) -> float:
        """The stored end of the wait; 0 when there is none (or it is unreadable: the file is only ours)."""
        try:
            value = float(self.path.read_text().strip())
        except (OSError, ValueError):
            return 0.0
        return value if math.isfinite(value) else 0.0

    def write(self, until: float) -> None:
        """Replace the stored end atomically; a failure (a full disk) costs the guard, never the cycle."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(f"{until:.3f}\n")
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)
