"""The image's healthcheck path (its entry script's `health`) stays stdlib-only and judges the heartbeat."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BOT = Path(__file__).resolve().parents[1]
ENTRY = BOT / "image" / "gridbot"
HEAVY = ("numpy", "pydantic", "ccxt", "prometheus_client", "yaml", "gridbot.cli")
PROBE = f"""
import runpy, sys
sys.argv = ["gridbot", "health"]
try:
    runpy.run_path({str(ENTRY)!r}, run_name="__main__")
except SystemExit as e:
    code = e.code
print(code, sorted(m for m in {HEAVY!r} if m in sys.modules))
"""


def probe(beat: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(BOT), "GRIDBOT_HEARTBEAT": str(beat)}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[-1]


def test_probe_is_healthy_on_a_fresh_heartbeat_without_heavy_imports(tmp_path):
    beat = tmp_path / "hb"
    beat.write_text(f"{time.time():.3f} 7 30\n")
    assert probe(beat) == "0 []"


def test_probe_is_unhealthy_on_a_stale_or_missing_heartbeat(tmp_path):
    beat = tmp_path / "hb"
    assert probe(beat) == "1 []"
    beat.write_text(f"{time.time() - 100:.3f} 7 30\n")
    assert probe(beat) == "1 []"
