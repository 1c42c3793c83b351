"""The bot's one durable state: an SQLite database in `run.state_dir` (stdlib `sqlite3`).

WAL mode, `synchronous=FULL`: a commit is on disk before the call returns, so an order intent committed
before its request is sent survives a power cut, not only a crash of the process (NORMAL would keep the
database consistent but could lose the last commits on power loss, and with them the record of an order
the exchange has). A commit per cycle (seconds apart) makes the fsync's cost negligible on an SD card.

The schema has a version (`PRAGMA user_version`) and explicit migrations; an unknown version, a file that is
not ours or a corrupt one is refused with `StoreError` and left untouched (it is first opened read-only).
Every cycle's changes (fills, round trips, orders, cursors, the engine snapshot) are written in one
transaction (`Store.cycle()`), so a kill at any moment leaves the previous cycle or this one, never half.

One module (~440 lines) because it is the one place the schema and its SQL are written: every table's
reads and writes beside the migrations that made it, over one connection and one transaction.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple, Protocol

from gridbot.core.portfolio import RoundTrip, Side


class Held(Protocol):
    """A lock the store keeps until it is closed (the run's lock on its state directory, ops/runlock.py)."""

    def release(self) -> None: ...


DB_FILE = "gridbot.db"
APPLICATION_ID = 0x67726964  # "grid": tells our database from any other SQLite file
# Cursors of the bot's identity (`live.ownership`): the run.bot_id the store last ran under, and the
# "<bot id>-<tag>" pairs it placed orders under before a restore gave it a new tag.
BOT_ID_CURSOR = "bot_id"
LINEAGE_CURSOR = "id_lineage"
# Each entry migrates from version i to i + 1; a new schema appends one, never edits an old one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE orders (
        client_id TEXT PRIMARY KEY,
        exchange_id TEXT,
        level INTEGER NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        price TEXT NOT NULL,
        qty TEXT NOT NULL,
        filled TEXT NOT NULL DEFAULT '0',
        status TEXT NOT NULL,  -- intent open unknown cancel closed canceled rejected expired lost found
        opened_ms INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE INDEX orders_live ON orders (status) WHERE status IN ('intent', 'open', 'unknown', 'cancel');
    CREATE TABLE fills (
        trade_id TEXT PRIMARY KEY,  -- the exchange's trade id (paper: cycle:n): a fill is recorded once
        client_id TEXT,
        side TEXT NOT NULL,
        price TEXT NOT NULL,
        qty TEXT NOT NULL,
        fee TEXT NOT NULL,
        fee_currency TEXT NOT NULL,
        realized_pnl REAL NOT NULL,
        time_ms INTEGER NOT NULL
    );
    CREATE TABLE round_trips (
        id INTEGER PRIMARY KEY,
        opened_ms INTEGER NOT NULL,
        closed_ms INTEGER NOT NULL,
        qty REAL NOT NULL,
        buy_price REAL NOT NULL,
        sell_price REAL NOT NULL,
        fees REAL NOT NULL,
        profit REAL NOT NULL
    );
    CREATE TABLE balances (asset TEXT PRIMARY KEY, free TEXT NOT NULL, locked TEXT NOT NULL, updated REAL);
    CREATE TABLE cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE snapshot (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        symbol TEXT NOT NULL,
        cycle INTEGER NOT NULL,
        engine TEXT NOT NULL,
        status TEXT NOT NULL,
        saved REAL NOT NULL
    );
    CREATE TABLE halt (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        reason TEXT NOT NULL,
        since REAL NOT NULL,
        cancel INTEGER NOT NULL DEFAULT 0
    );
    """,
)
VERSION = len(MIGRATIONS)
FIX = "move it away to start afresh, or restore it from a backup"


class StoreError(RuntimeError):
    """A database the bot will not use nor change: an operator decides what it is."""


@dataclass(frozen=True, slots=True)
class Halt:
    reason: str
    since: float
    cancel: bool


class Snapshot(NamedTuple):
    symbol: str
    cycle: int
    engine: dict[str, object]
    status: dict[str, object]


_ORDER_COLUMNS = "client_id, exchange_id, level, side, price, qty, filled, status, opened_ms"


class OrderRow(NamedTuple):
    """One of the bot's orders as the store holds it; quantities and prices as the exchange wrote them."""

    client_id: str
    exchange_id: str | None
    level: int
    side: Side
    price: str
    qty: str
    filled: str
    status: str  # intent, open, unknown, cancel, closed, canceled, rejected, expired, lost, found
    opened_ms: int

    @classmethod
    def of(cls, row: tuple[object, ...]) -> OrderRow:
        cid, eid, level, side, price, qty, filled, status, opened_ms = row
        if side not in ("buy", "sell"):
            raise StoreError(f"order {cid}: side {side!r} is neither buy nor sell")
        return cls(str(cid), None if eid is None else str(eid), int(str(level)), side, str(price),
                   str(qty), str(filled), str(status), int(str(opened_ms)))  # fmt: skip


def _check_readonly(path: Path) -> None:
    """Judge an existing file without writing a byte to it."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open the state database: {exc}") from None
    try:
        app = con.execute("PRAGMA application_id").fetchone()[0]
        version = con.execute("PRAGMA user_version").fetchone()[0]
        tables = con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        ok = con.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: not a readable gridbot state database ({exc}); {FIX}") from None
    finally:
        con.close()
    if ok != "ok":
        raise StoreError(f"{path}: state database is corrupt ({ok}); {FIX}")
    if (app, version, tables) == (0, 0, 0):
        return  # an empty file: a first start that was killed before its first commit
    if app != APPLICATION_ID:
        raise StoreError(f"{path}: an SQLite database that is not a gridbot state database; {FIX}")
    if version > VERSION:
        raise StoreError(
            f"{path}: state database version {version}, this gridbot reads up to version {VERSION}: "
            f"run the gridbot that wrote it, or {FIX}"
        )


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        if path.exists():
            if path.is_dir():
                raise StoreError(f"{path}: is a directory, not a state database")
            _check_readonly(path)
        # autocommit off by hand: every write goes through `cycle()`, BEGIN IMMEDIATE ... COMMIT
        self.con = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        mode = self.con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":  # a filesystem without shared memory (some network mounts) refuses it
            self.con.close()
            raise StoreError(f"{path}: SQLite would not use WAL mode here (journal_mode {mode})")
        self.con.execute("PRAGMA synchronous=FULL")
        self._held: list[Held] = []
        self._migrate()

    @classmethod
    def open_in(cls, state_dir: Path) -> Store:
        state_dir.mkdir(parents=True, exist_ok=True)
        return cls(state_dir / DB_FILE)

    def _migrate(self) -> None:
        version = self.con.execute("PRAGMA user_version").fetchone()[0]
        for i in range(version, VERSION):
            with self.cycle():
                for statement in MIGRATIONS[i].split(";"):
                    if statement.strip():
                        self.con.execute(statement)
                self.con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                self.con.execute(f"PRAGMA user_version = {i + 1}")

    def hold(self, lock: Held) -> None:
        """Keep the state directory's run lock until this store is closed."""
        self._held.append(lock)

    def close(self) -> None:
        self.con.close()
        for lock in self._held:
            lock.release()

    @contextmanager
    def cycle(self) -> Iterator[sqlite3.Connection]:
        """One transaction: everything inside is committed together or not at all."""
        self.con.execute("BEGIN IMMEDIATE")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    # --- snapshot and cursors ---------------------------------------------------------------------------

    def snapshot(self) -> Snapshot | None:
        row = self.con.execute("SELECT symbol, cycle, engine, status FROM snapshot").fetchone()
        if row is None:
            return None
        return Snapshot(str(row[0]), int(row[1]), json.loads(row[2]), json.loads(row[3]))

    def save_snapshot(
        self, symbol: str, cycle: int, engine: dict[str, object], status: dict[str, object]
    ) -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO snapshot (id, symbol, cycle, engine, status, saved) VALUES (1,?,?,?,?,?)",
            (symbol, cycle, json.dumps(engine), json.dumps(status), time.time()),
        )

    def cursor(self, name: str) -> str | None:
        row = self.con.execute("SELECT value FROM cursors WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_cursor(self, name: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO cursors (name, value) VALUES (?, ?)", (name, value))

    # --- fills and round trips ----------------------------------------------------------------------------

    def add_fill(
        self,
        trade_id: str,
        client_id: str | None,
        side: str,
        price: object,
        qty: object,
        fee: object,
        fee_currency: str,
        realized_pnl: float,
        time_ms: int,
    ) -> bool:
        """Record a fill; False (and nothing changed) when this trade id is already recorded."""
        cur = self.con.execute(
            "INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?)",
            (trade_id, client_id, side, str(price), str(qty), str(fee), fee_currency, realized_pnl, time_ms),
        )
        return cur.rowcount == 1

    def has_fill(self, trade_id: str) -> bool:
        return self.con.execute("SELECT 1 FROM fills WHERE trade_id = ?", (trade_id,)).fetchone() is not None

    def add_round_trip(self, t: RoundTrip) -> None:
        self.con.execute(
            "INSERT INTO round_trips (opened_ms, closed_ms, qty, buy_price, sell_price, fees, profit) "
            "VALUES (?,?,?,?,?,?,?)",
            (t.opened_ms, t.closed_ms, t.qty, t.buy_price, t.sell_price, t.fees, t.profit),
        )

    def fills(self) -> list[sqlite3.Row]:
        self.con.row_factory = sqlite3.Row
        try:
            return self.con.execute("SELECT * FROM fills ORDER BY time_ms, rowid").fetchall()
        finally:
            self.con.row_factory = None

    def round_trips(self) -> list[sqlite3.Row]:
        self.con.row_factory = sqlite3.Row
        try:
            return self.con.execute("SELECT * FROM round_trips ORDER BY id").fetchall()
        finally:
            self.con.row_factory = None

    # --- orders (live) ------------------------------------------------------------------------------------

    def upsert_order(
        self,
        client_id: str,
        level: int,
        side: str,
        price: object,
        qty: object,
        status: str,
        opened_ms: int = 0,
        exchange_id: str | None = None,
        filled: object = "0",
    ) -> None:
        now = time.time()
        self.con.execute(
            "INSERT INTO orders (client_id, exchange_id, level, side, price, qty, filled, status, opened_ms, "
            "created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (client_id) DO UPDATE SET "
            "exchange_id = coalesce(excluded.exchange_id, exchange_id), filled = excluded.filled, "
            "status = excluded.status, updated = excluded.updated",
            (client_id, exchange_id, level, side, str(price), str(qty), str(filled), status, opened_ms, now,
             now),
        )  # fmt: skip

    def set_order_status(self, client_id: str, status: str, exchange_id: str | None = None,
                         filled: object | None = None) -> None:  # fmt: skip
        self.con.execute(
            "UPDATE orders SET status = ?, exchange_id = coalesce(?, exchange_id), "
            "filled = coalesce(?, filled), updated = ? WHERE client_id = ?",
            (status, exchange_id, None if filled is None else str(filled), time.time(), client_id),
        )

    def live_orders(self) -> list[OrderRow]:
        """Every order not known to be finished: intents, open, unknown outcome, cancel requested."""
        rows = self.con.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders "
            "WHERE status IN ('intent', 'open', 'unknown', 'cancel') ORDER BY created, client_id"
        ).fetchall()
        return [OrderRow.of(r) for r in rows]

    def lost_orders(self, since: float) -> list[OrderRow]:
        """Orders declared never placed (no trace past the unknown-order deadline) since `since` (epoch s):
        still looked for, in case one turns up after all."""
        rows = self.con.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE status = 'lost' AND updated >= ? ORDER BY created",
            (since,),
        ).fetchall()
        return [OrderRow.of(r) for r in rows]

    def found_orders(self) -> list[OrderRow]:
        """Orders and exit sales found on the exchange that the store did not hold (sent after the backup it
        was restored from), waiting for the engine to decide them again (`LiveBook.found`)."""
        rows = self.con.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE status = 'found' ORDER BY created, client_id"
        ).fetchall()
        return [OrderRow.of(r) for r in rows]

    def order_row(self, client_id: str) -> OrderRow | None:
        row = self.con.execute(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_id = ?", (client_id,)
        ).fetchone()
        return None if row is None else OrderRow.of(row)

    def set_order_qty(self, client_id: str, qty: object) -> None:
        """An order not yet on the exchange sized again (an exit sale refused for coins the account lacks)."""
        self.con.execute("UPDATE orders SET qty = ? WHERE client_id = ?", (str(qty), client_id))

    def client_ids(self) -> Iterator[str]:
        """Every client id this store ever recorded (their prefixes and tags are its lineage)."""
        for (cid,) in self.con.execute("SELECT client_id FROM orders"):
            yield str(cid)

    def client_id_of(self, exchange_id: str) -> str | None:
        """Our client id of an exchange order id (a trade names its order by the exchange's id only)."""
        row = self.con.execute("SELECT client_id FROM orders WHERE exchange_id = ?", (exchange_id,))
        found = row.fetchone()
        return None if found is None else str(found[0])

    def filled_of(self, client_id: str, fee_asset: str | None = None) -> tuple[Decimal, Decimal]:
        """The executed quantity and fees of one order, as its recorded fills say (the fees in `fee_asset`
        only, when given: an order may pay some in BNB, the rest in what it received)."""
        rows = self.con.execute(
            "SELECT qty, fee, fee_currency FROM fills WHERE client_id = ?", (client_id,)
        ).fetchall()
        fees = (Decimal(f) for _, f, c in rows if fee_asset is None or c in (fee_asset, ""))
        return sum((Decimal(q) for q, _, _ in rows), Decimal(0)), sum(fees, Decimal(0))

    def set_balance(self, asset: str, free: object, locked: object) -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO balances VALUES (?,?,?,?)", (asset, str(free), str(locked), time.time())
        )

    def balances(self) -> dict[str, tuple[str, str]]:
        return {a: (f, lk) for a, f, lk in self.con.execute("SELECT asset, free, locked FROM balances")}

    # --- halt ---------------------------------------------------------------------------------------------

    def halt_state(self) -> Halt | None:
        row = self.con.execute("SELECT reason, since, cancel FROM halt").fetchone()
        return None if row is None else Halt(row[0], float(row[1]), bool(row[2]))

    def set_halt(self, reason: str, cancel: bool = False) -> None:
        """Keeps the first reason and its time: a second halt does not hide why trading stopped."""
        self.con.execute(
            "INSERT INTO halt (id, reason, since, cancel) VALUES (1, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET cancel = max(cancel, excluded.cancel)",
            (reason, time.time(), int(cancel)),
        )

    def clear_halt(self) -> None:
        self.con.execute("DELETE FROM halt")

    def note_key_refused(self) -> None:
        """When the exchange last refused the credentials, kept apart from the halt the refusal makes: a halt
        from before keeps its own reason and time, and `gridbot gate` still sees the refusal."""
        self.set_cursor("key_refused", repr(time.time()))

    def key_refused_at(self) -> float | None:
        value = self.cursor("key_refused")
        return None if value is None else float(value)

    # A halt's life in cursors: `halted` once a running bot has seen it, `halt_cancelled` once that bot has
    # cancelled its orders for it, `cancel_on_resume` when a resume came before that cancel (the bot was
    # stopped, or had not cycled yet): the cancel is still owed, and carried out with the resume.

    def resume(self, cancel_on_halt: bool) -> tuple[Halt | None, bool]:
        """`gridbot resume`: the halt lifted; returns it and whether its cancel is still owed (asked for,
        by `--cancel` or `risk.cancel_on_halt`, and not yet carried out), which the bot then carries out."""
        was = self.halt_state()
        owed = was is not None and (was.cancel or cancel_on_halt) and self.cursor("halt_cancelled") is None
        self.clear_halt()
        if owed:
            self.set_cursor("cancel_on_resume", "1")
        return was, owed

    def resume_due(self) -> bool:
        """A resume the bot has not carried out yet: of a halt it saw, or one whose cancel is owed."""
        return self.cursor("halted") is not None or self.cursor("cancel_on_resume") is not None

    def take_resume(self) -> bool:
        """The resume carried out (in the caller's transaction): whether its halt's cancel is still owed."""
        owed = self.cursor("cancel_on_resume") is not None
        self.con.execute("DELETE FROM cursors WHERE name IN ('halted', 'halt_cancelled', 'cancel_on_resume')")
        return owed
