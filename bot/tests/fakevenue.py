"""An in-memory exchange implementing `gridbot.live.venue.Venue`, for the trader's books where a real process
would be slower and no more exact: candles stepped by the test, limit orders matched at their price when a
closed candle reaches them (as the local exchange does), fees in a third asset (BNB) while the account holds
enough of it, then in what the order received; an answer dropped after the order is booked; an order hidden
(with its trades) from lookups for some candles. Its own books are the judge: balances, trades, orders."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from gridbot.core.candles import Candles
from gridbot.live.venue import (
    Balance,
    Candle,
    InsufficientFundsError,
    MarketRules,
    OrderState,
    OutcomeUnknownError,
    RejectedError,
    Side,
    Status,
    Trade,
)

FEE = Decimal("0.001")
RULES = MarketRules("BTC/USDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"), Decimal(5), FEE, FEE)
STEP_MS = 300_000
BNB_DISCOUNT = Decimal("0.75")  # Binance: 25 % off a commission paid in BNB


def bnb_price(index: int) -> Decimal:
    """BNB's close in USDT of candle `index`: a slow drift, so a valuation at the wrong time shows."""
    return Decimal(600) + Decimal(index) / 4


@dataclass
class _Order:
    eid: str
    cid: str
    side: Side
    price: Decimal
    qty: Decimal
    placed_at: int  # fills from this candle's close on
    hidden_until: int = 0  # unknown to lookups (and its trades to trades_since) before this candle closed
    filled: Decimal = Decimal(0)
    status: Status = "open"

    def state(self, ms: int) -> OrderState:
        return OrderState(self.cid, self.eid, self.side, self.price, self.qty, self.filled, self.status, ms)


