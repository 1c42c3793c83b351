"""Simulated market time: runs at `speed` simulated seconds per real second, and tests step it."""

from __future__ import annotations

import time


class SimClock:
    def __init__(self, start_ms: int, end_ms: int, speed: float) -> None:
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.speed = speed
        self._t0 = time.monotonic()
        self._stepped_ms = 0

    def now_ms(self) -> int:
        """Simulated ms; stops at the end of the data (the market stays open at the last price)."""
        elapsed = (time.monotonic() - self._t0) * self.speed * 1000.0
        return min(self.start_ms + int(elapsed) + self._stepped_ms, self.end_ms)

    def step(self, ms: int) -> None:
        self._stepped_ms += ms

    def reset(self) -> None:
        self._t0 = time.monotonic()
        self._stepped_ms = 0
