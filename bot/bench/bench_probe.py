"""Healthcheck probe cost on the host: CPU seconds and peak RSS of one probe, the image's entry script (which
dispatches `health` before importing the CLI) against the full CLI's `gridbot health`. Prints figures only."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BOT = Path(__file__).resolve().parents[1]
ENTRY = BOT / "image" / "gridbot"
RUNS = 10


def cost(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Median CPU ms and max peak RSS (MB) of RUNS probes."""
    cpus, rss = [], 0
    for _ in range(RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(argv, env=env, capture_output=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
        rss = max(rss, after.ru_maxrss)
    return sorted(cpus)[RUNS // 2], rss // 1024


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        beat = Path(tmp) / "hb"
        beat.write_text(f"{time.time():.3f} 1 3600\n")
        env = {**os.environ, "PYTHONPATH": str(BOT), "GRIDBOT_HEARTBEAT": str(beat)}
        # ru_maxrss of children is the largest child so far: measure the small probe first.
        probe_cpu, probe_rss = cost([sys.executable, str(ENTRY), "health"], env)
        cli = "import sys; from gridbot.cli import main; sys.argv = ['gridbot', 'health']; sys.exit(main())"
        cli_cpu, cli_rss = cost([sys.executable, "-c", cli], env)
    print(f"healthcheck probe (host, median of {RUNS}; goal <= 20 ms CPU, <= 15 MB):")
    print(f"  image entry script `gridbot health`: {probe_cpu:6.1f} ms CPU  {probe_rss:4d} MB peak RSS")
    print(f"  full CLI `gridbot health`:           {cli_cpu:6.1f} ms CPU  {cli_rss:4d} MB peak RSS")


if __name__ == "__main__":
    main()
