"""Sending the cycle's decisions to the exchange (a room of `live_trader.LiveTrader`): the intents
committed in the cycle's transaction, then cancels before creates, each answer committed as it comes; a create
whose answer was lost looked up by its client id until the unknown-order deadline, then placed again; an
exit's market sale sent once every cancel is confirmed and tried again while refused; a halted market
waited out (`market_watch`)."""

from __future__ import annotations

import logging
import time
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING

from gridbot.core.grid import exact
from gridbot.core.portfolio import Side
from gridbot.live.exits import EXIT_LEVEL
from gridbot.live.market_watch import FILTER_FAILURE
from gridbot.live.shared import FINISHED, Unknown
from gridbot.live.venue import (
    InsufficientFundsError,
    MarketClosedError,
    MarketRules,
    OutcomeUnknownError,
    RejectedError,
    VenueError,
)

if TYPE_CHECKING:
    from gridbot.live.rooms import TraderRooms

log = logging.getLogger(__name__)

# How long an exit's sale waits for the cancels decided with it to be confirmed before it is sent anyway.
EXIT_CANCELS_WAIT_S = 5.0


def fits(price: Decimal, qty: Decimal, rules: MarketRules) -> bool:
    """An order the market's rules accept: on the tick, on the lot step, at least the minimum notional."""
    return price % rules.tick_size == 0 and qty % rules.lot_step == 0 and price * qty >= rules.min_notional


