"""SIGTERM and SIGINT as a `threading.Event` the loops wait on."""

from __future__ import annotations

import signal
import threading


def stop_on_signals(stop: threading.Event) -> None:
    """`stop` is set on SIGTERM or SIGINT, not from the handler itself: Python runs handlers in the main
    thread between bytecodes, and when that thread is inside `stop.wait()` holding the event's lock (not
    reentrant), `stop.set()` there waits on that lock forever; the bot then ignores its SIGTERM until the
    container's grace period ends in a SIGKILL. A short thread sets it once the lock is free."""

    def handler(_signum: int, _frame: object) -> None:
        threading.Thread(target=stop.set, name="gridbot-stop", daemon=True).start()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
