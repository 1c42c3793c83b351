"""`gridbot health`: exit 0 while the run loop's heartbeat is fresh. Imports nothing heavy on purpose:
the container healthcheck runs it every few seconds, on a Pi, sometimes under emulation."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from gridbot.contract import HEARTBEAT_FILE

# The run loop writes it (RunConfig.heartbeat_file defaults to it) and the healthcheck reads it; the value is
# the container contract's.
DEFAULT_HEARTBEAT = HEARTBEAT_FILE


def heartbeat_path() -> Path:
    """GRIDBOT_HEARTBEAT when set (for both sides, as they share the environment), else the default."""
    return Path(os.environ.get("GRIDBOT_HEARTBEAT", DEFAULT_HEARTBEAT))


def atomic_write(path: Path, text: str) -> None:
    """Readers (the healthcheck, a restart) see the old file or the new one, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_heartbeat(path: Path, cycle: int, max_age: float) -> None:
    atomic_write(path, f"{time.time():.3f} {cycle} {max_age:.3f}\n")


def heartbeat_age(path: Path) -> tuple[float, float]:
    """(age in seconds, allowed age) of the heartbeat the run loop writes every cycle."""
    stamp, _cycle, max_age = path.read_text().split()
    return time.time() - float(stamp), float(max_age)


def judge(path: Path) -> tuple[bool, str]:
    """(healthy, why): the heartbeat exists and is younger than the age the loop allowed it."""
    try:
        age, limit = heartbeat_age(path)
    except (OSError, ValueError) as exc:
        return False, f"no heartbeat at {path} ({exc})"
    if age > limit:
        return False, f"heartbeat {age:.1f}s old (limit {limit:.1f}s)"
    return True, f"heartbeat {age:.1f}s old"


def check(path: Path) -> int:
    ok, why = judge(path)
    print(f"healthy: {why}" if ok else f"unhealthy: {why}")
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else heartbeat_path()
    return check(path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
