"""`gridbot run` in replay paper mode: the long-running bot on canned candles (embedded or CSV).

It replays candles one per cycle, wrapping around so it runs forever, with timestamps shifted on each pass so
they keep increasing. Every cycle is one transaction of the store (`gridbot.ops.store`): the cycle's fills,
round trips and the engine snapshot are committed together, so a kill at any moment loses at most the cycle in
flight, which the next start replays with the same result (the replay is deterministic), and no fill is
recorded twice (its id is the cycle and its place in it). SIGTERM/SIGINT end the current cycle and exit 0.

A `state.json` of an earlier gridbot (no database yet) is checked as before and migrated: its engine snapshot
and cycle become the database's, and the file is renamed `state.json.migrated` (its CSVs stay as they were:
the earlier history). `gridbot halt` stops the replay where it is (with `--cancel`, its resting orders are
cancelled), `gridbot resume` continues it; both go through the store, so they reach a running bot and
survive restarts.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from gridbot.config.model import BotConfig
from gridbot.core import engine_state
from gridbot.core.candles import CandleError
from gridbot.core.engine import AnyEngine, GridEngine, LedgerRow
from gridbot.core.paper import Fill
from gridbot.core.portfolio import RoundTrip
from gridbot.core.settings import Json
from gridbot.ops.candle_files import ReplayFeed
from gridbot.ops.health import clear_heartbeat, write_heartbeat
from gridbot.ops.logs import engine_log, fill_line, run_logged
from gridbot.ops.runlock import RunLock
from gridbot.ops.signals import stop_on_signals
from gridbot.ops.store import DB_FILE, Halt, Store, StoreError

if TYPE_CHECKING:
    from gridbot.ops.metrics import Metrics

log = logging.getLogger(__name__)
STATE_VERSION = 1
LEGACY_STATE = "state.json"
STATE_FILES = (DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm")


class StateError(StoreError):
    """A state file the bot will not continue from, nor overwrite: an operator decides what it is."""


def _read_state(path: Path, cfg: BotConfig) -> Json | None:
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


def open_store(cfg: BotConfig) -> Store:
    """The run's store, holding the state's run lock; a legacy state.json is judged first (refused: nothing
    created) and migrated."""
    state_dir = cfg.run.state_dir
    lock = RunLock(state_dir, "a second `gridbot run`")
    try:
        store = _open_store(cfg)
    except BaseException:
        lock.release()
        raise
    store.hold(lock)
    return store


@contextmanager
def running_store(cfg: BotConfig) -> Iterator[Store]:
    """A run loop's store (`open_store`) for as long as the loop runs; at its end, however it ends, the store
    closed (its run lock released) and the loop's heartbeat removed with it: `gridbot health` calls a stopped
    bot unhealthy at once, not once its last beat has aged out."""
    store = open_store(cfg)
    try:
        yield store
    finally:
        store.close()
        clear_heartbeat(cfg.run.heartbeat_file)


def _open_store(cfg: BotConfig) -> Store:
    state_dir = cfg.run.state_dir
    legacy = state_dir / LEGACY_STATE
    saved = None
    if not (state_dir / DB_FILE).exists():
        saved = _read_state(legacy, cfg)
    store = Store.open_in(state_dir)
    found = store.snapshot()
    if found is not None and found[0] != cfg.market.symbol:
        store.close()
        raise StoreError(
            f"{store.path}: state of a {found[0]!r} bot, the config trades {cfg.market.symbol!r}: its orders "
            f"and inventory are not this market's; give this bot its own run.state_dir"
        )
    if saved is not None and found is None:
        with store.cycle():
            store.save_snapshot(cfg.market.symbol, int(saved["cycle"]), saved["engine"], {})
        os.replace(legacy, legacy.with_name(LEGACY_STATE + ".migrated"))
        log.info(f"{legacy} migrated into {store.path} (renamed {LEGACY_STATE}.migrated)")
    return store


def status_of(engine: AnyEngine, cycle: int, cfg: BotConfig, store: Store) -> dict[str, object]:
    halt = store.halt_state()
    out: dict[str, object] = {"mode": cfg.mode, "cycle": cycle, "saved": time.time(), **engine.summary()}
    out["halted"] = engine.halted or (halt.reason if halt else "")
    out["halted_since"] = halt.since if halt else None
    out["config_sha256"] = cfg.source_sha256
    out["grid"] = engine_state.grid_in_force(engine)  # the grid in force and the settings it came from
    return out


def _halted_by_engine(engine: AnyEngine, store: Store, cfg: BotConfig) -> None:
    """A kill switch the engine judges (the drawdown) fired: a halt in the store, which `resume` lifts."""
    if engine.resumable and store.halt_state() is None:
        store.set_halt(engine.halted, cfg.risk.cancel_on_halt)
        store.set_cursor("halted", engine.halted)
        log.error(f"trading halted: {engine.halted}")


def _halted_cycle(engine: AnyEngine, store: Store, halt: Halt, cfg: BotConfig) -> None:
    """A halted cycle: no candle taken; the halt seen, and its cancel carried out (once)."""
    store.set_cursor("halted", halt.reason)
    if (halt.cancel or cfg.risk.cancel_on_halt) and store.cursor("halt_cancelled") is None:
        engine.exchange.cancel_all()
        store.set_cursor("halt_cancelled", "1")


def _resume(engine: AnyEngine, store: Store) -> None:
    """`gridbot resume` carried out: a cancel the halt still owed first, then the engine's resume (the grid
    placed again at once when the halt left it without orders)."""
    if store.take_resume():
        engine.exchange.cancel_all()
    engine.resume()
    log.info("resumed: trading again")


def run_service(cfg: BotConfig, data: str, max_cycles: int | None = None) -> int:
    from gridbot.ops.httpd import serve_bot  # noqa: PLC0415  prometheus-client: a running bot's only
    from gridbot.ops.metrics import Metrics  # noqa: PLC0415

    metrics = Metrics()
    # the last cycle's status, for the HTTP thread (the store is this thread's)
    published: list[dict[str, object]] = [{}]
    server = serve_bot(cfg, metrics, lambda: published[0], lambda: bool(published[0]))
    try:
        with running_store(cfg) as store:
            return _run(cfg, data, store, max_cycles, metrics, published)
    finally:
        if server is not None:
            server.close()


def _run(cfg: BotConfig, data: str, store: Store, max_cycles: int | None, metrics: Metrics,
         published: list[dict[str, object]]) -> int:  # fmt: skip
    feed = ReplayFeed(data)  # streamed: a year of 1-minute candles is not held in memory
    if feed.count < 2:
        raise CandleError(f"{data}: the run replays candles in a loop and needs at least 2, got {feed.count}")
    cycle = 0
    fills_in_cycle = 0

    def ledger(row: LedgerRow, fill: Fill) -> None:
        nonlocal fills_in_cycle
        fills_in_cycle += 1
        log.info(fill_line(row))
        o = fill.order
        metrics.fills.labels(side=o.side).inc()
        store.add_fill(f"{cycle}:{fills_in_cycle}", None, o.side, o.price, o.qty, fill.fee,
                       row["fee_currency"], row["realized_pnl"], fill.time_ms)  # fmt: skip

    def trip(t: RoundTrip) -> None:
        store.add_round_trip(t)
        metrics.round_trips.inc()

    engine = GridEngine(cfg, ledger=ledger, trips=trip, log=engine_log())
    saved = store.snapshot()
    if saved is not None:
        engine.restore(saved[2])
        cycle = saved[1]

    stop = threading.Event()
    stop_on_signals(stop)

    every = cfg.run.cycle_seconds
    log.info(f"paper {cfg.market.symbol}, {feed.count} candles, every {every}s, from cycle {cycle}")
    # A heartbeat older than three cycles (and 10 s of slack for a slow disk) means the loop is stuck.
    max_age = cfg.run.heartbeat_max_age
    ran = 0
    while not stop.is_set() and (max_cycles is None or ran < max_cycles):
        started = time.monotonic()
        with store.cycle():
            halt = store.halt_state()
            if halt is None:
                fills_in_cycle = 0
                if store.resume_due():
                    _resume(engine, store)
                one = feed.candle(cycle % feed.count)
                run_logged(engine, replace(one, time_ms=one.time_ms + feed.span * (cycle // feed.count)), log)
                cycle += 1
                _halted_by_engine(engine, store, cfg)
            else:
                _halted_cycle(engine, store, halt, cfg)
            status = status_of(engine, cycle, cfg, store)
            store.save_snapshot(cfg.market.symbol, cycle, engine.snapshot(), status)
        metrics.show(engine, halt.reason if halt else engine.halted)
        published[0] = status
        ran += 1
        metrics.cycle_seconds.observe(time.monotonic() - started)
        write_heartbeat(cfg.run.heartbeat_file, cycle, max_age)
        stop.wait(max(0.0, cfg.run.cycle_seconds - (time.monotonic() - started)))
    s = engine.summary()
    log.info(f"stopped after cycle {cycle}: equity {s['end_equity']}, round trips {s['round_trips']}")
    return 0
