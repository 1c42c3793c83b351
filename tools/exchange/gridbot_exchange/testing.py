"""Run a gridbot-exchange process from a test, and judge through its admin API: shared by the exchange's
own tests and the bot's (which trade against it)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def exe() -> str:
    found = shutil.which("gridbot-exchange", path=str(Path(sys.executable).parent))
    if not found:
        raise RuntimeError("gridbot-exchange is not installed in this venv (pip install -e tools/exchange)")
    return found


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start the console script on an ephemeral loopback port; returns once it printed its base URL."""
    proc = subprocess.Popen(
        [exe(), "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    line = proc.stdout.readline() if proc.stdout else ""
    if "listening on" not in line:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise RuntimeError(f"gridbot-exchange did not start: {line!r} {err}")
    return proc, line.split()[3]


@contextlib.contextmanager
def running(*args: str) -> Iterator[str]:
    """A gridbot-exchange for the length of a `with` (a fixture's scope): its base URL; killed after."""
    proc, url = start(*args)
    try:
        yield url
    finally:
        proc.kill()
        proc.wait(timeout=10)


class Admin:
    """The exchange's own view (orders, trades, balances, duplicates) and its controls (clock, faults)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def call(self, method: str, path: str, body: dict[str, object] | None = None) -> object:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + "/admin/" + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def fault(self, **spec: object) -> object:
        return self.call("POST", "faults", spec)

    def faults(self, *specs: dict[str, object]) -> object:
        """Rules that take effect together (two `fault` calls leave a moment where only the first holds)."""
        return self.call("POST", "faults", {"rules": list(specs)})

    def step(self, candles: int = 0, ms: int = 0) -> dict[str, object]:
        out = self.call("POST", "step", {"candles": candles, "ms": ms})
        assert isinstance(out, dict), out
        return out
