"""Booking what the exchange did (a room of `live_trader.LiveTrader`): each trade to its order (by the
exchange's order id: the store's, or one looked up once), fed to the live book for the engine's candle, then
recorded once with its fee classified by asset (`holdings.fee_asset`; a third asset's valued in quote
before the cycle's transaction); fills of orders already cancelled and of exit sales booked without a
decision; a sale past the holding halted on."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from gridbot.core.engine import LedgerRow
from gridbot.live.book import LiveFill, fees_of
from gridbot.live.exits import EXIT_LEVEL
from gridbot.live.venue import (
    RejectedError,
    Trade,
)
from gridbot.ops.logs import fill_line

if TYPE_CHECKING:
    from gridbot.live.rooms import TraderRooms

log = logging.getLogger(__name__)


class Bookkeeping:
    """Mixed into `live_trader.LiveTrader`, whose state its methods read and write."""

    last_fill_at: float | None  # wall clock of the last fill booked

    def _ledger(self: TraderRooms, row: LedgerRow, fill: LiveFill) -> None:
        """A fill the engine booked: each of its trades recorded once (the realized PnL shared by quantity),
        and its order's status."""
        pnl = row["realized_pnl"]
        self.last_fill_at = time.time()
        log.info(fill_line(row))
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

    def _attribute(self: TraderRooms, fresh: list[Trade]) -> set[str]:
        """Each new trade to its order; the ids of those held back: a trade no order of ours names while an
        order's create is unanswered, or after one declared lost turned up, is read again next cycle (it
        may be theirs); only then is it someone else's."""
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
            log.warning(
                f"trade {t.trade_id} of order {t.client_id or t.exchange_order_id}: not ours, ignored"
            )
        return held

    def _value_fees(self: TraderRooms) -> None:
        """Fees paid in a third asset (BNB), of the trades waiting for the engine, valued in quote before the
        cycle's transaction: the engine never waits on the exchange mid-decision."""
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

    def _price_fee(self: TraderRooms, t: Trade) -> Decimal:
        try:
            price = self.venue.asset_price(t.fee_currency, self.cfg.run.timeframe, t.time_ms)
        except RejectedError:
            price = None
        if price is None:
            if t.fee_currency not in self.unvalued:
                self.unvalued.add(t.fee_currency)
                log.warning(f"fees paid in {t.fee_currency}: no {t.fee_currency}/{self.quote} price on the "
                            "exchange, valued at 0")  # fmt: skip
            return Decimal(0)
        return t.fee * price

    def _fee_value(self: TraderRooms, t: Trade) -> Decimal:
        """The quote value of a fee not taken from base or quote (the book's `FeeValue`)."""
        found = self.fee_values.get(t.trade_id)
        return found if found is not None else self._price_fee(t)

    def _ours(self: TraderRooms, t: Trade) -> Trade:
        """A trade names its order by the exchange's id only (Binance's myTrades): the adapter knows the
        client ids of the orders it saw answered in this process, the store those of every order sent."""
        if t.client_id or not t.exchange_order_id:
            return t
        cid = self.store.client_id_of(t.exchange_order_id) or self._unrecorded(t.exchange_order_id)
        return t if cid is None else replace(t, client_id=cid)

    def _new_trades(self: TraderRooms) -> list[Trade]:
        """Our trades after the last recorded one; before any, from the bot's first candle (an account's
        older history is not this bot's). Nothing before the first candle: no order was placed yet."""
        after = self.store.cursor("trade")
        if after is None and not self.engine.stats.candles:
            return []
        return self.venue.trades_since(after, None if after else self.engine.stats.first_ms)

    def _account_orphans(self: TraderRooms) -> None:
        """Fills of orders the engine had cancelled (filled before the cancel arrived): accounted, no
        counter-order; then the resting sells cut back to what is left (`_trim_sells`), whose cancels can
        bring trades of their own (a later candle's, already read): accounted in turn."""
        while self.book.orphans:
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
            self._trim_sells()

    def _trim_sells(self: TraderRooms) -> None:
        """A sale booked after the engine decided (a sell it cancelled, filled first) can leave the resting
        sells offering more than the bot holds; on an account with other coins they would fill from those.
        They are cut back to the holding in this cycle (`GridEngine.trim_sells`): still intents when the sale
        is booked in the cycle that decided them, never sent; real cancels when its trade came later."""
        before = self.engine.portfolio.base
        cut = self.engine.trim_sells(self.engine.stats.last_ms)
        if cut:
            log.warning(
                f"the resting sells offered more than the {before:g} {self.base} the bot holds (a sale "
                f"booked late): {len(cut)} sell(s) of {sum(o.qty for o in cut):g} cancelled, the highest "
                "first, and what they left of the holding offered again at the lowest one's level"
            )

    def _exit_trade(self: TraderRooms, t: Trade) -> bool:
        """A trade of an exit's sale: booked like a fill of a cancelled order (no decision follows)."""
        row = self.store.order_row(t.client_id) if t.client_id else None
        if row is None or row.level != EXIT_LEVEL:
            return False
        filled = self.store.filled_of(row.client_id)[0]
        live = self.book.detached(row.client_id, "sell", Decimal(0), Decimal(row.qty), EXIT_LEVEL,
                                  row.opened_ms, filled)  # fmt: skip
        self.book.orphans.append((live, t))
        return True
