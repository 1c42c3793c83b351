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

One class of ~700 lines, on purpose: attribution, the order lifecycle and recovery read and write the same
book, cancelled and unknown orders and store cursors inside one cycle's transaction, and split apart they
would hide which step changes what. What is pure or separate lives beside it: the risk guards (`guards`),
holdings (`holdings`), exits (`exits`), the market's checks (`preflight`), the wiring of a run (`run`).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import numpy as np

from gridbot import __version__
from gridbot.config.model import BotConfig, duration_seconds
from gridbot.core.candles import Candles
from gridbot.core.engine import GridEngine, LedgerRow
from gridbot.core.paper import Fill, OrderBook, PaperExchange
from gridbot.core.portfolio import RoundTrip, Side
from gridbot.live.book import (
    LiveBook,
    LiveFill,
    LiveOrder,
    client_id_parts,
    fees_of,
    new_epoch,
)
from gridbot.live.exits import EXIT_LEVEL
from gridbot.live.guards import budget_spent, drawdown, stale_price, verdict, within_the_hour
from gridbot.live.holdings import Drift, measure, native, unbooked
from gridbot.live.market_watch import FILTER_FAILURE, MarketWatch
from gridbot.live.ownership import Ownership
from gridbot.live.preflight import check_rules
from gridbot.live.venue import (
    AuthFailedError,
    Balance,
    Candle,
    InsufficientFundsError,
    MarketClosedError,
    OrderState,
    OutcomeUnknownError,
    RateLimitedError,
    RejectedError,
    Trade,
    Venue,
    VenueError,
)
from gridbot.ops.health import Heartbeat, StoppingError
from gridbot.ops.heap import trim_heap
from gridbot.ops.metrics import Metrics
from gridbot.ops.service import status_of
from gridbot.ops.store import BOT_ID_CURSOR, OrderRow, Store

CANDLES_PER_CALL = 500
FINISHED = ("closed", "canceled", "rejected", "expired")
LOST_WATCH_S = 86_400.0  # an order declared lost is looked for this long (epoch seconds) after


def log(message: str) -> None:
    print(f"gridbot: {message}", flush=True)


def _candles(rows: list[Candle]) -> Candles:
    a = np.array([[c.time_ms, c.open, c.high, c.low, c.close, c.volume] for c in rows], dtype=np.float64)
    return Candles.from_rows(a)


@dataclass
class Unknown:
    """An order whose create got no answer: looked up by client id until `deadline`."""

    since: float
    next_check: float
    wait: float = 0.5


