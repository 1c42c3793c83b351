"""The image's healthcheck path (its entry script's `health`) stays stdlib-only and judges the heartbeat."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[1]
ENTRY = BOT / "image" / "gridbot"
# Not even pathlib or typing: each import costs milliseconds of CPU on every probe of every Pi.
HEAVY = {"numpy", "pydantic", "ccxt", "prometheus_client", "yaml", "gridbot.cli", "pathlib", "typing"}


def probe(beat: Path) -> str:
    """The entry script run as the healthcheck runs it: its exit code and the heavy modules it imported (from
    the interpreter's own import log)."""
    env = {**os.environ, "PYTHONPATH": str(BOT), "GRIDBOT_HEARTBEAT": str(beat)}
    # -S: this venv's site hooks (editable installs' finders) import pathlib; the image has none of them
    argv = [sys.executable, "-S", "-X", "importtime", str(ENTRY), "health"]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    log = [line for line in out.stderr.splitlines() if line.startswith("import time:")]
    imported = {line.rsplit("|", 1)[1].strip() for line in log}
    return f"{out.returncode} {sorted(HEAVY & imported)}"


def test_probe_is_healthy_on_a_fresh_heartbeat_without_heavy_imports(tmp_path):
    beat = tmp_path / "hb"
    beat.write_text(f"{time.time():.3f} 7 30\n")
    assert probe(beat) == "0 []"


def test_probe_is_unhealthy_on_a_stale_or_missing_heartbeat(tmp_path):
    beat = tmp_path / "hb"
    assert probe(beat) == "1 []"
    beat.write_text(f"{time.time() - 100:.3f} 7 30\n")
    assert probe(beat) == "1 []"


class Clock:
    """A monotonic clock that moves only when a wait asks it to, so the beats' spacing is the code's and not
    the scheduler's (a host busy with make test's VMs once stretched a real 0.1 s sleep to 0.52 s). It is also
    a stop event that is never set, whose waits are the clock's."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def wait(self, seconds: float) -> bool:
        self.sleep(seconds)
        return False

    def is_set(self) -> bool:
        return False


def test_the_loops_waits_beat_at_least_every_every_seconds(tmp_path, monkeypatch):
    """`Heartbeat.sleep` (the exchange adapter's) and `.wait` (the loop's) never wait longer than `every`
    between two beats, and wait exactly as long as asked in all."""
    from types import SimpleNamespace  # noqa: PLC0415

    from gridbot.ops import health  # noqa: PLC0415

    clock = Clock()
    beats: list[float] = []
    monkeypatch.setattr(health, "time", SimpleNamespace(monotonic=clock.monotonic, sleep=clock.sleep,
                                                        time=time.time))  # fmt: skip
    monkeypatch.setattr(health, "write_heartbeat", lambda *_: beats.append(clock.now))
    hb = health.Heartbeat(tmp_path / "hb", 10.0, every=0.25)
    hb.sleep(1.1)
    assert clock.waits == [0.25, 0.25, 0.25, 0.25, pytest.approx(0.1)]
    assert beats == pytest.approx([1000.25, 1000.5, 1000.75, 1001.0, 1001.1])
    beats.clear()
    assert hb.wait(clock, 0.6) is False
    assert beats == pytest.approx([1001.35, 1001.6, 1001.7])


def test_a_stop_ends_a_loops_wait_at_once(tmp_path):
    """`wait` returns True, long before its time, when the stop event is set; `sleep` raises StoppingError."""
    import threading  # noqa: PLC0415

    from gridbot.ops import health  # noqa: PLC0415

    beat = tmp_path / "hb"
    hb = health.Heartbeat(beat, 10.0, every=0.1)
    hb.beat(7)
    assert health.judge(beat)[0]
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    t0 = time.monotonic()
    assert hb.wait(stop, 60) is True
    assert time.monotonic() - t0 < 30
    hb.stop = stop
    with pytest.raises(health.StoppingError, match=r"a wait of 60\.0s cut short"):
        hb.sleep(60)


def test_the_entry_script_with_flags_is_the_clis_health(tmp_path):
    """Only the bare `gridbot health` takes the light path; `--heartbeat PATH` and `-c bot.yml` (a person at
    `docker exec`) are the CLI's, judged on the file they name (the light path read the flag as a file)."""
    beat = tmp_path / "hb"
    beat.write_text(f"{time.time():.3f} 7 30\n")
    cfg = tmp_path / "bot.yml"
    cfg.write_text(f"run: {{state_dir: {tmp_path / 'data'}, heartbeat_file: {beat}}}\n")
    env = {**os.environ, "PYTHONPATH": str(BOT), "GRIDBOT_HEARTBEAT": str(tmp_path / "none")}
    for flags in (["--heartbeat", str(beat)], ["-c", str(cfg)]):
        out = subprocess.run([sys.executable, str(ENTRY), "health", *flags], env=env, capture_output=True,
                             text=True, check=False)  # fmt: skip
        assert (out.returncode, out.stdout.split(":")[0]) == (0, "healthy"), (flags, out.stderr)
    bare = subprocess.run([sys.executable, str(ENTRY), "health"], env=env, capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert bare.returncode == 1
    assert bare.stdout == f"unhealthy: no heartbeat at {tmp_path / 'none'} (No such file or directory)\n"
