"""`gridbot run` on an exchange: `mode: live` (orders through the venue) and `mode: paper` with
`run.data: exchange` (the exchange's closed candles, fills from the paper engine, no keys).

One cycle: read the closed candles after the last one processed and our trades after the last one recorded,
then, in ONE store transaction, let the engine decide on those candles (fills first, exactly where the paper
engine would meet them), record each fill once (the exchange's trade id is the key), write every placement
and cancel as an intent and the engine snapshot; only after that commit are the intents sent. So a crash
anywhere leaves either the previous cycle or this one, and an order is never on the exchange without its
intent in the store.

Placement is idempotent: the client order id is deterministic (bot, level, side, sequence, and the state
directory's tag, so ids stay unique across a reset), and a create
whose outcome is unknown (timeout, dropped connection, 5xx) is never re-sent as is: the order is looked up
by its client id, with backoff, until `run.unknown_order_deadline_s` (longer than the exchange's visibility
lag) has passed; only then is it placed again, under a new sequence number.

Recovery, at every start and every `run.reconcile_every` cycles: the open orders (one call), every order the
store holds as not finished (by client id), our own orders the store does not know (adopted, by prefix),
anyone else's left alone, balances refreshed. A trade names its order by the exchange's id only: the store's
exchange ids make it ours after any restart (a fill of an order whose cancel was committed, or that the store
already holds as finished, is booked, once, without a counter-order). No trade is passed over while a create
is unanswered: the trade cursor waits, and a trade no order names is read again until nothing is unresolved;
an order declared lost that turns up later takes its replacement's place (never two on one level). A cancel
is finished only when the exchange shows the order finished and its trades are booked; "unknown order" to
both the cancel and a lookup is the exchange's visibility lag, looked up like an unanswered create. Holdings
are compared with the exchange's balances at every recovery (`holdings`).

Kill switches (drawdown against start equity, errors per hour that mean the bot is wrong, a stale price
feed, authentication refused, `gridbot halt`; judged in `guards`: an unavailable exchange is waited out,
never counted) freeze trading: no new orders, resting ones kept (or cancelled: `risk.cancel_on_halt`,
`gridbot halt --cancel`); the halt lives in the store, so it survives restarts until `gridbot resume`.
An exit (`exits.stop_loss`/`take_profit`) sells the engine's own inventory at market, once (`exits`).

This module holds the loop both modes share (`Trader`): a cycle's order, its halts and guards, its status.
Each mode is a trader of its own: `paper_trader.PaperTrader` books the paper engine's fills;
`live_trader.LiveTrader` has the live book, and what it does with the exchange's orders fills the steps this
loop leaves empty. Its attribution, order lifecycle and recovery read and write the same book, cancelled and
unknown orders and store cursors inside one cycle's transaction, so they stay one object; its steps live by
what they do, mixed in: sending the decisions (`sending`), recovery after a restart and at each reconcile
(`recovery`), booking the exchange's trades and their fees (`bookkeeping`); what they share is typed in
`rooms`. What is pure or separate lives beside them: the risk guards (`guards`), holdings (`holdings`), exits
(`exits`), the market's rules and status (`market_watch`), whose orders are ours (`ownership`), request
weight (`weights`), the market's checks (`preflight`), the wiring of a run (`run`). The loop stays one module
(~430 lines, 46 of them this text): a cycle's steps in their order are what a reader checks against the
crash-safety promise above, and split they could not be read in one place.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from typing import Any, Generic, TypeVar

import numpy as np

from gridbot import __version__
from gridbot.config.model import BotConfig, duration_seconds
from gridbot.contract import KEY_REFUSED_HALT
from gridbot.core.candles import Candles
from gridbot.core.engine import GridEngine, LedgerRow
from gridbot.core.paper import Fill
from gridbot.core.portfolio import RoundTrip
from gridbot.live.guards import budget_spent, stale_price, verdict, within_the_hour
from gridbot.live.market_watch import MarketWatch
from gridbot.live.venue import (
    AuthFailedError,
    Candle,
    RateLimitedError,
    Trade,
    Venue,
    VenueError,
)
from gridbot.ops.health import Heartbeat, StoppingError
from gridbot.ops.heap import trim_heap
from gridbot.ops.logs import run_logged
from gridbot.ops.metrics import Metrics
from gridbot.ops.service import status_of
from gridbot.ops.store import Store

log = logging.getLogger(__name__)
CANDLES_PER_CALL = 500
# The fills of the trader's engine: the paper exchange's, or the live book's with their trades.
F = TypeVar("F", bound=Fill)


def _candles(rows: list[Candle]) -> Candles:
    a = np.array([[c.time_ms, c.open, c.high, c.low, c.close, c.volume] for c in rows], dtype=np.float64)
    return Candles.from_rows(a)


class Trader(Generic[F]):
    """The loop of `gridbot run` on an exchange's candles. A mode makes the engine (`engine`, with its book)
    and books its fills (`_ledger`); the steps that only orders on the exchange have are empty here, and
    `LiveTrader` fills them."""

    engine: GridEngine[F]

    def __init__(
        self, cfg: BotConfig, venue: Venue, store: Store, metrics: Metrics, heartbeat: Heartbeat | None = None
    ) -> None:
        self.cfg = cfg
        self.heartbeat = heartbeat or heartbeat_of(cfg)
        self.venue = venue
        self.store = store
        self.metrics = metrics
        self.tf_ms = cfg.run.timeframe_ms
        every = (cfg.run.rules_every_s, cfg.run.halted_market_every_s)
        self.market = MarketWatch.opened(venue, cfg.market.symbol, metrics, every)
        self.rules = self.market.rules
        self.base, self.quote = self.rules.base, self.rules.quote
        self.cycle = 0
        self.trades_due = True  # read our trades this cycle though no candle closed (`_trades_due`)
        # the error budget's window (wall-clock seconds), kept in the store: a restart does not reset it
        limit = cfg.risk.max_errors_per_hour
        self.errors: deque[float] = deque(maxlen=limit + 1 if limit is not None else 1000)
        self.errors.extend(within_the_hour(json.loads(store.cursor("errors") or "[]"), time.time()))
        self.outage_since: float | None = None  # the exchange unavailable since (monotonic), waited out
        self._candle_came()
        self.last_fill_at: float | None = None  # wall clock of the last fill booked
        self.ready = False
        self.key_refused = False  # the exchange refused the credentials: nothing is sent until a resume
        self.published: dict[str, Any] = {}
        self.stop = threading.Event()

    def _restore(self) -> None:
        """The engine as the store's snapshot left it, and the cycle and resume equity with it."""
        saved = self.store.snapshot()
        if saved is None:
            return
        self.engine.restore(saved[2])
        # the resume's equity as the store kept it before the engine's snapshot did
        self.cycle, self.engine.equity_base = (
            saved[1],
            float(self.store.cursor("equity_base") or self.engine.equity_base),
        )

    # --- what a mode does ------------------------------------------------------------------------

    def _ledger(self, row: LedgerRow, fill: F) -> None:
        """One fill the engine booked, recorded in the store."""
        raise NotImplementedError

    def _trip(self, trip: RoundTrip) -> None:
        self.store.add_round_trip(trip)
        self.metrics.round_trips.inc()

    # What orders on the exchange need, in a cycle's order; nothing for the paper engine's.

    def _recover(self, full: bool) -> None:
        """Before a cycle's candles: the store's orders against the exchange's."""

    def _resolve_unknown(self) -> None:
        """Orders whose create got no answer."""

    def _our_trades(self, new_candle: bool) -> tuple[list[Trade], set[str]]:  # noqa: ARG002  (no trades to read)
        """The exchange's trades of ours to book this cycle, and the ids of those held back for the next."""
        return [], set()

    def _cancel_for_halt(self) -> None:
        """A halt's cancel (`gridbot halt --cancel`, `risk.cancel_on_halt`), in the cycle's transaction."""

    def _cancel_orders(self) -> None:
        """Every resting order cancelled, in the cycle's transaction (at a resume: the halt's still owed)."""

    def _settle_candles(self) -> None:
        """After the engine took new candles: what the book kept back from its decisions."""

    def _account_orphans(self) -> None:
        """Fills of orders the engine had already cancelled."""

    def _keep_trade_cursor(self, trades: list[Trade], held: set[str]) -> None:
        """Where the next cycle's trades start."""

    def _commit_actions(self) -> None:
        """Inside the cycle's transaction: the engine's decisions as intents."""

    def _send(self, creates: bool = True) -> None:
        """After the cycle's transaction: the intents carried out."""

    def _check_holdings(self, full: bool) -> None:
        """The engine's holdings against the exchange's balances."""

    def _refresh_rules(self, now: bool = False) -> bool:
        """`MarketWatch.refresh`: the market's rules and status as the exchange has them now."""
        changed = self.market.refresh(now)
        if changed:
            self.rules = self.market.rules
        return changed

    def _pending_orders(self) -> int:
        """Orders sent whose outcome the exchange has not shown yet."""
        return 0

    def _holdings_status(self) -> dict[str, object] | None:
        """The last holdings check, for the status."""
        return None

    # --- the loop --------------------------------------------------------------------------------

    def run(self, max_cycles: int | None = None) -> int:
        every = self.cfg.run.cycle_seconds
        ran = 0
        log.info(f"{self.cfg.mode} {self.cfg.market.symbol} on {self.cfg.exchange.id}, every {every}s, "
                 f"from cycle {self.cycle}")  # fmt: skip
        while not self.stop.is_set() and (max_cycles is None or ran < max_cycles):
            started = time.monotonic()
            full = ran % self.cfg.run.reconcile_every == 0
            self.step(full=full)
            if full:  # the start's and each reconciliation's garbage (whole order books) handed back
                trim_heap()
            ran += 1
            self.metrics.cycle_seconds.observe(time.monotonic() - started)
            self.heartbeat.beat(self.cycle)
            self.stop.wait(max(0.0, every - (time.monotonic() - started)))
        log.info(f"stopped after cycle {self.cycle}: {self.engine.summary()['round_trips']} round trips")
        return 0

    def step(self, full: bool) -> None:
        """One cycle; an exchange error ends it early (counted in the error budget), never the process."""
        try:
            halt = self.store.halt_state()
            if halt is not None:
                with self.store.cycle():
                    if halt.cancel or self.cfg.risk.cancel_on_halt:
                        self._cancel_for_halt()
                    self.store.set_cursor("halted", halt.reason)
                    self._save_snapshot()
                if not self.key_refused:  # a refused key sends nothing: a restart with a good one will
                    self._send(creates=False)  # halted: cancels go out, nothing new does
                return
            self._recover(full)
            self.ready = True
            self._resolve_unknown()
            self._trade()
            self._check_holdings(full)
            self._refresh_rules()
            self._send(creates=not self.market.closed)
            self._guards()
            if self.outage_since is not None:
                log.info(
                    f"exchange available again after {time.monotonic() - self.outage_since:.0f}s: trading on"
                )
                self.outage_since = None
        except StoppingError:
            pass  # SIGTERM during a read's wait: the loop ends after this cycle, as after any other
        except AuthFailedError as exc:
            self.key_refused = True
            with self.store.cycle():
                self.store.note_key_refused()
                self._halt_within(f"{KEY_REFUSED_HALT}: {exc}")
        except RateLimitedError as exc:
            self._error(exc)  # waited out, never counted (guards.verdict)
            self.heartbeat.wait(self.stop, min(exc.retry_after, 60.0))  # alive meanwhile: beating
        except VenueError as exc:
            self._error(exc)
        finally:
            self._save_status()

    def _error(self, exc: VenueError) -> None:
        if verdict(exc) == "wait":  # the exchange unavailable: the breaker's job, logged once per outage
            if self.outage_since is None:
                self.outage_since = time.monotonic()
                log.warning(
                    f"exchange unavailable ({type(exc).__name__}: {exc}); waiting for it, not counted"
                )
            return
        log.error(f"exchange error ({type(exc).__name__}): {exc}")
        self._count_error(f"{type(exc).__name__}: {exc}")

    def _count_error(self, cause: str) -> None:
        """An error that means the bot itself is wrong (guards.verdict "count"): a refused order, funds it
        does not have, an answer it cannot read. Unavailability never comes here."""
        now = time.time()
        kept = within_the_hour(self.errors, now)
        self.errors.clear()
        self.errors.extend([*kept, now])
        with self.store.cycle():
            self.store.set_cursor("errors", json.dumps(list(self.errors)))
        reason = budget_spent(len(self.errors), self.cfg.risk.max_errors_per_hour, cause)
        if reason is not None:
            self._halt(reason)

    def _save_snapshot(self) -> None:
        self.store.save_snapshot(self.cfg.market.symbol, self.cycle, self.engine.snapshot(), self._status())

    def _halt(self, reason: str) -> None:
        with self.store.cycle():
            self._halt_within(reason)

    def _halt_within(self, reason: str) -> None:
        """The halt, inside the caller's transaction: with the cycle that gave its reason, or not at all."""
        already = self.store.halt_state() is not None
        self.store.set_halt(reason, self.cfg.risk.cancel_on_halt)
        self.store.set_cursor("halted", reason)  # a resume before the next cycle restarts the switches
        self._save_snapshot()
        if not already:  # the first reason stands (and was logged)
            log.error(f"trading halted: {reason}")

    # --- candles, fills, decisions ---------------------------------------------------------------

    def _trade(self) -> None:
        since = self.engine.stats.last_ms + self.tf_ms if self.engine.stats.candles else None
        rows = (
            self.venue.closed_candles(self.cfg.run.timeframe, since, CANDLES_PER_CALL)
            if self._candle_due()
            else []
        )
        if since is None:  # a fresh bot starts at the newest closed candle: it never trades on history
            rows = rows[-1:]
        trades, held = self._our_trades(bool(rows))
        self.trades_due = bool(held)
        if rows:
            self._candle_came()
        with self.store.cycle():
            resumed = self.store.resume_due()
            if resumed:
                self._resumed()
            if rows:
                run_logged(self.engine, _candles(rows), log)
            if resumed:  # at the newest close, once the candles missed while halted are taken
                # and once the fills of the orders the halt cancelled too late are booked (the halted bot
                # read no trade): the grid offers only the coins those fills left
                self._account_orphans()
                self._replant()
            if self.engine.resumable and self.store.halt_state() is None:  # the engine's kill switch fired
                self._halt_within(self.engine.halted)
            if rows:
                self._settle_candles()
            self._account_orphans()
            self._oversold()
            self._keep_trade_cursor(trades, held)
            self._commit_actions()
            self.cycle += 1
            self._save_snapshot()

    def _candle_due(self) -> bool:
        """Whether a candle can have closed since the last one taken (by the exchange's clock, as last
        measured): klines once per candle, not every cycle, and every cycle once one is due until it comes
        (an exchange publishes a closed candle a moment after its close). Also at every full reconcile."""
        if not self.engine.stats.candles or self.trades_due:
            return True
        next_close_ms = self.engine.stats.last_ms + 2 * self.tf_ms
        return time.time() * 1000 + self.venue.clock_skew_ms() >= next_close_ms

    # --- kill switches, status -------------------------------------------------------------------

    def _resumed(self) -> None:
        """`gridbot resume` lifted a halt (seen now, or while the bot was down), carried out in the cycle's
        transaction: the kill switches start over (the drawdown from the equity at resume, or the one that
        fired would fire again at once); a cancel the halt still owed is carried out now, and a grid the halt
        left without orders is placed again at once around the last close, the inventory offered above it
        (the operator's resume is not a regrid the cooldown holds back)."""
        owed = self.store.take_resume()
        if owed:
            self._cancel_orders()
        self.engine.lift()
        if self.engine.stats.last_close > 0:
            self.store.set_cursor("equity_base", repr(self.engine.equity_base))
        self.store.set_cursor("errors", "[]")
        self.errors.clear()
        self._candle_came()  # the halted bot read none: the guard counts from the resume
        self.key_refused = False  # the key is tried again (refused again: halted again)
        log.info(
            "resumed: trading again" + ", its orders cancelled (the halt's cancel was still owed)" * owed
        )

    def _oversold(self) -> None:
        """A sale past the engine's holding (`GridEngine._within_holding`): booked as far as the holding went,
        and trading halted with the figures; the operator decides (the excess was the account's other coins,
        or fees the books did not see)."""
        for time_ms, sold, held in self.engine.oversold:
            self._halt_within(
                f"a sale of {sold:g} {self.base} at {time_ms} exceeded the {held:g} the bot held: booked "
                f"{held:g}, the other {sold - held:g} was not the bot's to sell"
            )
        self.engine.oversold.clear()

    def _replant(self) -> None:
        before = len(self.engine.exchange.open_orders())
        self.engine.replant()
        if not before and self.engine.exchange.open_orders():
            log.info(f"grid placed again at once around {self.engine.stats.last_close:g}")

    def _candle_came(self) -> None:
        """A new closed candle came (or the count starts: a start, a resume). The stale-price guard and
        gridbot_last_candle_age_seconds count from the same instant on the same clock, so they agree."""
        self.last_new_candle = time.monotonic()
        self.metrics.candle_seen(self.last_new_candle)

    def _guards(self) -> None:
        """The kill switches only the live shell sees; the drawdown is the engine's (`core.risk`)."""
        r = self.cfg.risk
        stale = stale_price(time.monotonic() - self.last_new_candle, duration_seconds(r.max_price_age),
                            self.tf_ms / 1000, r.max_price_age, self.cfg.run.timeframe)  # fmt: skip
        if stale is not None:
            self._halt(stale)

    def _status(self) -> dict[str, Any]:
        s = status_of(self.engine, self.cycle, self.cfg, self.store)
        s.update(
            version=__version__,
            exchange=self.cfg.exchange.id,
            last_candle_ms=self.engine.stats.last_ms,
            pending_orders=self._pending_orders(),
            equity=s["end_equity"],
            api_errors=len(within_the_hour(self.errors, time.time())),  # the error budget's count
            last_fill_age_s=None if self.last_fill_at is None else round(time.time() - self.last_fill_at, 1),
            breaker="open" if self.metrics.registry.get_sample_value("gridbot_breaker_open") else "closed",
            holdings=self._holdings_status(),
        )
        return s

    def _save_status(self) -> None:
        halt = self.store.halt_state()
        self.metrics.show(self.engine, halt.reason if halt else self.engine.halted)
        self.published = self._status()

    def status(self) -> dict[str, Any]:
        """The last cycle's status, for the HTTP thread: the store's connection belongs to the loop's."""
        return self.published


def heartbeat_of(cfg: BotConfig) -> Heartbeat:
    """The loop's heartbeat: allowed 3 cycles and 10 s; written every cycle and every second of a wait."""
    return Heartbeat(cfg.run.heartbeat_file, cfg.run.heartbeat_max_age)
