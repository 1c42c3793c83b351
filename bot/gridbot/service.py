"""`gridbot run`: the long-running paper bot the container starts.

Offline it replays candles (embedded or CSV) one per cycle, wrapping around so it runs forever, with
timestamps shifted on each pass so they keep increasing. Every cycle refreshes a heartbeat file (the
container healthcheck reads its age). SIGTERM/SIGINT end the current cycle, persist the engine state
atomically and exit 0; the next start continues from that state.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from gridbot.candles import Candles, iter_candles
from gridbot.cli import TRADE_FIELDS, TRIP_FIELDS, _CsvSink
from gridbot.config import BotConfig
from gridbot.engine import GridEngine
from gridbot.health import atomic_write, write_heartbeat

STATE_VERSION = 1
SAVE_EVERY = 60  # cycles between periodic saves: a crash loses at most this much paper history


def _load_all(data: str) -> Candles:
    return Candles.concat(list(iter_candles(data)))


def _save(path: Path, engine: GridEngine, cycle: int, mode: str) -> None:
    state = {"version": STATE_VERSION, "cycle": cycle, "engine": engine.snapshot()}
    atomic_write(path, json.dumps(state))
    # What an operator asks of a running bot (the fleet status table reads it), without parsing the state.
    status = {"mode": mode, "cycle": cycle, "saved": time.time(), **engine.summary()}
    atomic_write(path.with_name("status.json"), json.dumps(status))


def run_service(cfg: BotConfig, data: str, max_cycles: int | None = None) -> int:
    candles = _load_all(data)
    span = int(candles.time_ms[-1] - candles.time_ms[0]) + int(np.median(np.diff(candles.time_ms[:1000])))
    state_dir = cfg.run.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    state_path = state_dir / "state.json"
    ledger = _CsvSink(state_dir / "trades.csv", TRADE_FIELDS)
    archive = _CsvSink(state_dir / "roundtrips.csv", TRIP_FIELDS)
    engine = GridEngine(
        cfg, ledger=ledger.row, archive=archive.trip, log=lambda m: print(f"gridbot: {m}", flush=True)
    )
    cycle = 0
    if state_path.exists():
        saved = json.loads(state_path.read_text())
        if saved.get("version") == STATE_VERSION:
            engine.restore(saved["engine"])
            cycle = int(saved["cycle"])

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    every = cfg.run.cycle_seconds
    print(f"gridbot: paper {cfg.market.symbol}, {len(candles)} candles, every {every}s, from cycle {cycle}",
          flush=True)  # fmt: skip
    # A heartbeat older than three cycles (and 10 s of slack for a slow disk) means the loop is stuck.
    max_age = 3 * cfg.run.cycle_seconds + 10
    ran = 0
    try:
        while not stop.is_set() and (max_cycles is None or ran < max_cycles):
            started = time.monotonic()
            i = cycle % len(candles)
            one = candles.slice(i, i + 1)
            engine.run_chunk(replace(one, time_ms=one.time_ms + span * (cycle // len(candles))))
            cycle += 1
            ran += 1
            write_heartbeat(cfg.run.heartbeat_file, cycle, max_age)
            if cycle % SAVE_EVERY == 0:
                _save(state_path, engine, cycle, cfg.mode)
            stop.wait(max(0.0, cfg.run.cycle_seconds - (time.monotonic() - started)))
    finally:
        _save(state_path, engine, cycle, cfg.mode)
        ledger.close()
        archive.close()
    s = engine.summary()
    print(f"gridbot: stopped after cycle {cycle}: equity {s['end_equity']}, round trips {s['round_trips']}",
          flush=True)  # fmt: skip
    return 0
