"""Recovery (a room of `live_trader.LiveTrader`): at every start and every `run.reconcile_every` cycles the
store's orders against the exchange's (ours it does not know adopted by `ownership`, anyone else's left alone,
those the exchange ended freed), trades the exchange showed late caught up, orders declared lost
watched for a day, and the holdings compared with the balances (`holdings`)."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from gridbot.core.grid import exact
from gridbot.live.client_ids import client_id_parts
from gridbot.live.exits import EXIT_LEVEL
from gridbot.live.holdings import Drift, measure, native, unbooked
from gridbot.live.shared import FINISHED, LOST_WATCH_S, Unknown
from gridbot.live.venue import (
    Balance,
    OrderState,
    Trade,
)
from gridbot.ops.store import OrderRow

if TYPE_CHECKING:
    from gridbot.live.rooms import TraderRooms

log = logging.getLogger(__name__)


class Recovery:
    """Mixed into `live_trader.LiveTrader`, whose state its methods read and write."""

    drift: Drift | None  # the last holdings check
    drift_since: float | None  # monotonic: past risk.holdings_drift.halt_pct since

    def _load_orders(self: TraderRooms) -> None:
        for row in self.store.found_orders():
            if row.level == EXIT_LEVEL:
                self.book.found_exit(row.client_id, Decimal(row.qty), row.opened_ms)
            else:
                self.book.found(row.client_id, row.side, Decimal(row.price), Decimal(row.qty), row.level,
                                row.opened_ms)  # fmt: skip
        for cid, eid, level, side, price, qty, filled, status, opened_ms in self.store.live_orders():
            if level == EXIT_LEVEL:  # an exit's sale: only the exchange can say if it was sent
                now = time.monotonic()
                self.unknown[cid] = Unknown(now, now)
                with self.store.cycle():
                    self.store.set_order_status(cid, "unknown")
                continue
            live = self.book.adopt(cid, side, Decimal(price), Decimal(qty), level, opened_ms, Decimal(filled))
            # of parts filled before a restart: netted later
            live.fees = self.store.filled_of(cid, native(side, self.rules))[1]
            if status == "cancel":
                self.book.drop(cid)
                self.cancelled[cid] = live
                if eid is None:  # cancelled while its create was unanswered: still looked for
                    now = time.monotonic()
                    self.unknown[cid] = Unknown(now, now)
            elif status in ("intent", "unknown"):
                # sent or not before the process stopped: only the exchange can say
                now = time.monotonic()
                self.unknown[cid] = Unknown(now, now)
                with self.store.cycle():
                    self.store.set_order_status(cid, "unknown")
            del eid

    def reconcile(self: TraderRooms) -> None:
        """The store's orders against the exchange's: adopt ours it does not know, leave others alone."""
        self.venue.measure_clock()
        open_now = {o.client_id: o for o in self.venue.open_orders()}
        for cid, o in open_now.items():
            known = self.store.order_row(cid)
            parsed = self.owner.parts(cid)
            if cid in self.book.orders:
                self._catch_up(cid, o)
            if known is None and parsed is not None:
                level, side = parsed.level, parsed.side
                log.info(f"adopting our order {cid} the store did not know ({o.filled} filled)")
                # as not yet executed: what it executed are trades the books have not met, which the trade
                # feed (read from a restored store's cursor) brings, each booked once
                with self.store.cycle():
                    self.store.upsert_order(cid, level, side, o.price, o.qty, "found", o.time_ms,
                                            o.exchange_id)  # fmt: skip
                    self.book.found(cid, side, o.price, o.qty, level, o.time_ms)
                    self._take_seq(cid)
        for cid, live in list(self.book.orders.items()):
            if cid in open_now or cid in self.unknown:
                continue
            row = self.store.order_row(cid)
            if row is None or row.status == "intent":
                continue  # committed, not yet sent: _send carries it out
            state = self.venue.order(cid)
            if state is not None:
                self._catch_up(cid, state)
            if state is None:
                now = time.monotonic()
                self.unknown[cid] = Unknown(now, now)
            elif state.status in ("canceled", "rejected", "expired") and state.filled <= live.filled:
                log.info(
                    f"order {cid} is {state.status} on the exchange: level freed, decided again next candle"
                )
                self.book.drop(cid)
                self.holes = True
                with self.store.cycle():
                    self.store.set_order_status(cid, state.status, filled=state.filled)
        self._watch_lost(open_now)
        self._refresh_balances()

    def _catch_up(self: TraderRooms, cid: str, state: OrderState) -> None:
        """An order the exchange says executed more than its recorded and fed trades show: those trades were
        invisible when the cursor passed them (the exchange's visibility lag). Read by order id, fed once."""
        if not state.exchange_id or state.filled <= self.store.filled_of(cid)[0] + self.book.fed(cid):
            return
        for t in self.venue.trades_of(state.exchange_id):
            if not self.store.has_fill(t.trade_id):
                ours = replace(t, client_id=cid)
                if not self.book.feed(ours, self.cancelled):
                    self._late(ours)

    def _watch_lost(self: TraderRooms, open_now: dict[str, OrderState]) -> int:
        """Orders declared lost (of the last day, or open on the exchange now) looked for again: each that
        turned up is adopted (`_resurfaced`). How many did."""
        rows = {r.client_id: r for r in self.store.lost_orders(time.time() - LOST_WATCH_S)}
        for cid in open_now:
            row = self.store.order_row(cid)
            if row is not None and row.status == "lost":
                rows[cid] = row
        found = 0
        for cid, row in rows.items():
            state = open_now.get(cid) or self.venue.order(cid)
            if state is not None:
                self._resurfaced(row, state)
                found += 1
        return found

    def _resurfaced(self: TraderRooms, row: OrderRow, state: OrderState) -> None:
        """An order declared lost is on the exchange after all: it takes the place of the order that
        replaced it (cancelled), or, when the level has moved on, it is cancelled; its fills are booked."""
        cid, price, qty = row.client_id, Decimal(row.price), Decimal(row.qty)
        log.warning(f"order {cid}, declared lost, is on the exchange after all ({state.status}, "
                    f"{state.filled} filled): adopted")  # fmt: skip
        with self.store.cycle():
            live = self.book.take_over(cid, row.side, price, qty, row.level)
            if live is None:
                live = self.book.detached(cid, row.side, price, qty, row.level, row.opened_ms)
                self.cancelled[cid] = live
            self.store.set_order_status(cid, "open" if cid in self.book.orders else "cancel",
                                        exchange_id=state.exchange_id)  # fmt: skip
            self._commit_actions()  # the replacement's cancel
            self._save_snapshot()
        self._catch_up(cid, state)

    def _unrecorded(self: TraderRooms, exchange_id: str) -> str | None:
        """An order the store never held, looked up once by its exchange id. Ours by its client id, it was
        placed after the backup this store was restored from (by the bot before a replacement, or by a
        release rolled back): found (`LiveBook.found`), finished or not, so its trades reach the engine as
        fills at their candles, and the engine, replaying those candles, takes it over when it decides it
        again instead of placing it twice, or cancels it once past its candle (`LiveBook.release_found`)."""
        if exchange_id in self.looked_up:
            return None
        state = self.venue.order_by_id(exchange_id)
        if state is None:  # not shown: its trade is left to `_attribute`, as one no order names
            return None
        if self.owner.is_exit(state.client_id) and self.store.order_row(state.client_id) is None:
            return self._found_exit(state, exchange_id)
        parsed = self.owner.parts(state.client_id)
        # someone else's; or sent from this store, its answer lost (`_resolve_unknown` finds it by client id)
        if parsed is None or self.store.order_row(state.client_id) is not None:
            self.looked_up.add(exchange_id)
            return None
        level, side = parsed.level, parsed.side
        cid = state.client_id
        log.info(f"recording our order {cid} the store did not know ({state.status}, {state.filled} filled)")
        with self.store.cycle():
            self.store.upsert_order(cid, level, side, state.price, state.qty, "found", state.time_ms,
                                    exchange_id)  # fmt: skip
            self.book.found(cid, side, state.price, state.qty, level, state.time_ms)
            self._take_seq(cid)
        return cid

    def _found_exit(self: TraderRooms, state: OrderState, exchange_id: str) -> str:
        """An exit's sale of ours the store never held (`exits`): recorded, its trades held for the engine's
        same decision."""
        cid = state.client_id
        log.info(f"recording our exit sale {cid} the store did not know ({state.status}, {state.filled} "
                 "sold): it stands for the engine's exit when the candles since bring it")  # fmt: skip
        with self.store.cycle():
            self.store.upsert_order(
                cid, EXIT_LEVEL, "sell", 0, state.qty, "found", state.time_ms, exchange_id
            )
            self.book.found_exit(cid, state.qty, state.time_ms)
        return cid

    def _take_seq(self: TraderRooms, cid: str) -> None:
        """An id of ours found on the exchange: its sequence is taken, a later placement must not reuse it."""
        parts = client_id_parts(self.cfg.run.bot_id, cid)
        if parts is not None and parts.epoch == self.book.epoch and parts.seq >= self.book.next_seq:
            self.book.next_seq = parts.seq + 1
            self.store.set_cursor("seq", str(self.book.next_seq))

    def _late(self: TraderRooms, t: Trade) -> bool:
        """A trade of one of our orders the store already holds as finished (a cancel that met a fill, the
        trades seen after the restart that followed): booked like a fill before a cancel, no counter-order,
        the order's status kept."""
        row = self.store.order_row(t.client_id) if t.client_id else None
        if row is None or row.status not in FINISHED:
            return False
        cid, _eid, level, side, price, qty, _f, _status, opened_ms = row
        filled, _fees = self.store.filled_of(cid)
        self.cancelled[cid] = self.book.detached(cid, side, Decimal(price), Decimal(qty), level, opened_ms,
                                                 filled)  # fmt: skip
        return self.book.feed(t, self.cancelled)

    def _check_holdings(self: TraderRooms, full: bool) -> None:
        """The engine's holdings (and the trades fed in, not yet booked) against the exchange's balances:
        at every reconcile, and every cycle while they are off (risk.holdings_drift, live/holdings.py)."""
        if self.unknown or not (full or self.drift_since is not None):
            return
        close = self.engine.stats.last_close
        if close <= 0:
            return
        bal = self.venue.balances()
        self._store_balances(bal)
        p, rule = self.engine.portfolio, self.cfg.risk.holdings_drift
        base, quote = unbooked(self.book.unbooked(), self.rules)
        mine = {self.base: exact(p.base) + base, self.quote: exact(p.quote) + quote}
        price = exact(close)
        self.drift = measure(mine, bal, price, self.rules, exact(p.equity(close)), rule.shared)
        self.metrics.holdings_drift.set(self.drift.pct)
        if rule.halt_pct is None or self.drift.pct <= rule.halt_pct:
            self.drift_since = None
            return
        now = time.monotonic()
        if self.drift_since is None:
            self.drift_since = now
            log.warning(f"holdings off the exchange's balances: {self.drift.reason()}")
        if now - self.drift_since >= rule.grace_s:
            self._halt(f"holdings drift: {self.drift.reason()} for {now - self.drift_since:.0f}s "
                       f"(risk.holdings_drift.halt_pct {rule.halt_pct:g})")  # fmt: skip

    def _refresh_balances(self: TraderRooms) -> None:
        self._store_balances(self.venue.balances())

    def _store_balances(self: TraderRooms, bal: dict[str, Balance]) -> None:
        with self.store.cycle():
            for asset in (self.base, self.quote):
                b = bal.get(asset)
                if b is not None:
                    self.store.set_balance(asset, b.free, b.locked)
