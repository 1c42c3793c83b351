"""`gridbot health`: exit 0 while the run loop's heartbeat is fresh. Imports nothing heavy on purpose (not
even pathlib or typing): the container healthcheck runs it every few seconds, on a Pi, sometimes emulated."""

from __future__ import annotations

import os
import time

from gridbot.contract import heartbeat_path

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing or threading: the probe stays light
if TYPE_CHECKING:
    from threading import Event


def atomic_write(path: str | os.PathLike[str], text: str) -> None:
    """Readers (the healthcheck, a restart) see the old file or the new one, never half of one."""
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_heartbeat(path: str | os.PathLike[str], cycle: int, max_age: float) -> None:
    atomic_write(path, f"{time.time():.3f} {cycle} {max_age:.3f}\n")


def clear_heartbeat(path: str | os.PathLike[str]) -> None:
    """The heartbeat of a loop that has ended, removed as its run lock is released: `gridbot health` calls a
    stopped bot unhealthy at once, not once its last beat has aged out."""
    if os.path.lexists(path):  # only the loop, now ended, writes it (no contextlib: the probe stays light)
        os.unlink(path)


class StoppingError(Exception):
    """Raised by `Heartbeat.sleep` once the process was told to stop: a read waiting out a rate limit ends
    there, and SIGTERM is obeyed within the grace period instead of after the exchange's Retry-After."""


class Heartbeat:
    """The run loop's heartbeat, written every cycle and through every wait: a loop waiting out a rate limit
    (Retry-After, an open breaker, a read's backoff) is alive, and must not look dead for longer than its
    allowed age. `sleep` is the exchange adapter's sleep (this is its clock), `wait` the loop's own."""

    def __init__(self, path: str | os.PathLike[str], max_age: float, every: float = 1.0) -> None:
        self.path = path
        self.max_age = max_age
        self.every = every  # the longest stretch without a beat while waiting
        self.cycle = 0
        self.stop: Event | None = None  # set: `sleep` raises StoppingError

    def beat(self, cycle: int | None = None) -> None:
        if cycle is not None:
            self.cycle = cycle
        write_heartbeat(self.path, self.cycle, self.max_age)

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float, /) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self.stop is None:
                time.sleep(min(left, self.every))
            elif self.stop.wait(min(left, self.every)):
                raise StoppingError(f"stopping: a wait of {seconds:.1f}s cut short")
            self.beat()

    def wait(self, stop: Event, seconds: float) -> bool:
        """`stop.wait(seconds)`, beating meanwhile; True when `stop` was set."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if stop.wait(min(left, self.every)):
                return True
            self.beat()
        return stop.is_set()


def heartbeat_age(path: str | os.PathLike[str]) -> tuple[float, float]:
    """(age in seconds, allowed age) of the heartbeat the run loop writes every cycle."""
    with open(path) as f:
        stamp, _cycle, max_age = f.read().split()
    return time.time() - float(stamp), float(max_age)


def judge(path: str | os.PathLike[str]) -> tuple[bool, str]:
    """(healthy, why): the heartbeat exists and is younger than the age the loop allowed it."""
    try:
        age, limit = heartbeat_age(path)
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        return False, f"no heartbeat at {os.fspath(path)} ({why})"
    if age > limit:
        return False, f"heartbeat {age:.1f}s old (limit {limit:.1f}s)"
    return True, f"heartbeat {age:.1f}s old"


def check(path: str | os.PathLike[str]) -> int:
    ok, why = judge(path)
    print(f"healthy: {why}" if ok else f"unhealthy: {why}")
    return 0 if ok else 1


def main() -> int:
    """The image's healthcheck (`gridbot health` with no flags): the contract's heartbeat."""
    return check(heartbeat_path())
