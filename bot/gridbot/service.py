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

from gridbot.candles import CandleError, Candles, iter_candles
from gridbot.cli import TRADE_FIELDS, TRIP_FIELDS, _CsvSink
from gridbot.config import BotConfig
from gridbot.engine import GridEngine
from gridbot.health import atomic_write, write_heartbeat

STATE_VERSION = 1
STATE, STATUS, TRADES, ROUNDTRIPS = STATE_FILES = (
    "state.json",
    "status.json",
    "trades.csv",
    "roundtrips.csv",
)
SAVE_EVERY = 60  # cycles between periodic saves: a crash loses at most this much paper history


class StateError(RuntimeError):
    """A state file the bot will not continue from, nor overwrite: an operator decides what it is."""


def _read_state(path: Path, cfg: BotConfig) -> dict | None:
    """The saved state to continue from, None on a first start. Anything else is refused and left as it is:
    a reset would forget the open orders and inventory the state holds."""
    if not path.exists():
        return None
    fix = "move it away to start afresh, or restore the file from a backup"
    try:
        text = path.read_bytes().decode()
        saved = json.loads(text)
    except OSError as exc:
        raise StateError(f"{path}: cannot read the state file: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        what = "empty" if not path.stat().st_size else f"truncated or not JSON ({exc})"
        raise StateError(f"{path}: state file is {what}; {fix}") from None
    if not isinstance(saved, dict) or not {"version", "cycle", "engine"} <= saved.keys():
        raise StateError(f"{path}: not a gridbot state file (no version, cycle and engine); {fix}")
    if type(saved["version"]) is not int or saved["version"] != STATE_VERSION:  # true == 1 in Python
        raise StateError(
            f"{path}: state version {saved['version']!r}, this gridbot reads version {STATE_VERSION}: "
            f"run the gridbot that wrote it, or {fix}"
        )
    # Recorded since version 1 was out: a state without it is older, not foreign.
    if saved.get("symbol", cfg.market.symbol) != cfg.market.symbol:
        raise StateError(
            f"{path}: state of a {saved['symbol']!r} bot, the config trades {cfg.market.symbol!r}: its "
            f"orders and inventory are not this market's; give this bot its own run.state_dir, or {fix}"
        )
    try:  # on an engine of its own: the run's opens its trade files
        GridEngine(cfg).restore(saved["engine"])
        int(saved["cycle"])
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise StateError(f"{path}: state file does not fit this engine ({exc!r}); {fix}") from None
    return saved


def _load_all(data: str) -> Candles:
    return Candles.concat(list(iter_candles(data)))


def _save(path: Path, engine: GridEngine, cycle: int, mode: str) -> None:
    state = {
        "version": STATE_VERSION,
        "symbol": engine.cfg.market.symbol,
        "cycle": cycle,
        "engine": engine.snapshot(),
    }
    atomic_write(path, json.dumps(state))
    # What an operator asks of a running bot (the fleet status table reads it), without parsing the state.
    status = {"mode": mode, "cycle": cycle, "saved": time.time(), **engine.summary()}
    atomic_write(path.with_name(STATUS), json.dumps(status))


def run_service(cfg: BotConfig, data: str, max_cycles: int | None = None) -> int:
    state_dir = cfg.run.state_dir
    state_path = state_dir / STATE
    saved = _read_state(state_path, cfg)
    candles = _load_all(data)
    if len(candles) < 2:
        raise CandleError(
            f"{data}: the run replays candles in a loop and needs at least 2, got {len(candles)}"
        )
    span = int(candles.time_ms[-1] - candles.time_ms[0]) + int(np.median(np.diff(candles.time_ms[:1000])))
    state_dir.mkdir(parents=True, exist_ok=True)
    ledger = _CsvSink(state_dir / TRADES, TRADE_FIELDS)
    archive = _CsvSink(state_dir / ROUNDTRIPS, TRIP_FIELDS)
    engine = GridEngine(
        cfg, ledger=ledger.row, archive=archive.trip, log=lambda m: print(f"gridbot: {m}", flush=True)
    )
    cycle = 0
    if saved is not None:
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
