"""The exchange's last Retry-After, kept across restarts.

Binance bans an IP (418, from 2 minutes up to 3 days) that sends again before a 429's Retry-After has passed.
The circuit breaker keeps that wait in memory; a bot killed inside it (OOM, SIGKILL, a power cut) and started
again at once by its container's restart policy would send at once and be banned. The wait's end is written
here when the exchange gives it, and a new process opens its breaker for what is left of it.

Bots behind one IP (several on a Pi) share a second such file (`exchange.ip_quiet_dir`): the exchange bans the
IP, so a Retry-After one bot is given holds every bot's calls, read before each call."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

FILE_NAME = "rate_limited_until"
MAX_WAIT_S = 3 * 86_400.0  # Binance's longest IP ban: nothing here makes a bot wait longer


class QuietFile:
    """When the exchange may be asked again (epoch seconds) and when that was written, in `state_dir`."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE_NAME

    def left(self, now: float) -> float:
        """Seconds from `now` the exchange must not be asked; 0 when none, or the file is unreadable (it is
        only ours). A clock that went back since the write (a Pi without a clock battery, before NTP) gets
        the wait as it was given, not the skew."""
        try:
            until, written = (float(x) for x in self.path.read_text().split())
        except (OSError, ValueError):
            return 0.0
        if not (math.isfinite(until) and math.isfinite(written)) or until <= written:
            return 0.0
        wait = until - written if now < written else until - now
        return min(max(wait, 0.0), MAX_WAIT_S)

    def write(self, until: float, now: float) -> None:
        """Replace the stored wait atomically, never with a shorter one (bots behind one IP share a file);
        a failure (a full disk) costs the guard, never the cycle."""
        until = max(until, now + self.left(now))
        tmp = self.path.with_name(f"{self.path.name}.{os.urandom(4).hex()}.tmp")  # a writer's own
        try:
            tmp.write_text(f"{until:.3f} {now:.3f}\n")
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