class Sending:
    """Mixed into `live_trader.LiveTrader`, whose state its methods read and write."""

    def _commit_actions(self: TraderRooms) -> None:
        """Inside the cycle's transaction: every decision becomes an intent before anything is sent."""
        for kind, live in self.book.actions:
            o = live.order
            if kind == "market":  # an exit's sale: its intent, committed with the engine's halt
                self.store.upsert_order(
                    live.client_id, EXIT_LEVEL, "sell", 0, live.qty, "intent", o.opened_ms
                )
            elif kind == "found exit":  # its trades booked now; any later ones as an exit's (`_exit_trade`)
                self.store.set_order_status(live.client_id, "closed")
            elif kind == "adopt":  # a found order the engine decided again: its own from now on
                row = self.store.order_row(live.client_id)
                if row is not None and row.status == "found":  # not if its fills in this chunk closed it
                    self.store.set_order_status(live.client_id, "open")
            elif kind == "place":
                self.store.upsert_order(live.client_id, o.level, o.side, live.price, live.qty, "intent",
                                        o.opened_ms)  # fmt: skip
                self.unknown.pop(live.client_id, None)
            else:
                row = self.store.order_row(live.client_id)
                if row is not None and row.status == "intent":
                    self.store.set_order_status(live.client_id, "canceled")  # never sent: nothing to cancel
                    self.unknown.pop(live.client_id, None)
                else:  # an unanswered create stays looked for: the order may rest and fill meanwhile
                    self.store.set_order_status(live.client_id, "cancel")
                    self.cancelled[live.client_id] = live
        self.book.actions.clear()
        self.store.set_cursor("seq", str(self.book.next_seq))

    def _send(self: TraderRooms, creates: bool = True) -> None:
        """Carry out the committed intents: cancels first (they free the balance a regrid's new orders
        need), then creates; each answer committed as it comes."""
        for cid in list(self.cancelled):
            row = self.store.order_row(cid)
            if row is None or row.status != "cancel":
                self.cancelled.pop(cid, None)
                continue
            state = self.venue.cancel(cid)
            if state is None:
                state = self.venue.order(cid)
            if state is None:
                # the exchange accepted it (or may have) and shows it to neither call: its visibility lag,
                # not a cancel; tried again once it shows (or, past the deadline, declared lost and watched)
                if cid not in self.unknown:
                    now = time.monotonic()
                    self.unknown[cid] = Unknown(now, now + 0.5)
                continue
            self.unknown.pop(cid, None)
            # trades the cursor passed while they were unseen, or fed before a kill and lost with it
            self._catch_up(cid, state)
            # finished once its trades are booked: until then a restart finds it here and reads them again
            if state.status in FINISHED and state.filled <= self.store.filled_of(cid)[0]:
                with self.store.cycle():
                    self.store.set_order_status(cid, state.status, filled=state.filled)
                self.cancelled.pop(cid, None)
        for cid, _eid, level, side, price, qty, _f, status, _ms in self.store.live_orders():
            if status == "intent" and level == EXIT_LEVEL:  # an exit decided is carried out, halted or not
                self._sell_at_market(cid, Decimal(qty))
            elif status == "intent" and creates:
                self._create(cid, side, Decimal(price), Decimal(qty))

    def _create(self: TraderRooms, cid: str, side: Side, price: Decimal, qty: Decimal) -> None:
        try:
            state = self.venue.create_limit(side, price, qty, cid)
        except OutcomeUnknownError as exc:
            self._outcome_unknown(f"order {cid}", cid, exc)
            return
        except MarketClosedError as exc:  # kept as an intent: sent once the market opens
            self.market.close(str(exc))
            return
        except InsufficientFundsError as exc:
            self._refused(cid, f"insufficient funds ({exc}); level skipped")
            self._count_error(f"order {cid}: insufficient funds ({exc})")
            self._refresh_balances()
            return
        except RejectedError as exc:
            self._refused(cid, f"rejected ({exc})")
            # an order that fits the rules we know, refused on a filter: they changed; read them (once a
            # batch: the next refused ones no longer fit what was read)
            if FILTER_FAILURE in str(exc) and fits(price, qty, self.rules):
                self._refresh_rules(now=True)
            # decided on rules the exchange has changed since (the adapter checks the new ones too): decided
            # again at the next candle, by the new rules; not the bot's error
            if not fits(price, qty, self.rules):
                self.holes = True
                return
            self._count_error(f"order {cid} rejected ({exc})")
            return
        if state.status in ("canceled", "expired", "rejected") and state.filled == 0:
            # answered as ended (Binance: EXPIRED for an IOC, an expiry by self-trade prevention): not resting
            with self.store.cycle():
                self.store.set_order_status(cid, state.status, exchange_id=state.exchange_id)
            log.warning(
                f"order {cid}: {state.status} when placed; its level decided again at the next candle"
            )
            self.book.drop(cid)
            self.holes = True
            return
        with self.store.cycle():
            self.store.set_order_status(cid, "open", exchange_id=state.exchange_id)

    def _outcome_unknown(self: TraderRooms, what: str, cid: str, exc: OutcomeUnknownError) -> None:
        """A create whose answer was lost: looked up by its client id from half a second on."""
        log.warning(f"{what}: outcome unknown ({exc}); looking it up by client id")
        now = time.monotonic()
        self.unknown[cid] = Unknown(now, now + 0.5)
        with self.store.cycle():
            self.store.set_order_status(cid, "unknown")

    def _sell_at_market(self: TraderRooms, cid: str, qty: Decimal) -> None:
        """An exit's sale (`exits`): a lost answer is looked up by client id, as a create's is. Sent once
        every cancel is confirmed (the coins resting sells hold are freed by them), or EXIT_CANCELS_WAIT_S
        after it was decided whatever they say (a cancel confirms only once its fills are booked, which a
        halted loop does not do: the sale must never wait on it); a refusal is tried again,
        backing off up to a minute, for what the account still holds of it, until it is done or the account
        holds none of it (the position is gone): never left unsold in silence."""
        now = time.monotonic()
        if cid not in self.exit_retry and self.cancelled:  # the cancels' answers first, a few seconds at most
            self.exit_retry[cid] = (0, now + EXIT_CANCELS_WAIT_S)
        if now < self.exit_retry.get(cid, (0, 0.0))[1]:
            return
        try:
            state = self.venue.sell_at_market(qty, cid)
        except OutcomeUnknownError as exc:
            self._outcome_unknown(f"exit sale {cid}", cid, exc)
            return
        except (RejectedError, MarketClosedError) as exc:
            self._exit_refused(cid, qty, exc)
            return
        self.exit_retry.pop(cid, None)
        log.info(f"exit sale {cid}: {qty} sold at market ({state.status})")
        with self.store.cycle():
            self.store.set_order_status(cid, state.status, exchange_id=state.exchange_id)

    def _exit_refused(self: TraderRooms, cid: str, qty: Decimal, exc: VenueError) -> None:
        """A refused exit sale: tried again for what the account holds of it (a refusal sent nothing)."""
        balances = self.venue.balances()
        self._store_balances(balances)
        bal = balances.get(self.base)
        free = Decimal(0) if bal is None else bal.free
        left = min(qty, (free / self.rules.lot_step).to_integral_value(ROUND_FLOOR) * self.rules.lot_step)
        dust = exact(self.engine.stats.last_close) * (left or qty) < self.rules.min_notional
        if dust or (left <= 0 and bal is not None and bal.free + bal.locked < self.rules.lot_step):
            what = (
                "below the market's minimum notional" if dust else f"the account holds no {self.base} to sell"
            )
            log.warning(f"exit sale {cid} of {qty}: refused ({exc}); {what}: done")
            with self.store.cycle():
                self.store.set_order_status(cid, "rejected")
            self.exit_retry.pop(cid, None)
            return
        tries = self.exit_retry.get(cid, (0, 0.0))[0] + 1
        wait = min(2.0**tries, 60.0)
        self.exit_retry[cid] = (tries, time.monotonic() + wait)
        self.metrics.exit_retries.inc()
        if 0 < left < qty:
            with self.store.cycle():
                self.store.set_order_qty(cid, left)
        log.warning(f"exit sale {cid} of {qty}: refused ({exc}); tried again in {wait:.0f}s for "
                    f"{left or qty} (attempt {tries})")  # fmt: skip

    def _refused(self: TraderRooms, cid: str, why: str) -> None:
        log.warning(f"order {cid}: {why}")
        self.book.drop(cid)
        with self.store.cycle():
            self.store.set_order_status(cid, "rejected")
            self._save_snapshot()

    def _resolve_unknown(self: TraderRooms) -> None:
        """Orders whose create got no answer: found (open or done) or, past the deadline, placed again."""
        now = time.monotonic()
        for cid, u in list(self.unknown.items()):
            if now < u.next_check:
                continue
            state = self.venue.order(cid)
            cancelling = cid in self.cancelled  # the engine cancelled it meanwhile: _send carries that out
            if state is not None:
                del self.unknown[cid]
                with self.store.cycle():
                    status = "cancel" if cancelling else "open" if state.status == "open" else state.status
                    self.store.set_order_status(cid, status, exchange_id=state.exchange_id)
                if (
                    state.status in ("canceled", "rejected", "expired")
                    and state.filled == 0
                    and not cancelling
                ):
                    self._replace(cid)
                continue
            if now - u.since < self.cfg.run.unknown_order_deadline_s:
                u.wait = min(u.wait * 2, 10.0)
                u.next_check = now + u.wait
                continue
            del self.unknown[cid]
            if cancelling:
                log.warning(
                    f"order {cid}: not on the exchange {now - u.since:.0f}s after it was sent, and cancelled"
                )
                self.cancelled.pop(cid)
                with self.store.cycle():
                    self.store.set_order_status(cid, "lost")
                continue
            log.warning(
                f"order {cid}: not on the exchange {now - u.since:.0f}s after it was sent: placing it again"
            )
            self._replace(cid)

    def _replace(self: TraderRooms, cid: str) -> None:
        """The order never reached the exchange: the engine's order is placed again under a new sequence."""
        live = self.book.drop(cid)
        row = self.store.order_row(cid)
        with self.store.cycle():
            self.store.set_order_status(cid, "lost")
            if row is not None and row.level == EXIT_LEVEL:  # never arrived: sent again, for what is held
                self.book.sell_at_market(self.engine.portfolio.base, self.engine.stats.last_close,
                                         self.cfg.market.taker_fee, row.opened_ms)  # fmt: skip
                self._commit_actions()
            if live is not None:
                o = live.order
                self.book.place_limit(o.side, o.price, float(live.qty - live.filled), o.level, o.opened_ms)
                self._commit_actions()
            self._save_snapshot()
