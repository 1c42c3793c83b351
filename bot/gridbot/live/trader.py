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

One object, in rooms of its own: attribution, the order lifecycle and recovery read and write the same book,
cancelled and unknown orders and store cursors inside one cycle's transaction, so they stay one `Trader`;
its steps live by what they do, mixed in: sending the decisions (`sending`), recovery after a restart and at
each reconcile (`recovery`), booking the exchange's trades and their fees (`bookkeeping`); what they share is
typed in `rooms`. This module holds the loop: a cycle's order, its halts and guards, its status. What is pure
or separate lives beside it: the risk guards (`guards`), holdings (`holdings`), exits (`exits`), the market's
rules and status (`market_watch`), whose orders are ours (`ownership`), request weight (`weights`), the
market's checks (`preflight`), the wiring of a run (`run`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import deque
from decimal import Decimal
from typing import Any

import numpy as np

from gridbot import __version__
from gridbot.config.model import BotConfig, duration_seconds
from gridbot.contract import KEY_REFUSED_HALT
from gridbot.core.candles import Candles
from gridbot.core.engine import GridEngine
from gridbot.core.paper import OrderBook, PaperExchange
from gridbot.live.book import (
    LiveBook,
    LiveOrder,
    new_epoch,
)
from gridbot.live.bookkeeping import Bookkeeping
from gridbot.live.exits import EXIT_LEVEL
from gridbot.live.guards import budget_spent, stale_price, verdict, within_the_hour
from gridbot.live.holdings import Drift
from gridbot.live.market_watch import MarketWatch
from gridbot.live.ownership import Ownership
from gridbot.live.preflight import check_funds, check_rules
from gridbot.live.recovery import Recovery
from gridbot.live.sending import Sending
from gridbot.live.shared import Unknown
from gridbot.live.venue import (
    AuthFailedError,
    Candle,
    RateLimitedError,
    Venue,
    VenueError,
)
from gridbot.ops.health import Heartbeat, StoppingError
from gridbot.ops.heap import trim_heap
from gridbot.ops.logs import engine_log, run_logged
from gridbot.ops.metrics import Metrics
from gridbot.ops.service import status_of
from gridbot.ops.store import BOT_ID_CURSOR, Store

log = logging.getLogger(__name__)
CANDLES_PER_CALL = 500


def _candles(rows: list[Candle]) -> Candles:
    a = np.array([[c.time_ms, c.open, c.high, c.low, c.close, c.volume] for c in rows], dtype=np.float64)
    return Candles.from_rows(a)


