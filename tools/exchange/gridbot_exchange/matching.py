"""The matching engine: resting limit orders fill against the candle path, independently of gridbot's paper
engine but with the same rule. A buy fills when a candle's low reaches its price, a sell when the high does,
at the order price with the maker fee; market orders (and limits that cross) fill at once at the last close
with the taker fee. An order placed while candle t forms is matched from candle t on, once t has closed, so
a bot that saw candles up to t-1 gets no lookahead. Sells fill before buys within a candle, lowest sell and
highest buy first, as in the paper engine."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from gridbot_exchange import errors
from gridbot_exchange.accounts import Account, Ledger
from gridbot_exchange.data import TRADING, Market, Series

FEE_QUANT = Decimal("1e-8")
# Public trade ids (marketdata's tape): per candle, the fills made while it formed or at its close, then its
# four synthetic prints; so ids grow with time and none appears below one already served.
SLOTS = 1_000_000
PRINTS = 4
MAX_OPEN_PER_ACCOUNT = 200  # Binance's MAX_NUM_ORDERS filter


@dataclass(slots=True)
class Order:
    id: int
    key: str
    client_id: str
    side: str  # BUY | SELL
    type: str  # LIMIT | LIMIT_MAKER | MARKET
    price: Decimal  # 0 for market orders, as Binance reports them
    qty: Decimal
    time_ms: int
    placed_index: int
    # visibility lag (the invisible fault): lookups answer "unknown" until both have passed
    hidden_wall: float = 0.0  # time.monotonic() seconds
    hidden_market_ms: int = 0  # market time
    executed: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    locked: Decimal = Decimal(0)
    status: str = "NEW"
    update_ms: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")


@dataclass(frozen=True, slots=True)
class Trade:
    id: int
    order_id: int
    key: str
    is_buyer: bool
    is_maker: bool
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    public_id: int = 0  # its id on the public tape (marketdata.public_id)


def public_id(block: int, seq: int) -> int:
    """The public id of the seq-th fill made while candle `block` formed (or at its close)."""
    return block * SLOTS + min(seq, SLOTS - PRINTS - 1)


@dataclass(frozen=True, slots=True)
class FeeAsset:
    """The asset commissions are paid in at a discount (Binance's BNB): a third asset, `price(market_ms)` in
    quote, or the market's own base or quote (`price` None: a fill's own price values it)."""

    asset: str
    price: Callable[[int], Decimal] | None
    discount: Decimal


class Engine:
    def __init__(
        self,
        market: Market,
        series: Series,
        ledger: Ledger,
        max_orders: int,
        max_trades: int,
        fill_cap: Decimal | None = None,
        fee_asset: FeeAsset | None = None,
    ) -> None:
        self.fee_asset = fee_asset
        self.on_first_maker_fill: Callable[[str], None] | None = None  # the unfilled order count's decrement
        self.market = market
        self.series = series
        self.ledger = ledger
        self.max_orders = max_orders
        self.max_trades = max_trades
        self.fill_cap = fill_cap
        self._clear()

    def _clear(self) -> None:
        self.trades: deque[Trade] = deque(maxlen=self.max_trades)
        self.orders: dict[int, Order] = {}
        self.open: dict[int, Order] = {}  # matching walks only these, not the stored history
        self._closed: deque[int] = deque()
        self.by_client: dict[tuple[str, str], int] = {}
        self.open_count: dict[str, int] = {}
        self.next_order_id = 1
        self.next_trade_id = 1
        self.completed = 0  # candles [0, completed) have been matched
        self.placed_total = 0
        self.duplicate_rejects = 0
        self.reused_client_ids = 0
        self._tape = (0, 0)  # (candle, fills so far in it): public trade ids

    def reset(self) -> None:
        self._clear()
        self.ledger.reset()

    def forming_index(self, now_ms: int) -> int:
        t0 = int(self.series.candles.time_ms[0])
        return max(0, min((now_ms - t0) // self.series.interval_ms, len(self.series)))

    def last_price(self) -> Decimal:
        c = self.series.candles
        price = c.close[self.completed - 1] if self.completed else c.open[0]
        return Decimal(str(price)).quantize(self.market.tick)

    def advance(self, now_ms: int) -> None:
        """Match every candle that has closed by now_ms; a market not trading (a halt) matches nothing."""
        target = self.forming_index(now_ms)
        c = self.series.candles
        while self.completed < target:
            i = self.completed
            if self.market.status == TRADING:
                self._match(i, Decimal(str(c.high[i])), Decimal(str(c.low[i])), int(c.time_ms[i]))
            self.completed += 1

    def _match(self, i: int, high: Decimal, low: Decimal, time_ms: int) -> None:
        live = [o for o in self.open.values() if o.placed_index <= i]
        sells = sorted((o for o in live if o.side == "SELL" and high >= o.price), key=lambda o: o.price)
        buys = sorted((o for o in live if o.side == "BUY" and low <= o.price), key=lambda o: -o.price)
        close_ms = time_ms + self.series.interval_ms - 1
        for o in sells + buys:
            qty = o.qty - o.executed
            if self.fill_cap is not None:
                qty = min(qty, self.fill_cap)
            self._fill(o, o.price, qty, maker=True, time_ms=close_ms)

    def place(
        self,
        acct: Account,
        side: str,
        type_: str,
        qty: Decimal,
        price: Decimal | None,
        client_id: str,
        now_ms: int,
    ) -> tuple[Order, list[Trade]]:
        m = self.market
        current = self.last_price()
        if type_ != "MARKET":
            assert price is not None
            if price <= 0 or price % m.tick != 0:
                raise errors.filter_failure("PRICE_FILTER")
        # a market order executes at the last price; a limit order at its own
        at = current if type_ == "MARKET" or price is None else price
        if qty < m.min_qty or qty % m.step != 0:
            raise errors.filter_failure("LOT_SIZE")
        if at * qty < m.min_notional:
            raise errors.filter_failure("NOTIONAL")
        prior = self.by_client.get((acct.key, client_id))
        if prior is not None and prior in self.orders and self.orders[prior].is_open:
            self.duplicate_rejects += 1
            raise errors.DUPLICATE
        crosses = type_ == "MARKET" or (at >= current if side == "BUY" else at <= current)
        if type_ == "LIMIT_MAKER" and crosses:
            raise errors.WOULD_TAKE
        if self.open_count.get(acct.key, 0) >= MAX_OPEN_PER_ACCOUNT and not crosses:
            raise errors.MAX_ORDERS
        lock_asset, lock_amount = (m.quote, at * qty) if side == "BUY" else (m.base, qty)
        acct.lock(lock_asset, lock_amount)
        order = Order(
            self.next_order_id, acct.key, client_id, side, type_, Decimal(0) if type_ == "MARKET" else at,
            qty, now_ms, self.forming_index(now_ms), locked=lock_amount, update_ms=now_ms,
        )  # fmt: skip
        self.next_order_id += 1
        self.placed_total += 1
        if prior is not None:
            self.reused_client_ids += 1
        self.orders[order.id] = order
        self.open[order.id] = order
        self.by_client[(acct.key, client_id)] = order.id
        self.open_count[acct.key] = self.open_count.get(acct.key, 0) + 1
        trades = [self._fill(order, current, qty, maker=False, time_ms=now_ms)] if crosses else []
        self._evict()
        return order, trades

    def _fill(self, o: Order, price: Decimal, qty: Decimal, maker: bool, time_ms: int) -> Trade:
        acct = self.ledger.accounts[o.key]
        m = self.market
        buy = o.side == "BUY"
        quote_qty = price * qty
        rate = acct.maker_fee if maker else acct.taker_fee
        fee = ((qty if buy else quote_qty) * rate).quantize(FEE_QUANT, rounding=ROUND_DOWN)
        fee_asset = m.base if buy else m.quote
        if maker and o.executed == 0 and self.on_first_maker_fill is not None:
            self.on_first_maker_fill(o.key)
        discounted = self._discounted_fee(acct, buy, qty, quote_qty, rate, time_ms)
        if discounted is not None:
            fee, fee_asset = discounted
        self.ledger.settle(acct, m.base, m.quote, buy, qty, quote_qty, fee, fee_asset)
        o.locked -= quote_qty if buy else qty
        o.executed += qty
        o.cum_quote += quote_qty
        o.update_ms = time_ms
        o.status = "FILLED" if o.executed == o.qty else "PARTIALLY_FILLED"
        if o.status == "FILLED":
            self._close(o, "FILLED")
        block = self.forming_index(time_ms)
        seq = self._tape[1] if self._tape[0] == block else 0
        self._tape = (block, seq + 1)
        t = Trade(self.next_trade_id, o.id, o.key, buy, maker, price, qty, quote_qty, fee, fee_asset, time_ms,
                  public_id(block, seq))  # fmt: skip
        self.next_trade_id += 1
        self.trades.append(t)
        return t

    def _discounted_fee(
        self, acct: Account, buy: bool, qty: Decimal, quote_qty: Decimal, rate: Decimal, time_ms: int
    ) -> tuple[Decimal, str] | None:
        """Binance's BNB rule, if the account pays in the fee asset: the commission's value, less the
        discount, in that asset (a third asset at its price at fill time; the market's base or quote at the
        fill's own price); taken if the free balance, with what the fill delivers of it, covers it."""
        fa, m = self.fee_asset, self.market
        if fa is None or acct.fee_asset != fa.asset:
            return None
        paid = rate * (1 - fa.discount)
        if fa.asset == m.base:
            value = qty * paid
        elif fa.asset == m.quote:
            value = quote_qty * paid
        else:
            assert fa.price is not None
            value = quote_qty * paid / fa.price(time_ms)
        amount = value.quantize(FEE_QUANT, rounding=ROUND_DOWN)
        received = qty if buy else quote_qty
        delivered = received if fa.asset == (m.base if buy else m.quote) else Decimal(0)
        if amount <= 0 or acct.bal(fa.asset).free + delivered < amount:
            return None
        return amount, fa.asset

    def cancel(self, o: Order, now_ms: int) -> None:
        if not o.is_open:
            raise errors.unknown_cancel()
        self._close(o, "CANCELED")
        o.update_ms = now_ms

    def _close(self, o: Order, status: str) -> None:
        """Free what the order still holds and make it eligible for eviction."""
        if o.locked:
            self.ledger.accounts[o.key].unlock(
                self.market.quote if o.side == "BUY" else self.market.base, o.locked
            )
            o.locked = Decimal(0)
        o.status = status
        del self.open[o.id]
        self.open_count[o.key] -= 1
        self._closed.append(o.id)

    def _evict(self) -> None:
        """Keep at most max_orders: the oldest closed orders go first; open orders are never dropped."""
        while len(self.orders) > self.max_orders and self._closed:
            oid = self._closed.popleft()
            o = self.orders.pop(oid)
            if self.by_client.get((o.key, o.client_id)) == oid:
                del self.by_client[(o.key, o.client_id)]

    def find(self, key: str, order_id: int | None, client_id: str | None) -> Order | None:
        if order_id is None and client_id is not None:
            order_id = self.by_client.get((key, client_id))
        o = self.orders.get(order_id) if order_id is not None else None
        if o is None or o.key != key or (client_id is not None and o.client_id != client_id):
            return None
        return o
