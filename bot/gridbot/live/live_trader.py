"""`mode: live`: the engine's orders on the exchange through the live book. The loop is `trader.Trader`'s; the
steps it leaves empty are this trader's, in rooms of their own mixed in here: sending the decisions
(`sending`), recovery after a restart and at each reconcile (`recovery`), booking the exchange's trades and
their fees (`bookkeeping`), what they share typed in `rooms`."""

from __future__ import annotations

import logging
from decimal import Decimal

from gridbot.config.model import BotConfig
from gridbot.core.engine import GridEngine
from gridbot.live.book import LiveBook, LiveFill, LiveOrder
from gridbot.live.bookkeeping import Bookkeeping
from gridbot.live.client_ids import new_epoch
from gridbot.live.exits import EXIT_LEVEL
from gridbot.live.holdings import Drift
from gridbot.live.ownership import Ownership
from gridbot.live.preflight import check_funds, check_rules
from gridbot.live.recovery import Recovery
from gridbot.live.sending import Sending
from gridbot.live.shared import Unknown
from gridbot.live.trader import Trader
from gridbot.live.venue import Trade, Venue
from gridbot.ops.health import Heartbeat
from gridbot.ops.logs import engine_log
from gridbot.ops.metrics import Metrics
from gridbot.ops.store import BOT_ID_CURSOR, Store

log = logging.getLogger(__name__)


class LiveTrader(Sending, Recovery, Bookkeeping, Trader[LiveFill]):
    def __init__(
        self, cfg: BotConfig, venue: Venue, store: Store, metrics: Metrics, heartbeat: Heartbeat | None = None
    ) -> None:
        super().__init__(cfg, venue, store, metrics, heartbeat)
        self.owner = Ownership.of(store, cfg.run.bot_id, _epoch(store))
        check_rules(cfg, self.rules, venue.open_orders(), self.owner)
        _record_bot_id(store, cfg.run.bot_id)
        seq = int(store.cursor("seq") or 1)
        self.fee_values: dict[str, Decimal] = {}  # trade id -> quote value of its fee paid in a third asset
        self.unvalued: set[str] = set()  # fee assets the exchange has no price for (logged once)
        self.drift: Drift | None = None  # the last holdings check
        self.drift_since: float | None = None  # monotonic: past risk.holdings_drift.halt_pct since
        self.book = LiveBook(self.rules, cfg.run.bot_id, self.tf_ms, seq, self.owner.epoch, self._fee_value)
        self.engine = GridEngine(
            cfg, exchange=self.book, ledger=self._ledger, trips=self._trip, log=engine_log()
        )
        self.cancelled: dict[str, LiveOrder] = {}  # cancel sent or to send, until the exchange confirms
        self.unknown: dict[str, Unknown] = {}
        self.holes = False  # an order ended on the exchange without filling: its level decided again
        # a refused exit sale: (tries, next try, monotonic)
        self.exit_retry: dict[str, tuple[int, float]] = {}
        # exchange order ids looked up once, not to record: someone else's, or ours sent from this store
        self.looked_up: set[str] = set()
        # A first trading start claims its start_quote from the account: no order yet (a first start halted
        # by a refused key saved a snapshot, and is still one)
        if next(store.client_ids(), None) is None:
            check_funds(cfg, venue, self.rules)
        with self.book.restoring():
            self._restore()
        self._load_orders()

    # --- the loop's steps that orders on the exchange need ---------------------------------------

    def _recover(self, full: bool) -> None:
        if full or not self.ready:
            self.reconcile()
            self.trades_due = True

    def _our_trades(self, new_candle: bool) -> tuple[list[Trade], set[str]]:
        trades = self._new_trades() if self._trades_due(new_candle) else []
        fresh = [self._ours(t) for t in trades if not self.store.has_fill(t.trade_id)]
        held = self._attribute(fresh)
        self._value_fees()
        return trades, held

    def _trades_due(self, new_candle: bool) -> bool:
        """Whether to read our trades (Binance's myTrades weighs 20, a kline 2): when a candle closed (the
        engine books a fill at its candle's close, so a trade read sooner would wait for it), while a create
        or a cancel is unsettled, after trades were held back, and at every full reconciliation. Read every
        cycle, they were 1,200 of a bot's ~1,320 weight a minute at a 1 s cycle."""
        return new_candle or bool(self.unknown) or bool(self.cancelled) or self.trades_due

    def _cancel_for_halt(self) -> None:
        self._cancel_orders()
        self._commit_actions()
        self.store.set_cursor("halt_cancelled", "1")  # the grid goes back at the resume

    def _cancel_orders(self) -> None:
        self.book.cancel_all()
        self.book.cancel_found()

    def _settle_candles(self) -> None:
        # once a candle, and once the book is settled: no cancel pending, no found order undecided (their
        # coins and levels are not the engine's to offer again yet)
        if self.holes and not self.cancelled and not self.book.finding:
            self.holes = False
            self.engine.heal(self.engine.stats.last_close, self.engine.stats.last_ms)
        for live in self.book.release_found(self.engine.stats.last_ms):
            sale = live.order.level == EXIT_LEVEL
            log.info(f"{'exit sale' if sale else 'order'} {live.client_id}: the candles since did not decide "
                     f"it again; {'' if sale else 'cancelled, '}its trades booked as the exchange executed "
                     "them")  # fmt: skip

    def _keep_trade_cursor(self, trades: list[Trade], held: set[str]) -> None:
        # up to the first trade still waiting for its candle: a restart fetches that one again
        waiting = self.book.waiting() | held
        done = [t.trade_id for t in trades]
        first = next((i for i, tid in enumerate(done) if tid in waiting), len(done))
        # while an order's create is unanswered its trades may be invisible yet, their ids below later ones:
        # the cursor stays where it was when the order was sent, the trades after it read again
        if first and not self.unknown:
            self.store.set_cursor("trade", done[first - 1])

    def _refresh_rules(self, now: bool = False) -> bool:
        """The market's new rules taken by the book too: every later order rounded by them."""
        changed = super()._refresh_rules(now)
        if changed:
            self.book.rules = self.rules
        return changed

    def _pending_orders(self) -> int:
        return len(self.unknown) + len(self.cancelled)

    def _holdings_status(self) -> dict[str, object] | None:
        return None if self.drift is None else self.drift.status()


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
    """The state directory's client id tag, made at its first live start (see `client_ids.new_epoch`)."""
    epoch = store.cursor("id_epoch")
    if epoch is None:
        epoch = new_epoch()
        with store.cycle():
            store.set_cursor("id_epoch", epoch)
    return epoch
