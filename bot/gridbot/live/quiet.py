"""The exchange's last Retry-After, kept across restarts, and shared with the bots behind the same IP.

Binance bans an IP (418, from 2 minutes up to 3 days) that sends again before a 429's Retry-After has passed.
The circuit breaker keeps that wait in memory; a bot killed inside it (OOM, SIGKILL, a power cut) and started
again at once by its container's restart policy would send at once and be banned. The wait's end is written
here when the exchange gives it, and a new process opens its breaker for what is left of it.

Several bots on a Pi are behind one IP, and the ban is the IP's: each writes the waits it is given to a file
of its own in a directory they share (`exchange.ip_quiet_dir`; its own file, so no writer loses another's
wait), and heeds the others' before each call (`IpQuiet`)."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

FILE_NAME = "rate_limited_until"
MAX_WAIT_S = 3 * 86_400.0  # Binance's longest IP ban: nothing here makes a bot wait longer

Stamps = tuple[float, float]  # (until, written), epoch seconds


def wait_left(stamps: Stamps | None, now: float) -> float:
    """Seconds from `now` the exchange must not be asked. A clock that went back since the write (a Pi without
    a clock battery, before NTP) gets the wait as it was given, not the skew."""
    if stamps is None:
        return 0.0
    until, written = stamps
    wait = until - written if now < written else until - now
    return min(max(wait, 0.0), MAX_WAIT_S)


class QuietFile:
    """When the exchange may be asked again and when that was written: one writer's file."""

    def __init__(self, directory: Path, name: str = FILE_NAME) -> None:
        self.path = directory / name

    def stamps(self) -> Stamps | None:
        """The stored wait; None when there is none, or the file is unreadable."""
        try:
            until, written = (float(x) for x in self.path.read_text().split())
        except (OSError, ValueError):
            return None
        if not (math.isfinite(until) and math.isfinite(written)) or until <= written:
            return None
        return until, written

    def left(self, now: float) -> float:
        return wait_left(self.stamps(), now)

    def write(self, until: float, now: float) -> None:
        """Replace the stored wait atomically; a failure (a full disk) costs the guard, never the cycle."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(f"{until:.3f} {now:.3f}\n")
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


class IpQuiet:
    """The waits the exchange gave the bots behind one IP, a file per bot (by its `run.bot_id`, unique on a
    host) in the directory they share."""

    def __init__(self, directory: Path, bot_id: str) -> None:
        self.directory = directory
        self.own = QuietFile(directory, f"{FILE_NAME}.{bot_id}")
        self._heeded: dict[str, Stamps] = {}

    def write(self, until: float, now: float) -> None:
        self.own.write(until, now)

    def news(self, now: float) -> float:
        """The longest wait left of the neighbours' that this bot has not heeded yet. Each is heeded once: the
        breaker it opened holds the bot from then on, and a clock stepped back meanwhile does not make the
        same wait start over at every probe."""
        try:
            names = [e.name for e in os.scandir(self.directory)]
        except OSError:
            return 0.0
        longest = 0.0
        for name in names:
            if not name.startswith(f"{FILE_NAME}.") or name.endswith(".tmp") or name == self.own.path.name:
                continue
            stamps = QuietFile(self.directory, name).stamps()
            if stamps is None or self._heeded.get(name) == stamps:
                continue
            self._heeded[name] = stamps
            longest = max(longest, wait_left(stamps, now))
        return longest
