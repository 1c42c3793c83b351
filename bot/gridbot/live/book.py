"""The live order book the engine talks to: the paper exchange's interface over a real exchange.

The engine's decisions (place_limit, cancel_side, cancel_all) become intents held here; the trading loop
commits them to the store in the cycle's transaction and only then sends them (`trader.py`). Fills come
from the exchange's trades, fed in by the loop before the engine sees the candle they happened in, so the
engine meets them exactly where the paper exchange would have produced them: a backtest, a paper run and a
live run take the same decisions.

Money is exact at this boundary: `to_wire` is the one place a float price is rounded to the exchange's tick
and a float quantity floored to its lot step, as `Decimal`, through the core's one door (`core.grid.exact`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

import numpy as np

from gridbot.core.grid import exact
from gridbot.core.paper import Fill, Order, Reach
from gridbot.core.portfolio import Side
from gridbot.live.client_ids import client_id
from gridbot.live.exits import EXIT_LEVEL, exit_client_id
from gridbot.live.holdings import fee_asset, native
from gridbot.live.venue import MarketRules, Trade


def to_wire(price: float, qty: float, rules: MarketRules) -> tuple[Decimal, Decimal]:
    """The engine's float price rounded to the tick, its quantity floored to the lot step: exact text."""
    p = (exact(price) / rules.tick_size).quantize(Decimal(1), ROUND_HALF_EVEN) * rules.tick_size
    q = (exact(qty) / rules.lot_step).to_integral_value(ROUND_FLOOR) * rules.lot_step
    return p.normalize(), q.normalize()


@dataclass
class LiveOrder:
    """One engine order on the exchange: `qty` as placed, `filled` as the exchange's trades say."""

    order: Order  # the engine's view (its qty is what is left to fill)
    client_id: str
    price: Decimal
    qty: Decimal
    filled: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)  # those taken from what the order received (base for a buy, quote for a sell)
    pending: list[Trade] = field(default_factory=list)  # trades not yet given to the engine


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveFill(Fill):
    """A fill of the live book: the order it belongs to and the exchange's trades it sums."""

    live: LiveOrder
    trades: tuple[Trade, ...]


# The quote value of a fee paid in a third asset (BNB), at the time of its trade.
FeeValue = Callable[[Trade], Decimal]


def fees_of(
    trades: Iterable[Trade], side: Side, rules: MarketRules, value: FeeValue
) -> tuple[Decimal, Decimal, Decimal]:
    """(fees in the asset the order received, fees in the market's other asset, quote value of fees in any
    third one), by each trade's fee asset: an exchange may charge some of an order's trades in BNB and the
    rest, once BNB ran out, in what the order received; on a BNB pair, BNB is the base, whichever the side.
    The one classification the books (`GridEngine._book`) and the holdings check (`holdings.unbooked`)
    share."""
    mine, cross, other = Decimal(0), Decimal(0), Decimal(0)
    received = native(side, rules)
    for t in trades:
        asset = fee_asset(t, rules)
        if asset == received:
            mine += t.fee
        elif asset is not None:
            cross += t.fee
        elif t.fee:
            other += value(t)
    return mine, cross, other