@dataclass
class FakeVenue:
    candles: Candles
    now: int = 1  # candles closed so far
    balances_: dict[str, Decimal] = field(default_factory=lambda: {"USDT": Decimal(1000)})
    fee_asset: str | None = "BNB"
    orders: dict[str, _Order] = field(default_factory=dict)  # by client id
    trades: list[Trade] = field(default_factory=list)
    drop_next_create: bool = False
    refuse_market_sales: int = 0  # market sales refused for insufficient funds before one goes through
    expire_next_create: bool = False  # answered EXPIRED at once (Binance: self-trade prevention)
    hide_next_create: int = 0  # candles

    # --- the test's side ------------------------------------------------------------------------------

    def step(self) -> None:
        """Candle `now` closes: resting orders it reaches fill (sells first, lowest first; then buys)."""
        i = self.now
        high, low = Decimal(repr(float(self.candles.high[i]))), Decimal(repr(float(self.candles.low[i])))
        end_ms = int(self.candles.time_ms[i]) + STEP_MS - 1
        resting = [o for o in self.orders.values() if o.status == "open" and o.placed_at <= i]
        sells = sorted((o for o in resting if o.side == "sell" and high >= o.price), key=lambda o: o.price)
        buys = sorted((o for o in resting if o.side == "buy" and low <= o.price), key=lambda o: -o.price)
        for o in [*sells, *buys]:
            self._fill(o, end_ms, i)
        self.now += 1

    def _fill(self, o: _Order, time_ms: int, index: int) -> None:
        qty = o.qty - o.filled
        cost = qty * o.price
        fee_quote = cost * RULES.maker_fee
        b = self.balances_
        if o.side == "buy":
            b["USDT"] -= cost  # locked at placement: released here
            got, fee_native = "BTC", qty * RULES.maker_fee
        else:
            got, fee_native = "USDT", fee_quote
            b["USDT"] += cost
            b["BTC"] -= qty
        # the fee asset at its price: BNB's drift, or the market's own price when the fee asset is its base
        worth = o.price if self.fee_asset == "BTC" else bnb_price(index - 1)
        bnb_fee = (fee_quote * BNB_DISCOUNT / worth).quantize(Decimal("0.00000001"))
        if self.fee_asset and b.get(self.fee_asset, Decimal(0)) >= bnb_fee:
            b[self.fee_asset] -= bnb_fee
            fee, asset = bnb_fee, self.fee_asset
        else:
            fee, asset = fee_native, got
            b[got] = b.get(got, Decimal(0)) - fee
        if o.side == "buy":
            b["BTC"] = b.get("BTC", Decimal(0)) + qty
        o.filled, o.status = o.qty, "closed"
        tid = str(len(self.trades) + 1)
        self.trades.append(Trade(tid, o.eid, None, o.side, o.price, qty, fee, asset, time_ms))

    def held(self, asset: str) -> Decimal:
        return self.balances_.get(asset, Decimal(0))

    # --- Venue ---------------------------------------------------------------------------------------

    def load_market(self, symbol: str) -> MarketRules:
        assert symbol == RULES.symbol
        return RULES

    def closed_candles(self, timeframe: str, since_ms: int | None, limit: int) -> list[Candle]:
        assert timeframe == "5m"
        c = self.candles
        rows = [
            Candle(
                int(t),
                float(c.open[i]),
                float(c.high[i]),
                float(c.low[i]),
                float(c.close[i]),
                float(c.volume[i]),
            )
            for i, t in enumerate(c.time_ms[: self.now])
            if since_ms is None or int(t) >= since_ms
        ]
        return rows[:limit]

    def create_limit(self, side: Side, price: Decimal, qty: Decimal, client_id: str) -> OrderState:
        if client_id in self.orders and self.orders[client_id].status == "open":
            raise RejectedError("Duplicate order sent.")
        if side == "sell" and self.held("BTC") - self._locked("sell") < qty:
            raise InsufficientFundsError("insufficient BTC")
        if side == "buy" and self.held("USDT") - self._locked("buy") < price * qty:
            raise InsufficientFundsError("insufficient USDT")
        o = _Order(str(len(self.orders) + 1), client_id, side, price, qty, self.now)
        if self.hide_next_create:
            o.hidden_until, self.hide_next_create = self.now + self.hide_next_create, 0
        self.orders[client_id] = o
        if self.expire_next_create:
            self.expire_next_create, o.status = False, "expired"
        if self.drop_next_create:
            self.drop_next_create = False
            raise OutcomeUnknownError("the answer was lost")
        return o.state(self._ms())

    def sell_at_market(self, qty: Decimal, client_id: str) -> OrderState:
        """Executed at once at the last closed candle's close, as a market order is; refused while the test
        says so."""
        if self.refuse_market_sales or self.held("BTC") - self._locked("sell") < qty:
            self.refuse_market_sales = max(0, self.refuse_market_sales - 1)
            raise InsufficientFundsError("Account has insufficient balance for requested action.")
        price = Decimal(repr(float(self.candles.close[self.now - 1])))
        o = _Order(str(len(self.orders) + 1), client_id, "sell", price, qty, self.now)
        self.orders[client_id] = o
        self._fill(o, self._ms() - 1, self.now)
        return o.state(self._ms())

    def _locked(self, side: Side) -> Decimal:
        open_ = [o for o in self.orders.values() if o.status == "open" and o.side == side]
        return sum((o.qty if side == "sell" else o.qty * o.price for o in open_), Decimal(0))

    def _ms(self) -> int:
        return int(self.candles.time_ms[self.now - 1]) + STEP_MS

    def _visible(self, o: _Order) -> bool:
        return o.hidden_until <= self.now

    def cancel(self, client_id: str) -> OrderState | None:
        o = self.orders.get(client_id)
        if o is None or not self._visible(o) or o.status != "open":
            return None
        o.status = "canceled"
        return o.state(self._ms())

    def order(self, client_id: str) -> OrderState | None:
        o = self.orders.get(client_id)
        return o.state(self._ms()) if o is not None and self._visible(o) else None

    def order_by_id(self, exchange_id: str) -> OrderState | None:
        o = next((o for o in self.orders.values() if o.eid == exchange_id), None)
        return o.state(self._ms()) if o is not None and self._visible(o) else None

    def open_orders(self) -> list[OrderState]:
        return [o.state(self._ms()) for o in self.orders.values() if o.status == "open" and self._visible(o)]

    def _shown(self) -> list[Trade]:
        hidden = {o.eid for o in self.orders.values() if not self._visible(o)}
        return [t for t in self.trades if t.exchange_order_id not in hidden]

    def trades_since(self, after_trade_id: str | None, since_ms: int | None) -> list[Trade]:
        after = int(after_trade_id) if after_trade_id else 0
        return [
            t
            for t in self._shown()
            if int(t.trade_id) > after and (since_ms is None or t.time_ms >= since_ms)
        ]

    def trades_of(self, exchange_order_id: str) -> list[Trade]:
        return [t for t in self._shown() if t.exchange_order_id == exchange_order_id]

    def asset_price(self, asset: str, timeframe: str, at_ms: int) -> Decimal | None:
        assert (asset, timeframe) == ("BNB", "5m")
        start = at_ms - at_ms % STEP_MS - STEP_MS
        index = next((i for i in range(self.now) if int(self.candles.time_ms[i]) == start), None)
        return None if index is None else bnb_price(index)

    def balances(self) -> dict[str, Balance]:
        locked = {"USDT": self._locked("buy"), "BTC": self._locked("sell")}
        return {
            a: Balance(v - locked.get(a, Decimal(0)), locked.get(a, Decimal(0)))
            for a, v in self.balances_.items()
        }

    def clock_skew_ms(self) -> float:
        return 0.0

    def measure_clock(self) -> float:
        return self.clock_skew_ms()