class Trader:
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
        self.market = MarketWatch.opened(venue, cfg.market.symbol, metrics, log, every)
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
        self.engine = GridEngine(cfg, exchange=orders, ledger=self._ledger, trips=self._trip, log=log)
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
        self.last_new_candle = time.monotonic()
        self.last_fill_at: float | None = None
        self.ready = False
        self.key_refused = False  # the exchange refused the credentials: nothing is sent until a resume
        self.published: dict[str, Any] = {}
        self.stop = threading.Event()
        self._paper_n = 0
        saved = store.snapshot()
        if saved is not None:
            with self.book.restoring() if self.book else contextlib.nullcontext():
                self.engine.restore(saved[2])
            self.cycle = saved[1]
            if self.engine.stats.candles:
                self.metrics.candle_closed((self.engine.stats.last_ms + self.tf_ms) / 1000)
        if self.book is not None:
            self._load_orders()

    # --- persistence of the engine's events ----------------------------------------------------------

    def _ledger(self, row: LedgerRow, fill: Fill) -> None:
        pnl = row["realized_pnl"]
        self.last_fill_at = time.time()
        if self.book is None:  # paper on the exchange's candles: the fill's id is its candle and place in it
            self._paper_n += 1
            self.store.add_fill(f"paper:{self.engine.stats.last_ms}:{self.cycle}:{self._paper_n}", None,
                                str(row["side"]), row["price"], row["amount"], row["fee"],
                                str(row["fee_currency"]), pnl, int(time.time() * 1000))  # fmt: skip
            self.metrics.fills.labels(side=str(row["side"])).inc()
            return
        assert isinstance(fill, LiveFill), "the live book's fills carry their trades"
        live, trades = fill.live, fill.trades
        total = sum((t.qty for t in trades), Decimal(0))
        for t in trades:
            share = float(t.qty / total) if total else 0.0
            self.store.add_fill(t.trade_id, t.client_id, t.side, t.price, t.qty, t.fee, t.fee_currency,
                                pnl * share, t.time_ms)  # fmt: skip
            self.metrics.fills.labels(side=t.side).inc()
        if live.client_id in self.cancelled:  # a fill before the cancel arrived: the cancel still stands
            known = self.store.order_row(live.client_id)
            status = known.status if known else "cancel"
            self.store.set_order_status(live.client_id, status, filled=live.filled)
            return
        status = "closed" if live.filled >= live.qty else "open"
        self.store.set_order_status(live.client_id, status, filled=live.filled)

    def _trip(self, trip: RoundTrip) -> None:
        self.store.add_round_trip(trip)
        self.metrics.round_trips.inc()

    def _load_orders(self) -> None:
        assert self.book is not None
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

    # --- the loop --------------------------------------------------------------------------------

    def run(self, max_cycles: int | None = None) -> int:
        every = self.cfg.run.cycle_seconds
        ran = 0
        log(f"{self.cfg.mode} {self.cfg.market.symbol} on {self.cfg.exchange.id}, every {every}s, "
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
        log(f"stopped after cycle {self.cycle}: {self.engine.summary()['round_trips']} round trips")
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
            if self.store.cursor("halted"):
                self._resumed()
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
                log(f"exchange available again after {time.monotonic() - self.outage_since:.0f}s: trading on")
                self.outage_since = None
        except StoppingError:
            pass  # SIGTERM during a read's wait: the loop ends after this cycle, as after any other
        except AuthFailedError as exc:
            self.key_refused = True
            self._halt(f"exchange refused the credentials: {exc}")
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
                log(f"exchange unavailable ({type(exc).__name__}: {exc}); waiting for it, not counted")
            return
        log(f"exchange error ({type(exc).__name__}): {exc}")
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
            log(f"trading halted: {reason}")

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
            self.last_new_candle = time.monotonic()
            self.metrics.candle_closed((rows[-1].time_ms + self.tf_ms) / 1000)
        self._value_fees()
        with self.store.cycle():
            if rows:
                self._paper_n = 0
                self.engine.run_chunk(_candles(rows))
                if self.holes and self.book is not None:  # once a candle: a refusal is not retried per cycle
                    self.holes = False
                    self.engine.heal(self.engine.stats.last_close, self.engine.stats.last_ms)
                if self.book is not None:
                    for live in self.book.release_found(self.engine.stats.last_ms):
                        sale = live.order.level == EXIT_LEVEL
                        log(f"{'exit sale' if sale else 'order'} {live.client_id}: the candles since did not "
                            f"decide it again; {'' if sale else 'cancelled, '}its trades booked as the "
                            "exchange executed them")  # fmt: skip
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

    def _attribute(self, fresh: list[Trade]) -> set[str]:
        """Each new trade to its order; the ids of those held back: a trade no order of ours names while an
        order's create is unanswered, or after one declared lost turned up, is read again next cycle (it
        may be theirs); only then is it someone else's."""
        if self.book is None:
            return set()
        held: set[str] = set()
        found: bool | None = None  # looked for the lost orders (once a cycle): one turned up
        for t in fresh:
            if self.book.feed(t, self.cancelled) or self._exit_trade(t) or self._late(t):
                continue
            if found is None and not self.unknown:
                found = self._watch_lost({}) > 0
            if self.unknown or found:
                held.add(t.trade_id)
                continue
            log(f"trade {t.trade_id} of order {t.client_id or t.exchange_order_id}: not ours, ignored")
        return held

    def _value_fees(self) -> None:
        """Fees paid in a third asset (BNB), of the trades waiting for the engine, valued in quote before the
        cycle's transaction: the engine never waits on the exchange mid-decision."""
        if self.book is None:
            return
        waiting = self.book.unbooked()
        for t in waiting:
            if (
                t.fee
                and t.fee_currency not in ("", self.base, self.quote)
                and t.trade_id not in self.fee_values
            ):
                self.fee_values[t.trade_id] = self._price_fee(t)
        ids = {t.trade_id for t in waiting}
        for tid in [k for k in self.fee_values if k not in ids]:
            del self.fee_values[tid]

    def _price_fee(self, t: Trade) -> Decimal:
        try:
            price = self.venue.asset_price(t.fee_currency, self.cfg.run.timeframe, t.time_ms)
        except RejectedError:
            price = None
        if price is None:
            if t.fee_currency not in self.unvalued:
                self.unvalued.add(t.fee_currency)
                log(f"fees paid in {t.fee_currency}: no {t.fee_currency}/{self.quote} price on the exchange, "
                    "valued at 0")  # fmt: skip
            return Decimal(0)
        return t.fee * price

    def _fee_value(self, t: Trade) -> Decimal:
        """The quote value of a fee not taken from base or quote (the book's `FeeValue`)."""
        found = self.fee_values.get(t.trade_id)
        return found if found is not None else self._price_fee(t)

    def _ours(self, t: Trade) -> Trade:
        """A trade names its order by the exchange's id only (Binance's myTrades): the adapter knows the
        client ids of the orders it saw answered in this process, the store those of every order sent."""
        if t.client_id or not t.exchange_order_id:
            return t
        cid = self.store.client_id_of(t.exchange_order_id) or self._unrecorded(t.exchange_order_id)
        return t if cid is None else replace(t, client_id=cid)

    def _unrecorded(self, exchange_id: str) -> str | None:
        """An order the store never held, looked up once by its exchange id. Ours by its client id, it was
        placed after the backup this store was restored from (by the bot before a replacement, or by a
        release rolled back): found (`LiveBook.found`), finished or not, so its trades reach the engine as
        fills at their candles, and the engine, replaying those candles, takes it over when it decides it
        again instead of placing it twice, or cancels it once past its candle (`LiveBook.release_found`)."""
        if self.book is None or exchange_id in self.looked_up:
            return None
        state = self.venue.order_by_id(exchange_id)
        if state is None:  # not shown: its trade is left to `_attribute`, as one no order names
            return None
        assert self.owner is not None
        if self.owner.is_exit(state.client_id) and self.store.order_row(state.client_id) is None:
            return self._found_exit(state, exchange_id)
        parsed = self.owner.parts(state.client_id)
        # someone else's; or sent from this store, its answer lost (`_resolve_unknown` finds it by client id)
        if parsed is None or self.store.order_row(state.client_id) is not None:
            self.looked_up.add(exchange_id)
            return None
        level, side = parsed.level, parsed.side
        cid = state.client_id
        log(f"recording our order {cid} the store did not know ({state.status}, {state.filled} filled)")
        with self.store.cycle():
            self.store.upsert_order(cid, level, side, state.price, state.qty, "found", state.time_ms,
                                    exchange_id)  # fmt: skip
            self.book.found(cid, side, state.price, state.qty, level, state.time_ms)
            self._take_seq(cid)
        return cid

    def _found_exit(self, state: OrderState, exchange_id: str) -> str:
        """An exit's sale of ours the store never held (`exits`): recorded, its trades held for the engine's
        same decision."""
        assert self.book is not None
        cid = state.client_id
        log(f"recording our exit sale {cid} the store did not know ({state.status}, {state.filled} sold): "
            "it stands for the engine's exit when the candles since bring it")  # fmt: skip
        with self.store.cycle():
            self.store.upsert_order(
                cid, EXIT_LEVEL, "sell", 0, state.qty, "found", state.time_ms, exchange_id
            )
            self.book.found_exit(cid, state.qty, state.time_ms)
        return cid

    def _take_seq(self, cid: str) -> None:
        """An id of ours found on the exchange: its sequence is taken, a later placement must not reuse it."""
        assert self.book is not None
        parts = client_id_parts(self.cfg.run.bot_id, cid)
        if parts is not None and parts.epoch == self.book.epoch and parts.seq >= self.book.next_seq:
            self.book.next_seq = parts.seq + 1
            self.store.set_cursor("seq", str(self.book.next_seq))

    def _late(self, t: Trade) -> bool:
        """A trade of one of our orders the store already holds as finished (a cancel that met a fill, the
        trades seen after the restart that followed): booked like a fill before a cancel, no counter-order,
        the order's status kept."""
        assert self.book is not None
        row = self.store.order_row(t.client_id) if t.client_id else None
        if row is None or row[7] not in FINISHED:
            return False
        cid, _eid, level, side, price, qty, _f, _status, opened_ms = row
        filled, _fees = self.store.filled_of(cid)
        self.cancelled[cid] = self.book.detached(cid, side, Decimal(price), Decimal(qty), level, opened_ms,
                                                 filled)  # fmt: skip
        return self.book.feed(t, self.cancelled)

    def _new_trades(self) -> list[Trade]:
        """Our trades after the last recorded one; before any, from the bot's first candle (an account's
        older history is not this bot's). Nothing before the first candle: no order was placed yet."""
        after = self.store.cursor("trade")
        if after is None and not self.engine.stats.candles:
            return []
        return self.venue.trades_since(after, None if after else self.engine.stats.first_ms)

    def _account_orphans(self) -> None:
        """Fills of orders the engine had cancelled (filled before the cancel arrived): accounted, no
        counter-order."""
        assert self.book is not None or not self.cancelled
        if self.book is None:
            return
        for live, t in self.book.orphans:
            live.filled += t.qty
            part = replace(live.order, qty=float(t.qty), price=float(t.price))
            fee, cross, other = fees_of((t,), live.order.side, self.rules, self._fee_value)
            self.engine.account(
                LiveFill(
                    part,
                    float(fee),
                    t.time_ms,
                    fee_other=float(other),
                    fee_cross=float(cross),
                    live=live,
                    trades=(t,),
                )
            )
        self.book.orphans.clear()

    def _commit_actions(self) -> None:
        """Inside the cycle's transaction: every decision becomes an intent before anything is sent."""
        if self.book is None:
            return
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
                if row is not None and row[7] == "intent":
                    self.store.set_order_status(live.client_id, "canceled")  # never sent: nothing to cancel
                    self.unknown.pop(live.client_id, None)
                else:  # an unanswered create stays looked for: the order may rest and fill meanwhile
                    self.store.set_order_status(live.client_id, "cancel")
                    self.cancelled[live.client_id] = live
        self.book.actions.clear()
        self.store.set_cursor("seq", str(self.book.next_seq))

    def _send(self, creates: bool = True) -> None:
        """Carry out the committed intents: cancels first (they free the balance a regrid's new orders
        need), then creates; each answer committed as it comes."""
        if self.book is None:
            return
        for cid in list(self.cancelled):
            row = self.store.order_row(cid)
            if row is None or row[7] != "cancel":
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

    def _create(self, cid: str, side: Side, price: Decimal, qty: Decimal) -> None:
        assert self.book is not None
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
            if FILTER_FAILURE in str(exc) and self._refresh_rules(now=True):
                self.holes = True  # decided on rules the exchange changed: decided again, not counted
                return
            self._count_error(f"order {cid} rejected ({exc})")
            return
        if state.status in ("canceled", "expired", "rejected") and state.filled == 0:
            # answered as ended (Binance: EXPIRED for an IOC, an expiry by self-trade prevention): not resting
            with self.store.cycle():
                self.store.set_order_status(cid, state.status, exchange_id=state.exchange_id)
            log(f"order {cid}: {state.status} when placed; its level decided again at the next candle")
            self.book.drop(cid)
            self.holes = True
            return
        with self.store.cycle():
            self.store.set_order_status(cid, "open", exchange_id=state.exchange_id)

    def _refresh_rules(self, now: bool = False) -> bool:
        """`MarketWatch.refresh`, its new rules taken by the book (every later order rounded by them)."""
        changed = self.market.refresh(now)
        if changed:
            self.rules = self.market.rules
            if self.book is not None:
                self.book.rules = self.rules
        return changed

    def _outcome_unknown(self, what: str, cid: str, exc: OutcomeUnknownError) -> None:
        """A create whose answer was lost: looked up by its client id from half a second on."""
        log(f"{what}: outcome unknown ({exc}); looking it up by client id")
        now = time.monotonic()
        self.unknown[cid] = Unknown(now, now + 0.5)
        with self.store.cycle():
            self.store.set_order_status(cid, "unknown")

    def _sell_at_market(self, cid: str, qty: Decimal) -> None:
        """An exit's sale (`exits`): a lost answer is looked up by client id, as a create's is. Sent only once
        every cancel is confirmed (the coins resting sells hold are freed by them); a refusal is tried again,
        backing off up to a minute, for what the account still holds of it, until it is done or the account
        holds none of it (the position is gone): never left unsold in silence."""
        now = time.monotonic()
        if self.cancelled or now < self.exit_retry.get(cid, (0, 0.0))[1]:
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
        log(f"exit sale {cid}: {qty} sold at market ({state.status})")
        with self.store.cycle():
            self.store.set_order_status(cid, state.status, exchange_id=state.exchange_id)

    def _exit_refused(self, cid: str, qty: Decimal, exc: VenueError) -> None:
        """A refused exit sale: tried again for what the account holds of it (a refusal sent nothing)."""
        balances = self.venue.balances()
        self._store_balances(balances)
        bal = balances.get(self.base)
        free = Decimal(0) if bal is None else bal.free
        left = min(qty, (free / self.rules.lot_step).to_integral_value(ROUND_FLOOR) * self.rules.lot_step)
        dust = _dec(self.engine.stats.last_close) * (left or qty) < self.rules.min_notional
        if dust or (left <= 0 and bal is not None and bal.free + bal.locked < self.rules.lot_step):
            what = (
                "below the market's minimum notional" if dust else f"the account holds no {self.base} to sell"
            )
            log(f"exit sale {cid} of {qty}: refused ({exc}); {what}: done")
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
        log(f"exit sale {cid} of {qty}: refused ({exc}); tried again in {wait:.0f}s for {left or qty} "
            f"(attempt {tries})")  # fmt: skip

    def _exit_trade(self, t: Trade) -> bool:
        """A trade of an exit's sale: booked like a fill of a cancelled order (no decision follows)."""
        assert self.book is not None
        row = self.store.order_row(t.client_id) if t.client_id else None
        if row is None or row.level != EXIT_LEVEL:
            return False
        filled = self.store.filled_of(row.client_id)[0]
        live = self.book.detached(row.client_id, "sell", Decimal(0), Decimal(row.qty), EXIT_LEVEL,
                                  row.opened_ms, filled)  # fmt: skip
        self.book.orphans.append((live, t))
        return True

    def _refused(self, cid: str, why: str) -> None:
        assert self.book is not None
        log(f"order {cid}: {why}")
        self.book.drop(cid)
        with self.store.cycle():
            self.store.set_order_status(cid, "rejected")
            self._save_snapshot()

    def _resolve_unknown(self) -> None:
        """Orders whose create got no answer: found (open or done) or, past the deadline, placed again."""
        assert self.book is not None or not self.unknown
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
                log(f"order {cid}: not on the exchange {now - u.since:.0f}s after it was sent, and cancelled")
                self.cancelled.pop(cid)
                with self.store.cycle():
                    self.store.set_order_status(cid, "lost")
                continue
            log(f"order {cid}: not on the exchange {now - u.since:.0f}s after it was sent: placing it again")
            self._replace(cid)

    def _replace(self, cid: str) -> None:
        """The order never reached the exchange: the engine's order is placed again under a new sequence."""
        assert self.book is not None
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

    # --- recovery ----------------------------------------------------------------------------------

    def reconcile(self) -> None:
        """The store's orders against the exchange's: adopt ours it does not know, leave others alone."""
        assert self.book is not None
        assert self.owner is not None
        open_now = {o.client_id: o for o in self.venue.open_orders()}
        for cid, o in open_now.items():
            known = self.store.order_row(cid)
            parsed = self.owner.parts(cid)
            if cid in self.book.orders:
                self._catch_up(cid, o)
            if known is None and parsed is not None:
                level, side = parsed.level, parsed.side
                log(f"adopting our order {cid} the store did not know ({o.filled} filled)")
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
            if row is None or row[7] == "intent":
                continue  # committed, not yet sent: _send carries it out
            state = self.venue.order(cid)
            if state is not None:
                self._catch_up(cid, state)
            if state is None:
                now = time.monotonic()
                self.unknown[cid] = Unknown(now, now)
            elif state.status in ("canceled", "rejected", "expired") and state.filled <= live.filled:
                log(f"order {cid} is {state.status} on the exchange: level freed, decided again next candle")
                self.book.drop(cid)
                self.holes = True
                with self.store.cycle():
                    self.store.set_order_status(cid, state.status, filled=state.filled)
        self._watch_lost(open_now)
        self._refresh_balances()

    def _catch_up(self, cid: str, state: OrderState) -> None:
        """An order the exchange says executed more than its recorded and fed trades show: those trades were
        invisible when the cursor passed them (the exchange's visibility lag). Read by order id, fed once."""
        assert self.book is not None
        if not state.exchange_id or state.filled <= self.store.filled_of(cid)[0] + self.book.fed(cid):
            return
        for t in self.venue.trades_of(state.exchange_id):
            if not self.store.has_fill(t.trade_id):
                ours = replace(t, client_id=cid)
                if not self.book.feed(ours, self.cancelled):
                    self._late(ours)

    def _watch_lost(self, open_now: dict[str, OrderState]) -> int:
        """Orders declared lost (of the last day, or open on the exchange now) looked for again: each that
        turned up is adopted (`_resurfaced`). How many did."""
        assert self.book is not None
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

    def _resurfaced(self, row: OrderRow, state: OrderState) -> None:
        """An order declared lost is on the exchange after all: it takes the place of the order that
        replaced it (cancelled), or, when the level has moved on, it is cancelled; its fills are booked."""
        assert self.book is not None
        cid, price, qty = row.client_id, Decimal(row.price), Decimal(row.qty)
        log(f"order {cid}, declared lost, is on the exchange after all ({state.status}, {state.filled} "
            "filled): adopted")  # fmt: skip
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

    def _check_holdings(self, full: bool) -> None:
        """The engine's holdings (and the trades fed in, not yet booked) against the exchange's balances:
        at every reconcile, and every cycle while they are off (risk.holdings_drift, live/holdings.py)."""
        if self.book is None or self.unknown or not (full or self.drift_since is not None):
            return
        close = self.engine.stats.last_close
        if close <= 0:
            return
        bal = self.venue.balances()
        self._store_balances(bal)
        p, rule = self.engine.portfolio, self.cfg.risk.holdings_drift
        base, quote = unbooked(self.book.unbooked(), self.rules)
        mine = {self.base: _dec(p.base) + base, self.quote: _dec(p.quote) + quote}
        price = _dec(close)
        self.drift = measure(mine, bal, price, self.rules, _dec(p.equity(close)), rule.shared)
        self.metrics.holdings_drift.set(self.drift.pct)
        if rule.halt_pct is None or self.drift.pct <= rule.halt_pct:
            self.drift_since = None
            return
        now = time.monotonic()
        if self.drift_since is None:
            self.drift_since = now
            log(f"holdings off the exchange's balances: {self.drift.reason()}")
        if now - self.drift_since >= rule.grace_s:
            self._halt(f"holdings drift: {self.drift.reason()} for {now - self.drift_since:.0f}s "
                       f"(risk.holdings_drift.halt_pct {rule.halt_pct:g})")  # fmt: skip

    def _refresh_balances(self) -> None:
        self._store_balances(self.venue.balances())

    def _store_balances(self, bal: dict[str, Balance]) -> None:
        with self.store.cycle():
            for asset in (self.base, self.quote):
                b = bal.get(asset)
                if b is not None:
                    self.store.set_balance(asset, b.free, b.locked)

    # --- kill switches, status -------------------------------------------------------------------

    def _resumed(self) -> None:
        """`gridbot resume` lifted a halt (seen now, or while the bot was down): the kill switches start
        over, the drawdown from the equity at resume, or the one that fired would fire again at once."""
        p, close = self.engine.portfolio, self.engine.stats.last_close
        # A halt that cancelled the orders left the engine's grid without them: placed again, around the price
        # of the next candle (the market moved on meanwhile), the inventory offered above it; the operator's
        # resume is not a regrid the cooldown holds back.
        again = bool(self.store.cursor("halt_cancelled")) and self.engine.levels is not None
        if again:
            self.engine.replan, self.engine.cooldown_until_ms = True, 0
        with self.store.cycle():
            self.store.con.execute("DELETE FROM cursors WHERE name IN ('halted', 'halt_cancelled')")
            if close > 0:
                self.store.set_cursor("equity_base", repr(p.equity(close)))
            self.store.set_cursor("errors", "[]")
        self.errors.clear()
        self.last_new_candle = time.monotonic()
        self.key_refused = False  # the key is tried again (refused again: halted again)
        log("resumed: trading again" + ", the grid placed again at the next candle" * again)

    def _guards(self) -> None:
        r = self.cfg.risk
        p, close = self.engine.portfolio, self.engine.stats.last_close
        base = float(self.store.cursor("equity_base") or p.start_equity)
        down = drawdown(p.equity(close), base, r.max_drawdown_pct) if close > 0 else None
        stale = stale_price(time.monotonic() - self.last_new_candle, duration_seconds(r.max_price_age),
                            self.tf_ms / 1000, r.max_price_age, self.cfg.run.timeframe)  # fmt: skip
        for reason in (down, stale):
            if reason is not None:
                self._halt(reason)

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


def _dec(x: float) -> Decimal:
    return Decimal(repr(x))


def _record_bot_id(store: Store, bot_id: str) -> None:
    """The run.bot_id this store runs under, for a restore to compare (`backup.restore`); a changed one is
    a rename: the orders placed under the old id stay ours by the store's lineage (`ownership`)."""
    before = store.cursor(BOT_ID_CURSOR)
    if before == bot_id:
        return
    if before is not None:
        log(f"run.bot_id is now {bot_id!r} (was {before!r}): orders placed as {before!r} stay this bot's")
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