class LiveBook:
    """The engine's exchange in live mode (see the module doc). `actions` is what the loop must carry out:
    ("place", LiveOrder), ("cancel", LiveOrder) and an exit's ("market", LiveOrder), in the order the engine
    decided them, ("adopt", LiveOrder) for a found order the engine's decision took over (recorded open), and
    ("found exit", LiveOrder) for a found exit sale taken over or released (recorded finished). `fee_value`
    values a fee paid in a third asset."""

    def __init__(self, rules: MarketRules, bot_id: str, timeframe_ms: int, next_seq: int, epoch: str,
                 fee_value: FeeValue) -> None:  # fmt: skip
        self.rules = rules
        self.fee_value = fee_value
        self.bot_id = bot_id
        self.epoch = epoch
        self.timeframe_ms = timeframe_ms
        self.next_seq = next_seq
        self.orders: dict[str, LiveOrder] = {}  # by client id
        self.actions: list[tuple[str, LiveOrder]] = []
        self.orphans: list[tuple[LiveOrder, Trade]] = []  # trades of orders the engine already cancelled
        self._ids = 0
        self._restoring = False
        # orders of ours the store did not hold, outside the engine's book until a decision of its takes one
        self._found: dict[str, LiveOrder] = {}
        # exit sales of ours the store did not hold, their trades held until the engine decides that exit
        self._found_exits: dict[str, LiveOrder] = {}

    # --- the engine's interface -------------------------------------------------------------------

    def place_limit(
        self, side: Side, price: float, qty: float, level: int, opened_ms: int = 0
    ) -> Order | None:
        if self._restoring:
            return None
        p, q = to_wire(price, qty, self.rules)
        if q <= 0 or p * q < self.rules.min_notional:
            return None  # below the exchange's minimums: the level stays free, the engine tries again later
        standing = self._found_as(side, level, p, q, opened_ms)
        if standing is not None:
            return standing.order
        cid = client_id(self.bot_id, level, side, self.next_seq, self.epoch)
        self.next_seq += 1
        live = self.adopt(cid, side, p, q, level, opened_ms)
        self.actions.append(("place", live))
        return live.order

    @property
    def finding(self) -> bool:
        """Orders or exit sales found on the exchange that the engine has not decided again yet."""
        return bool(self._found or self._found_exits)

    def found(
        self, cid: str, side: Side, price: Decimal, qty: Decimal, level: int, opened_ms: int
    ) -> LiveOrder:
        """One of our orders the exchange shows and the store did not hold (placed by the bot before a
        restore, or lost with a database). The engine, replaying the candles since the backup, has not
        decided it yet: it stays out of the engine's book (its level free, no cancel of the replay meant for
        it) until the engine's same decision takes it over, or `release_found` cancels it. Adopted as not yet
        executed: its trades so far come as fills like any other's, each counted once against its size."""
        live = self.detached(cid, side, price, qty, level, opened_ms)
        self._found[cid] = live
        return live

    def _found_as(
        self, side: Side, level: int, price: Decimal, qty: Decimal, decided_ms: int
    ) -> LiveOrder | None:
        """A found order the engine is deciding again in candle `decided_ms` (a restored bot replaying the
        candles since its backup meets the fills the bot before it met): that order stands for the decision,
        never a second one. Of the same orders (a level's buy is the same after each round trip), the first
        sent after that candle: the bot before sent it for this decision, the later ones for later ones."""
        same = [
            live
            for live in self._found.values()
            if (live.order.side, live.order.level, live.price, live.qty) == (side, level, price, qty)
            and live.order.opened_ms > decided_ms
        ]
        if not same:
            return None
        live = min(same, key=lambda f: f.order.opened_ms)
        del self._found[live.client_id]
        self.orders[live.client_id] = live
        self.actions.append(("adopt", live))
        return live

    def found_exit(self, cid: str, qty: Decimal, opened_ms: int) -> LiveOrder:
        """An exit's sale of ours the exchange shows and the store did not hold (sent by the bot before a
        restore): its trades wait for the engine, replaying the candles since the backup, to decide that exit,
        which the sale then stands for (`sell_at_market`); `release_found` books them if it does not."""
        live = self.detached(cid, "sell", Decimal(0), qty, EXIT_LEVEL, opened_ms)
        self._found_exits[cid] = live
        return live

    def release_found(self, upto_ms: int) -> list[LiveOrder]:
        """Found orders and exit sales sent in candle `upto_ms` or before, which the engine has processed
        without deciding them (it decides on the candle before; its grid or its exits went another way since).
        An order is cancelled, an exit sale recorded finished; their trades are booked as the exchange
        executed them, all the same."""
        tf = self.timeframe_ms

        def passed(live: LiveOrder) -> bool:
            return live.order.opened_ms // tf * tf <= upto_ms

        exits = [live for live in self._found_exits.values() if passed(live)]
        for live in exits:
            self._take_found_exit(live)
        orders = [live for live in self._found.values() if passed(live)]
        for live in orders:
            del self._found[live.client_id]
            self._cancel(live)
        return exits + orders

    def _take_found_exit(self, live: LiveOrder) -> None:
        del self._found_exits[live.client_id]
        self.orphans.extend((live, t) for t in live.pending)
        live.pending = []
        self.actions.append(("found exit", live))

    def cancel_found(self) -> None:
        """A halt's cancel reaches the found orders too: none rests while the bot is halted."""
        for live in list(self._found.values()):
            del self._found[live.client_id]
            self._cancel(live)

    def adopt(self, cid: str, side: Side, price: Decimal, qty: Decimal, level: int, opened_ms: int,
              filled: Decimal = Decimal(0)) -> LiveOrder:  # fmt: skip
        live = self.detached(cid, side, price, qty, level, opened_ms, filled)
        self.orders[cid] = live
        return live

    def detached(self, cid: str, side: Side, price: Decimal, qty: Decimal, level: int, opened_ms: int,
                 filled: Decimal = Decimal(0)) -> LiveOrder:  # fmt: skip
        """One of our orders outside the engine's book (finished, or cancelled by the engine)."""
        self._ids += 1
        order = Order(self._ids, side, float(price), float(qty - filled), level, opened_ms)
        return LiveOrder(order, cid, price, qty, filled)

    def cancel(self, order: Order) -> None:
        if self._restoring:
            return
        cid = next((c for c, o in self.orders.items() if o.order is order), None)
        if cid is not None:
            self._cancel(self.orders.pop(cid))

    def cancel_side(self, side: Side) -> None:
        if self._restoring:
            return
        for cid in [c for c, o in self.orders.items() if o.order.side == side]:
            self._cancel(self.orders.pop(cid))

    def cancel_all(self) -> None:
        if self._restoring:
            return
        for live in list(self.orders.values()):
            self._cancel(live)
        self.orders.clear()

    def _cancel(self, live: LiveOrder) -> None:
        # trades of a later candle already in (the loop is catching up): the exchange filled it before the
        # cancel could reach it, so they are booked all the same
        self.orphans.extend((live, t) for t in live.pending)
        live.pending = []
        self.actions.append(("cancel", live))

    def sell_at_market(self, qty: float, price: float, fee_rate: float, time_ms: int) -> LiveFill | None:  # noqa: ARG002
        """An exit's sale, as an intent ("market", its LiveOrder, outside the book): the exchange executes it
        and the loop books its trades as they come (`exits`), so nothing is booked now."""
        if self._restoring:
            return None
        if self._found_exits:  # the bot before a restore sent this exit's sale: it stands for the decision
            self._take_found_exit(next(iter(self._found_exits.values())))
            return None
        q = to_wire(price, qty, self.rules)[1]
        if q <= 0:
            return None
        live = self.detached(
            exit_client_id(self.bot_id, self.next_seq, self.epoch), "sell", Decimal(0), q, EXIT_LEVEL, time_ms
        )
        self.next_seq += 1
        self.actions.append(("market", live))
        return None

    def open_orders(self) -> list[Order]:
        return [o.order for o in self.orders.values()]

    def best_bid(self) -> float:
        return max((o.order.price for o in self.orders.values() if o.order.side == "buy"), default=-np.inf)

    def best_ask(self) -> float:
        return min((o.order.price for o in self.orders.values() if o.order.side == "sell"), default=np.inf)

    def fills(self, candle: Reach) -> list[LiveFill]:
        """The exchange's trades up to the end of this candle, one fill per order (its trades summed). Those
        of this candle in the paper exchange's order: sells first (lowest first), then buys (highest first).
        Before them, in the exchange's time order, the orders with a trade of an earlier candle, seen only
        now (invisible when it happened, or of an order declared lost that turned up): a buy of long ago
        funds a sell of this candle, and booked after it, the sell would be more than the books hold. The
        candle's high and low are the paper exchange's to judge: here the exchange has judged."""
        time_ms = candle.time_ms
        end = time_ms + self.timeframe_ms

        due = [(o, ts) for o in self.orders.values() if (ts := [t for t in o.pending if t.time_ms < end])]

        def booking_order(d: tuple[LiveOrder, list[Trade]]) -> tuple[int, int, bool, float]:
            o, ts = d
            first = min(t.time_ms for t in ts)
            if first < time_ms:
                return (0, first, False, 0.0)
            return (1, 0, o.order.side == "buy", o.order.price if o.order.side == "sell" else -o.order.price)

        out: list[LiveFill] = []
        for live, trades in sorted(due, key=booking_order):
            live.pending = [t for t in live.pending if t.time_ms >= end]
            qty = sum((t.qty for t in trades), Decimal(0))
            fee, cross, other = fees_of(trades, live.order.side, self.rules, self.fee_value)
            live.filled += qty
            live.fees += fee
            done = live.filled >= live.qty
            if done:
                del self.orders[live.client_id]
            else:
                live.order = replace(live.order, qty=float(live.qty - live.filled))
            # booked at what it executed at (the order's price unless it crossed the book and took)
            price = sum((t.price * t.qty for t in trades), Decimal(0)) / qty if qty else live.price
            part = replace(live.order, qty=float(qty), price=float(price))
            out.append(LiveFill(part, float(fee), time_ms, done, float(live.filled), float(live.fees),
                                float(other), float(cross), live=live, trades=tuple(trades)))  # fmt: skip
        return out

    # --- the loop's side --------------------------------------------------------------------------

    @contextmanager
    def restoring(self) -> Iterator[None]:
        """While the engine restores its snapshot: its orders come from the store, not from the snapshot."""
        self._restoring = True
        try:
            yield
        finally:
            self._restoring = False

    def feed(self, trade: Trade, cancelled: dict[str, LiveOrder]) -> bool:
        """A new trade of ours for the engine; False when no order of this book (or cancelled from it) has
        this client id (someone else's trade)."""
        cid = trade.client_id or ""
        if trade.trade_id in self.waiting():
            return True
        if cid in self._found_exits:
            self._found_exits[cid].pending.append(trade)
            return True
        if cid in self._found:
            self._found[cid].pending.append(trade)
            return True
        if cid in self.orders:
            self.orders[cid].pending.append(trade)
            return True
        if cid in cancelled:
            self.orphans.append((cancelled[cid], trade))
            return True
        return False

    def unbooked(self) -> list[Trade]:
        """Trades fed in and not yet given to the engine."""
        held = [*self.orders.values(), *self._found.values(), *self._found_exits.values()]
        return [t for o in held for t in o.pending] + [t for _, t in self.orphans]

    def waiting(self) -> set[str]:
        """Trade ids fed in and not yet given to the engine (their candle has not been processed)."""
        return {t.trade_id for t in self.unbooked()}

    def take_over(self, cid: str, side: Side, price: Decimal, qty: Decimal, level: int) -> LiveOrder | None:
        """An order declared lost turned up after all: it takes the place of the order that replaced it (the
        engine's same order, level, price and size; the replacement is cancelled), if that one has not
        traded. None when the level has moved on: the caller cancels the order that turned up."""
        for rcid, r in self.orders.items():
            same = (r.order.side, r.order.level, r.price, r.qty) == (side, level, price, qty)
            if same and r.filled == 0 and not r.pending:
                del self.orders[rcid]
                live = LiveOrder(r.order, cid, price, qty)
                self.orders[cid] = live
                self._cancel(r)
                return live
        return None

    def fed(self, cid: str) -> Decimal:
        """The quantity of one order's trades fed in and not yet given to the engine."""
        live = self.orders.get(cid) or self._found.get(cid)
        pending = live.pending if live is not None else []
        return sum(
            (t.qty for t in [*pending, *(t for o, t in self.orphans if o.client_id == cid)]), Decimal(0)
        )

    def drop(self, cid: str) -> LiveOrder | None:
        """Forget an order the exchange refused or does not have: the engine sees its level free again."""
        return self.orders.pop(cid, None)
