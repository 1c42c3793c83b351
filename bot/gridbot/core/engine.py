"""The grid engine: order placement, exits and accounting over a stream of candles. Pure: no I/O.

`run_chunk` is the only entry point. It computes the buy filters for the chunk (`filters`, continuing from
the previous chunk's state), then jumps from event to event: a candle where a resting order fills, where the
buy filter flips, where an exit or the trigger price is reached, or where the price leaves the grid after the
regrid cooldown. Candles in between change nothing but the equity mark, which is accounted for in bulk
(`between_events`: the search and the marks, which read none of the engine's state). Fed one candle at a
time (the live loop), the same code takes the same decisions, so a backtest and a run agree to the fill.
Snapshots and results live in `engine_state` to keep this module to the decisions; at ~590 lines it stays one
module because every method reads and writes the same book, grid, lots and cooldown, and splitting that one
state machine would hide which decision changes what.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypedDict, TypeVar, overload

import numpy as np
from numpy.typing import NDArray

from gridbot.core import engine_state
from gridbot.core.between_events import MAX_CURVE_POINTS, EquityCurve, Thresholds, first_event
from gridbot.core.candles import Candles
from gridbot.core.filters import Indicators
from gridbot.core.grid import (
    GridError,
    atr_bounds,
    centred_bounds,
    floor_to_step,
    meets_min_notional,
    min_step_ratio,
    size_orders,
)
from gridbot.core.grid_plan import check_grid
from gridbot.core.order_spans import OrderSpans
from gridbot.core.paper import Fill, Order, OrderBook, PaperExchange, Reach
from gridbot.core.portfolio import DUST, Portfolio, RoundTrip, Side, buy_fee_in_base, sell
from gridbot.core.risk import drawdown, drawdown_price
from gridbot.core.settings import Json, StrategySettings
from gridbot.core.stats import Stats


class LedgerRow(TypedDict):
    """One booked fill as the ledger (trades CSV, store) writes it."""

    date: str
    side: Side
    amount: float
    price: float
    fee: float
    fee_currency: str
    realized_pnl: float


# The engine's book's fills: the paper exchange's `Fill`, the live book's `LiveFill` with its trades.
F = TypeVar("F", bound=Fill)
# Each booked fill: its ledger row and the fill it came from, as its book made it.
LedgerSink = Callable[[LedgerRow, F], None]
ArchiveSink = Callable[[RoundTrip], None]
LogSink = Callable[[str], None]
MAX_FILL_MARKS = 50_000


class GridEngine(Generic[F]):
    """Typed by its book's fills (`F`): without a book it trades on the paper exchange (`GridEngine[Fill]`),
    and each fill goes to the ledger as its book made it."""

    @overload
    def __init__(
        self: GridEngine[Fill],
        cfg: StrategySettings,
        exchange: None = None,
        ledger: LedgerSink[Fill] | None = None,
        archive: ArchiveSink | None = None,
        log: LogSink | None = None,
        trips: ArchiveSink | None = None,
    ) -> None: ...
    @overload
    def __init__(
        self,
        cfg: StrategySettings,
        exchange: OrderBook[F],
        ledger: LedgerSink[F] | None = None,
        archive: ArchiveSink | None = None,
        log: LogSink | None = None,
        trips: ArchiveSink | None = None,
    ) -> None: ...
    def __init__(
        self,
        cfg: StrategySettings,
        exchange: OrderBook[F] | None = None,
        ledger: LedgerSink[F] | None = None,
        archive: ArchiveSink | None = None,
        log: LogSink | None = None,
        trips: ArchiveSink | None = None,
    ) -> None:
        self.cfg = cfg
        self.market = cfg.market.market()
        # without a book, F is Fill (the first overload): the paper exchange's fills are that type
        self.exchange: OrderBook[F] = exchange or PaperExchange(cfg.market.maker_fee)  # type: ignore[assignment]
        self.portfolio = Portfolio.funded(cfg.start_quote)
        self.history: deque[RoundTrip] = deque()
        self.ledger = ledger
        self.archive = archive
        self.trips = trips  # every round trip as it closes (the store), archive: those beyond history_cap
        self.log = log
        self.levels: NDArray[np.float64] | None = None
        self.qty: NDArray[np.float64] | None = None
        self.buys_open = True
        self.cooldown_until_ms = 0  # no regrid (or retry of a skipped grid) before this candle time
        # the grid settings the resting grid was built from; `replan`: the config asks for another grid (a
        # restart on a changed config), re-planned at the next candle as a regrid (inventory kept)
        self.grid_config: Json | None = None
        self.replan = False
        self.started = cfg.exits.trigger_price is None
        self.halted = ""  # why the bot stopped trading (an exit, a kill switch), empty while it trades
        self.halted_ms = 0  # the candle it stopped on
        self.resumable = False  # a kill switch's halt, which `resume` lifts (an exit sold everything: final)
        # the drawdown halt's reference: the start equity, or the equity at the last resume
        self.equity_base = cfg.start_quote
        self.oversold: list[tuple[int, float, float]] = []  # (time_ms, sold, held): sales past the holding
        self.t = 0  # candles processed so far
        self.stats = Stats(peak_equity=cfg.start_quote)
        self._curve = EquityCurve()
        # For the plot, bounded so a service running for months stays flat: the grids placed, the fills.
        self.grid_changes: deque[tuple[int, tuple[float, ...]]] = deque(maxlen=MAX_CURVE_POINTS)
        self.fill_marks: deque[tuple[int, str, float]] = deque(maxlen=MAX_FILL_MARKS)
        self.order_spans = OrderSpans()
        self.ind = Indicators.for_config(cfg)
        self._atr_chunk: NDArray[np.float64] | None = None
        self._skip_kinds: set[str] = set()

    # --- orders -------------------------------------------------------------------------------------

    def _book_levels(self) -> tuple[set[int], float]:
        """The levels the book's orders take (a buy its own, a sell the one below it) and the quote the buys
        reserve, fees included: one pass, for a busy trend filter re-opens the buys ~8k times a year."""
        fee = 1 + self.cfg.market.maker_fee
        taken: set[int] = set()
        reserved = 0.0
        for o in self.exchange.open_orders():
            if o.side == "buy":
                taken.add(o.level)
                reserved += o.price * o.qty * fee
            else:
                taken.add(o.level - 1)
        return taken, reserved

    def _place_buys(self, close: float, time_ms: int) -> None:
        """Buys on every free level below the price."""
        if self.levels is None or self.qty is None or not self.buys_open:
            return
        fee = 1 + self.cfg.market.maker_fee
        taken, reserved = self._book_levels()
        free_quote = self.portfolio.quote - reserved
        levels, qtys = self.levels.tolist(), self.qty.tolist()  # Python floats: the same values
        for i in range(min(bisect_left(levels, close), len(levels) - 1)):
            qty = qtys[i]
            if qty <= 0 or i in taken or levels[i] * qty * fee > free_quote:
                continue
            self.exchange.place_limit("buy", levels[i], qty, i, opened_ms=time_ms)
            free_quote -= levels[i] * qty * fee

    def _sell_floor(self) -> float:
        """The lowest price the inventory is offered at outside a counter-sell: its average cost (fees
        included) and one grid step, up to the tick."""
        assert self.levels is not None
        step = 1 + min_step_ratio(self.levels)
        return float(np.ceil(self.portfolio.avg_cost * step / self.market.tick_size)) * self.market.tick_size

    def _place_inventory_sells(self, close: float, time_ms: int) -> None:
        """After a regrid, offer what is held on the levels above the price, one level's size each.

        A sell never goes below the average cost (fees included) plus one grid step: a regrid re-centres the
        grid, it does not realise a loss on the inventory.
        """
        assert self.levels is not None
        assert self.qty is not None
        held, floor_price = self.portfolio.base, self._sell_floor()
        above = [j for j in range(1, len(self.levels)) if self.levels[j] > close]
        for n, j in enumerate(above):
            size = held if n == len(above) - 1 else min(held, float(self.qty[j - 1]) or held)
            size = float(floor_to_step(np.array(size), self.market.lot_step))
            if size <= 0:
                break
            price = round(max(float(self.levels[j]), floor_price), 10)
            # dust the exchange would refuse: kept
            if not meets_min_notional(price, size, self.market.min_notional):
                break
            self.exchange.place_limit("sell", price, size, j, opened_ms=time_ms)
            held -= size

    def heal(self, close: float, time_ms: int) -> None:
        """Levels the exchange emptied (an order cancelled, expired or refused without filling all of it:
        self-trade prevention, an operator's cancel, a trading halt) decided again as the grid decides them:
        the inventory no resting sell covers offered first, on the free levels above the price at the level's
        price as a counter-sell is, or the average cost and a step if higher (a partly filled buy that ended
        gets its counter-sell for what filled),
        then buys on the levels still free below it. Only a live exchange empties a level on its own: a
        backtest never calls it."""
        if self.levels is None or self.qty is None or self.halted or not self.started:
            return
        taken, _ = self._book_levels()
        held = self.portfolio.base - sum(o.qty for o in self.exchange.open_orders() if o.side == "sell")
        floor_price = self._sell_floor()  # as a regrid's inventory sells: healing realises no loss
        levels, qtys = self.levels.tolist(), self.qty.tolist()
        for j in range(max(1, bisect_right(levels, close)), len(levels)):
            if j - 1 in taken:  # a buy rests below it, or a sell on it
                continue
            size = float(floor_to_step(np.array(min(held, qtys[j - 1] or held)), self.market.lot_step))
            price = round(max(levels[j], floor_price), 10)
            if size <= 0 or not meets_min_notional(price, size, self.market.min_notional):
                break
            self.exchange.place_limit("sell", price, size, j, opened_ms=time_ms)
            held -= size
        self._place_buys(close, time_ms)

    def trim_sells(self, time_ms: int) -> list[Order]:
        """The resting sells cut back to what is held: the lowest-priced that fit are kept, the first that
        does not is placed again at its level and price for what is left (to the lot step; dust is kept, as a
        regrid keeps it), and every one above it is cancelled; the orders cancelled. Only a live exchange
        makes them exceed the holding: a regrid decided a candle behind the exchange cancels a sell the
        exchange has filled since, and sizes the new grid's sells (the top one all that is left) from a
        holding that still counts that sale, booked only once its trade comes in."""
        held = self.portfolio.base
        kept, cut = 0.0, list[Order]()
        for o in sorted((o for o in self.exchange.open_orders() if o.side == "sell"), key=lambda o: o.price):
            if cut or kept + o.qty > held * (1 + DUST):
                cut.append(o)
            else:
                kept += o.qty
        for o in cut:
            self.exchange.cancel(o)
        self.order_spans.ended(cut, time_ms)
        if cut:
            first = cut[0]
            size = float(floor_to_step(np.array(held - kept), self.market.lot_step))
            if size > 0 and meets_min_notional(first.price, size, self.market.min_notional):
                self.exchange.place_limit("sell", first.price, size, first.level, opened_ms=time_ms)
        return cut

    def _bounds(self, close: float, index_in_chunk: int) -> tuple[float, float]:
        g = self.cfg.grid
        if (
            g.lower is not None
            and g.upper is not None
            and (g.range == "fixed" or self.levels is None or self.replan)
        ):  # a fixed range is every grid's; a following one starts there and is re-centred when left
            return g.lower, g.upper
        atr = self._atr_chunk
        if g.atr_spacing.enabled and atr is not None and not np.isnan(atr[index_in_chunk]):
            return atr_bounds(close, float(atr[index_in_chunk]), g.levels, g.atr_spacing.multiplier)
        return centred_bounds(close, g.width_pct)

    def _grid_around(self, close: float, time_ms: int, index_in_chunk: int) -> bool:
        """Place a new grid around the price; False (nothing changed) when it cannot pay its fees."""
        lower, upper = self._bounds(close, index_in_chunk)
        try:
            levels = check_grid(self.cfg, lower, upper)
        except GridError as exc:
            self._skipped(str(exc), time_ms, close)
            return False
        self._cancel_all(time_ms)
        self.levels = levels
        self.grid_config, self.replan = engine_state.grid_settings(self.cfg), False
        self.grid_changes.append((time_ms, tuple(self.levels.tolist())))
        budget = min(self.cfg.grid.budget_quote, self.portfolio.quote)
        self.qty = size_orders(self.levels, budget, self.market)
        self._place_inventory_sells(close, time_ms)
        self._place_buys(close, time_ms)
        return True

    def _skipped(self, reason: str, time_ms: int, close: float) -> None:
        self.stats.grids_skipped += 1
        kind = "fees" if "fee" in reason else "ticks"
        if self.log is not None and kind not in self._skip_kinds:  # the first of each kind; the rest counted
            self._skip_kinds.add(kind)
            self.log(f"grid skipped at {time_ms} (price {close:g}), keeping the current orders: {reason}")

    # --- one event ----------------------------------------------------------------------------------

    def _cancel_all(self, time_ms: int) -> None:
        self.order_spans.ended(self.exchange.open_orders(), time_ms)
        self.exchange.cancel_all()

    def _on_fill(self, fill: F) -> None:
        o = fill.order
        if fill.done:
            self.order_spans.ended([o], fill.time_ms)
        trip = self._book(fill)
        assert self.levels is not None
        assert self.qty is not None
        if not fill.done:  # a part: the order still rests and holds its level; its counter-order follows
            return  # its last part, sized from the whole fill (one counter-order per level)
        if trip is None:  # a buy (never on the top level, which size_orders gives no quantity) pairs one up
            # with what it left in hand: its quantity net of the fee taken in base, floored to the lot step
            filled = o.qty if fill.filled is None else fill.filled
            fees = fill.fee if fill.fees is None else fill.fees
            held = float(floor_to_step(np.array(filled - fees), self.market.lot_step))
            price = float(self.levels[o.level + 1])
            if held > 0 and meets_min_notional(price, held, self.market.min_notional):
                self.exchange.place_limit("sell", price, held, o.level + 1, opened_ms=fill.time_ms)
            return
        below = o.level - 1
        if self.buys_open and below >= 0:
            price, qty = float(self.levels[below]), float(self.qty[below])
            free = self.portfolio.quote - self._book_levels()[1]
            if qty > 0 and price * qty * (1 + self.cfg.market.maker_fee) <= free:
                self.exchange.place_limit("buy", price, qty, below, opened_ms=fill.time_ms)

    def account(self, fill: F) -> None:
        """A fill of an order the engine had already cancelled (it filled before the cancel reached the
        exchange): accounted like any other, but no decision follows from it."""
        self._book(fill)

    def _within_holding(
        self, qty: float, fee: float, outside: float, time_ms: int
    ) -> tuple[float, float, float]:
        """A sale's quantity and fees as far as the engine's holding goes. Only a live exchange can sell more
        than the engine holds (the owner's coins sold from outside, a fee taken from the base the books did
        not see): the engine books what it held, its share of the fees, and notes the excess in `oversold`
        for the trader to halt on; never an exception the restarted bot would meet again on the same trade."""
        held = self.portfolio.base
        if qty <= held * (1 + DUST):
            return qty, fee, outside
        self.oversold.append((time_ms, qty, held))
        share = held / qty
        return held, fee * share, outside * share

    def _book(self, fill: F) -> RoundTrip | None:
        """Account one fill (FIFO lots) and write its ledger row; a sell returns the round trip it closed.
        `fee` is in base for a buy, in quote for a sell (as the exchange charges them)."""
        o, fee, time_ms = fill.order, fill.fee, fill.time_ms
        side, price, qty = o.side, o.price, o.qty
        trip = None
        base, quote = self.cfg.market.symbol.split("/")
        if side == "buy":
            self.portfolio = buy_fee_in_base(
                self.portfolio, price, qty, fee, time_ms, fill.fee_other, fill.fee_cross
            )
        else:
            # A fee taken in base (the base is the fee asset) leaves with the sale: sold with it, at the
            # sale's price, its value a fee: the proceeds stay what the exchange paid.
            gone, fee = qty + fill.fee_cross, fee + fill.fee_cross * price
            gone, fee, outside = self._within_holding(gone, fee, fill.fee_other, time_ms)
            if gone > 0:
                self.portfolio, trip = sell(self.portfolio, price, gone, fee, time_ms, outside)
                self._remember(trip)
        self.fill_marks.append((time_ms, side, price))
        s = self.stats
        s.longest_idle_ms = max(s.longest_idle_ms, time_ms - (s.last_fill_ms or s.first_ms))
        s.last_fill_ms = time_ms
        if self.ledger is not None:
            self.ledger({
                "date": datetime.fromtimestamp(time_ms / 1000, UTC).isoformat(),
                "side": side, "amount": qty, "price": price, "fee": fee,
                "fee_currency": base if side == "buy" else quote,
                "realized_pnl": 0.0 if trip is None else trip.profit,
            }, fill)  # fmt: skip
        return trip

    def _remember(self, trip: RoundTrip) -> None:
        s = self.stats
        s.round_trips += 1
        if trip.profit > 0:
            s.wins += 1
            s.gross_profit += trip.profit
        else:
            s.gross_loss -= trip.profit
        if self.trips is not None:
            self.trips(trip)
        self.history.append(trip)
        if len(self.history) > self.cfg.history_cap:
            old = self.history.popleft()
            if self.archive is not None:
                self.archive(old)

    def _exit(self, c: Candles, j: int) -> bool:
        """Stop-loss or take-profit reached on candle j: cancel everything, sell all held, halt."""
        x, low, high = self.cfg.exits, float(c.low[j]), float(c.high[j])
        if x.stop_loss is not None and low <= x.stop_loss:
            # A stop is a market sell once the price trades at it; a gap down fills at the open.
            price, why = min(x.stop_loss, float(c.open[j])), "stop_loss"
        elif x.take_profit is not None and high >= x.take_profit:
            price, why = max(x.take_profit, float(c.open[j])), "take_profit"
        else:
            return False
        self._cancel_all(int(c.time_ms[j]))
        qty = float(floor_to_step(np.array(self.portfolio.base), self.market.lot_step))
        if qty > 0:  # live, the exchange executes the sale: its trades are booked as they come
            sale = self.exchange.sell_at_market(qty, price, self.cfg.market.taker_fee, int(c.time_ms[j]))
            if sale is not None:
                self._book(sale)
        self.halted, self.halted_ms = f"{why} at {price:g}", int(c.time_ms[j])
        if self.log is not None:
            self.log(f"{self.halted}: orders cancelled, {qty:g} sold, trading halted")
        return True

    def _event(self, c: Candles, j: int, allowed: bool) -> None:
        self._decide(c, j, allowed)
        if not self.halted:
            self._risk(c, j)

    def _risk(self, c: Candles, j: int) -> None:
        """The drawdown halt, judged at the candle's close on the books its decisions left (as the live bot
        judges it after a cycle): trading stops, the resting orders kept unless `risk.cancel_on_halt`."""
        reason = drawdown(self.portfolio.equity(float(c.close[j])), self.equity_base,
                          self.cfg.risk.max_drawdown_pct)  # fmt: skip
        if reason is None:
            return
        self.halted, self.halted_ms, self.resumable = reason, int(c.time_ms[j]), True
        if self.cfg.risk.cancel_on_halt:
            self._cancel_all(int(c.time_ms[j]))
        if self.log is not None:
            self.log(f"{reason}: trading halted")

    def resume(self) -> None:
        """An operator's resume: `lift`, then `replant`."""
        self.lift()
        self.replant()

    def lift(self) -> None:
        """A kill switch's halt lifted (an exit's stays: it sold everything) and the drawdown counted from the
        equity at the last close, or the halt that fired would fire again at once."""
        if self.resumable:
            self.halted, self.halted_ms, self.resumable = "", 0, False
        if self.stats.last_close > 0 and not self.halted:
            self.equity_base = self.portfolio.equity(self.stats.last_close)

    def replant(self) -> None:
        """A grid left without orders (a halt that cancelled them) placed again at once around the last
        close, buys below and the inventory's sells above: not left empty until the next regrid, and not held
        back by the regrid cooldown (the operator asked for it)."""
        close = self.stats.last_close
        if (
            self.halted
            or close <= 0
            or self.levels is None
            or not self.started
            or self.exchange.open_orders()
        ):
            return
        if self._grid_around(close, self.stats.last_ms, -1):
            self.cooldown_until_ms = self.stats.last_ms + self.cfg.regrid.cooldown_ms

    def _decide(self, c: Candles, j: int, allowed: bool) -> None:
        time_ms, close = int(c.time_ms[j]), float(c.close[j])
        for fill in self.exchange.fills(Reach(time_ms, float(c.high[j]), float(c.low[j]))):
            self._on_fill(fill)
        if self._exit(c, j):
            return
        trigger = self.cfg.exits.trigger_price
        if not self.started and trigger is not None and c.low[j] <= trigger <= c.high[j]:
            self.started = True
        if allowed != self.buys_open:
            self.buys_open = allowed
            if allowed:
                self._place_buys(close, time_ms)
            else:
                self.order_spans.ended([o for o in self.exchange.open_orders() if o.side == "buy"], time_ms)
                self.exchange.cancel_side("buy")
        if not self.started or (time_ms < self.cooldown_until_ms and not self._trails(close)):
            return
        if self.levels is None:
            if not self._grid_around(close, time_ms, j):
                self.cooldown_until_ms = time_ms + self.cfg.regrid.cooldown_ms
        elif self.replan or (self._out_of_range(close) and (self._follows() or self._trails(close))):
            replan = self.replan
            if self._grid_around(close, time_ms, j):
                self.stats.regrids += 1
                if replan and self.log is not None:
                    self.log(f"grid re-planned at {time_ms} (price {close:g})")
            self.cooldown_until_ms = time_ms + self.cfg.regrid.cooldown_ms

    def _follows(self) -> bool:
        """Whether a grid the price has left is re-centred on it: never for a fixed range."""
        return self.cfg.regrid.enabled and self.cfg.grid.range == "follow"

    def _trails(self, close: float) -> bool:
        return self.cfg.exits.trailing_up and self.levels is not None and close > self.levels[-1]

    def _out_of_range(self, close: float) -> bool:
        assert self.levels is not None
        return bool(close > self.levels[-1] or close < self.levels[0])

    def _next_event(self, c: Candles, allowed: NDArray[np.bool_], flips: list[int], pos: int) -> int:
        """The next candle from `pos` where something may happen; `flips` are where `allowed` changes.

        The filter's flips and the cooldown's end are found by index (the candle times increase); the price
        conditions, set here from the engine's state, are searched by `between_events.first_event`."""
        n = len(c)
        if self.halted:
            return n
        if bool(allowed[pos]) != self.buys_open:
            return pos
        i = bisect_right(flips, pos)
        until = flips[i] if i < len(flips) else n  # the buy filter's next flip, or the chunk's end
        x, p = self.cfg.exits, self.portfolio
        # the drawdown halt's close bounds the lows searched for (a close at it has a low at or below it)
        floor = drawdown_price(
            p.quote, p.base, p.fees_outside, self.equity_base, self.cfg.risk.max_drawdown_pct
        )
        below = max(self.exchange.best_bid(), -np.inf if x.stop_loss is None else x.stop_loss, floor)
        above = min(self.exchange.best_ask(), np.inf if x.take_profit is None else x.take_profit)
        trigger = x.trigger_price if not self.started else None
        pending = self.levels is None or self.replan  # a grid to build (the first, or a re-plan) when ready
        ready = n  # the first candle past the regrid cooldown, when it matters
        if trigger is None and (pending or self._follows()):
            if self.cooldown_until_ms <= c.time_ms[pos]:  # over already (the usual case): `pos` does
                ready = pos
            else:
                ready = int(np.searchsorted(c.time_ms, self.cooldown_until_ms))
            if pending:
                until = min(until, max(pos, ready))
        lower = upper = 0.0
        if self.levels is not None:
            lower, upper = float(self.levels[0]), float(self.levels[-1])
        edges = Thresholds(below, above, trigger, ready, lower, upper, self.levels is not None, x.trailing_up)
        return first_event(c, pos, until, edges)

    @property
    def curve(self) -> list[tuple[int, float, float]]:
        """(time_ms, close, equity), decimated to fewer than MAX_CURVE_POINTS points."""
        return self._curve.points

    def run_chunk(self, c: Candles) -> None:
        n = len(c)
        if n == 0:
            return
        if self.stats.candles == 0:
            self.stats.first_ms = self.stats.peak_ms = int(c.time_ms[0])
            self.stats.first_open = float(c.open[0])
        allowed, self._atr_chunk = self.ind.step(self.cfg, c)
        flips = (np.flatnonzero(allowed[1:] != allowed[:-1]) + 1).tolist()
        # Equity is marked in spans of unchanged books: from an event that changed them (its own candle
        # included) to the next one. A filter's flip only moves orders: no new span.
        pos = marked = 0
        while pos < n:
            j = self._next_event(c, allowed, flips, pos)
            if j == n:
                break
            held = self.portfolio
            self._event(c, j, bool(allowed[j]))
            if self.portfolio is not held:
                self._curve.mark(self.stats, c, marked, j, held, self.t)
                marked = j
            pos = j + 1
        self._curve.mark(self.stats, c, marked, n, self.portfolio, self.t)
        self.t += n
        self.stats.candles += n
        self.stats.last_close = float(c.close[-1])
        self.stats.last_ms = int(c.time_ms[-1])

    # --- results and restarts (engine_state) --------------------------------------------------------

    def summary(self) -> dict[str, float | int | str]:
        return engine_state.summary(self)

    def snapshot(self) -> dict[str, object]:
        return engine_state.snapshot(self)

    def restore(self, snap: Json) -> None:
        engine_state.restore(self, snap)


# An engine whatever its book's fills, for what reads its state (status, metrics, plots, logs).
AnyEngine = GridEngine[Any]