class Trader(Sending, Recovery, Bookkeeping):
    def __init__(
        self,
        cfg: BotConfig,
        venue: Venue,
        store: Store,
        metrics: Metrics,
        live: bool,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self.cfg = cfg
        self.heartbeat = heartbeat or heartbeat_of(cfg)
        self.venue = venue
        self.store = store
        self.metrics = metrics
        self.live = live
        self.tf_ms = cfg.run.timeframe_ms
        every = (cfg.run.rules_every_s, cfg.run.halted_market_every_s)
        self.market = MarketWatch.opened(venue, cfg.market.symbol, metrics, every)
        self.rules = self.market.rules
        self.owner = Ownership.of(store, cfg.run.bot_id, _epoch(store)) if live else None
        check_rules(cfg, self.rules, venue.open_orders() if live else None, self.owner)
        if self.owner is not None:
            _record_bot_id(store, cfg.run.bot_id)
        self.base, self.quote = self.rules.base, self.rules.quote
        seq = int(store.cursor("seq") or 1)
        self.fee_values: dict[str, Decimal] = {}  # trade id -> quote value of its fee paid in a third asset
        self.unvalued: set[str] = set()  # fee assets the exchange has no price for (logged once)
        self.drift: Drift | None = None  # the last holdings check
        self.drift_since: float | None = None  # monotonic: past risk.holdings_drift.halt_pct since
        self.book = (
            LiveBook(self.rules, cfg.run.bot_id, self.tf_ms, seq, self.owner.epoch, self._fee_value)
            if self.owner is not None
            else None
        )
        orders: OrderBook = self.book if self.book is not None else PaperExchange(cfg.market.maker_fee)
        self.engine = GridEngine(
            cfg, exchange=orders, ledger=self._ledger, trips=self._trip, log=engine_log()
        )
        self.cycle = 0
        self.cancelled: dict[str, LiveOrder] = {}  # cancel sent or to send, until the exchange confirms
        self.unknown: dict[str, Unknown] = {}
        self.holes = False  # an order ended on the exchange without filling: its level decided again
        self.trades_due = True  # read our trades this cycle though no candle closed (`_trades_due`)
        # a refused exit sale: (tries, next try, monotonic)
        self.exit_retry: dict[str, tuple[int, float]] = {}
        # exchange order ids looked up once, not to record: someone else's, or ours sent from this store
        self.looked_up: set[str] = set()
        # the error budget's window (wall-clock seconds), kept in the store: a restart does not reset it
        limit = cfg.risk.max_errors_per_hour
        self.errors: deque[float] = deque(maxlen=limit + 1 if limit is not None else 1000)
        self.errors.extend(within_the_hour(json.loads(store.cursor("errors") or "[]"), time.time()))
        self.outage_since: float | None = None  # the exchange unavailable since (monotonic), waited out
        self._candle_came()
        self.last_fill_at: float | None = None
        self.ready = False
        self.key_refused = False  # the exchange refused the credentials: nothing is sent until a resume
        self.published: dict[str, Any] = {}
        self.stop = threading.Event()
        self._paper_n = 0
        saved = store.snapshot()
        # A first trading start claims its start_quote from the account: no order yet (a first start halted
        # by a refused key saved a snapshot, and is still one)
        if self.owner is not None and next(store.client_ids(), None) is None:
            check_funds(cfg, venue, self.rules)
        if saved is not None:
            with self.book.restoring() if self.book else contextlib.nullcontext():
                self.engine.restore(saved[2])
            # the resume's equity as the store kept it before the engine's snapshot did
            self.cycle, self.engine.equity_base = (
                saved[1],
                float(store.cursor("equity_base") or self.engine.equity_base),
            )
        if self.book is not None:
            self._load_orders()

    # --- persistence of the engine's events ----------------------------------------------------------

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
                    if self.book is not None and (halt.cancel or self.cfg.risk.cancel_on_halt):
                        self.book.cancel_all()
                        self.book.cancel_found()
                        self._commit_actions()
                        self.store.set_cursor("halt_cancelled", "1")  # the grid goes back at the resume
                    self.store.set_cursor("halted", halt.reason)
                    self._save_snapshot()
                if not self.key_refused:  # a refused key sends nothing: a restart with a good one will
                    self._send(creates=False)  # halted: cancels go out, nothing new does
                return
            if self.book is not None and (full or not self.ready):
                self.reconcile()
                self.trades_due = True
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
        trades = self._new_trades() if self.book is not None and self._trades_due(bool(rows)) else []
        fresh = [self._ours(t) for t in trades if not self.store.has_fill(t.trade_id)]
        held = self._attribute(fresh)
        self.trades_due = bool(held)
        if rows:
            self._candle_came()
        self._value_fees()
        with self.store.cycle():
            resumed = self.store.resume_due()
            if resumed:
                self._resumed()
            if rows:
                self._paper_n = 0
                run_logged(self.engine, _candles(rows), log)
            if resumed:  # at the newest close, once the candles missed while halted are taken
                # and once the fills of the orders the halt cancelled too late are booked (the halted bot
                # read no trade): the grid offers only the coins those fills left
                self._account_orphans()
                self._replant()
            if self.engine.resumable and self.store.halt_state() is None:  # the engine's kill switch fired
                self._halt_within(self.engine.halted)
            if rows:
                # once a candle, and once the book is settled: no cancel pending, no found order undecided
                # (their coins and levels are not the engine's to offer again yet)
                if self.holes and self.book is not None and not self.cancelled and not self.book.finding:
                    self.holes = False
                    self.engine.heal(self.engine.stats.last_close, self.engine.stats.last_ms)
                if self.book is not None:
                    for live in self.book.release_found(self.engine.stats.last_ms):
                        sale = live.order.level == EXIT_LEVEL
                        log.info(f"{'exit sale' if sale else 'order'} {live.client_id}: the candles since "
                                 f"did not decide it again; {'' if sale else 'cancelled, '}its trades booked "
                                 "as the exchange executed them")  # fmt: skip
            self._account_orphans()
            self._oversold()
            # up to the first trade still waiting for its candle: a restart fetches that one again
            waiting = self.book.waiting() | held if self.book is not None else set()
            done = [t.trade_id for t in trades]
            first = next((i for i, tid in enumerate(done) if tid in waiting), len(done))
            # while an order's create is unanswered its trades may be invisible yet, their ids below later
            # ones: the cursor stays where it was when the order was sent, the trades after it read again
            if first and not self.unknown:
                self.store.set_cursor("trade", done[first - 1])
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

    def _trades_due(self, new_candle: bool) -> bool:
        """Whether to read our trades (Binance's myTrades weighs 20, a kline 2): when a candle closed (the
        engine books a fill at its candle's close, so a trade read sooner would wait for it), while a create
        or a cancel is unsettled, after trades were held back, and at every full reconciliation. Read every
        cycle, they were 1,200 of a bot's ~1,320 weight a minute at a 1 s cycle."""
        return new_candle or bool(self.unknown) or bool(self.cancelled) or self.trades_due

    # --- recovery ----------------------------------------------------------------------------------

    # --- kill switches, status -------------------------------------------------------------------

    def _resumed(self) -> None:
        """`gridbot resume` lifted a halt (seen now, or while the bot was down), carried out in the cycle's
        transaction: the kill switches start over (the drawdown from the equity at resume, or the one that
        fired would fire again at once); a cancel the halt still owed is carried out now, and a grid the halt
        left without orders is placed again at once around the last close, the inventory offered above it
        (the operator's resume is not a regrid the cooldown holds back)."""
        owed = self.store.take_resume()
        if owed and self.book is not None:
            self.book.cancel_all()
            self.book.cancel_found()
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
            pending_orders=len(self.unknown) + len(self.cancelled),
            equity=s["end_equity"],
            api_errors=len(within_the_hour(self.errors, time.time())),  # the error budget's count
            last_fill_age_s=None if self.last_fill_at is None else round(time.time() - self.last_fill_at, 1),
            breaker="open" if self.metrics.registry.get_sample_value("gridbot_breaker_open") else "closed",
            holdings=None if self.drift is None else self.drift.status(),
        )
        return s

    def _save_status(self) -> None:
        halt = self.store.halt_state()
        self.metrics.show(self.engine, halt.reason if halt else self.engine.halted)
        self.published = self._status()

    def status(self) -> dict[str, Any]:
        """The last cycle's status, for the HTTP thread: the store's connection belongs to the loop's."""
        return self.published


def _record_bot_id(store: Store, bot_id: str) -> None:
    """The run.bot_id this store runs under, for a restore to compare (`backup.restore`); a changed one is
    a rename: the orders placed under the old id stay ours by the store's lineage (`ownership`)."""
    before = store.cursor(BOT_ID_CURSOR)
    if before == bot_id:
        return
    if before is not None:
        log.info(
            f"run.bot_id is now {bot_id!r} (was {before!r}): orders placed as {before!r} stay this bot's"
        )
    with store.cycle():
        store.set_cursor(BOT_ID_CURSOR, bot_id)


def _epoch(store: Store) -> str:
    """The state directory's client id tag, made at its first live start (see `book.new_epoch`)."""
    epoch = store.cursor("id_epoch")
    if epoch is None:
        epoch = new_epoch()
        with store.cycle():
            store.set_cursor("id_epoch", epoch)
    return epoch


def heartbeat_of(cfg: BotConfig) -> Heartbeat:
    """The loop's heartbeat: allowed 3 cycles and 10 s; written every cycle and every second of a wait."""
    return Heartbeat(cfg.run.heartbeat_file, cfg.run.heartbeat_max_age)
