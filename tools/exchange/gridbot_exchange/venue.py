"""The exchange's state in one place: market, candles, clock, ledger, engine and faults, behind one lock."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from decimal import Decimal

from gridbot_exchange.accounts import Account, Ledger
from gridbot_exchange.clock import SimClock
from gridbot_exchange.data import Market, Series, fee_asset_series
from gridbot_exchange.faults import Faults
from gridbot_exchange.marketdata import Path
from gridbot_exchange.matching import Engine, FeeAsset, Order
from gridbot_exchange.ratelimits import Config, Limiter

FEE_ASSET_TICK = Decimal("0.01")
FEE_ASSET_STEP = Decimal("0.001")
USE_DEFAULT = "\0default"  # add_account: the server's --fee-asset (None means: pay in the asset received)


@dataclass(frozen=True)
class FeeAssetSpec:
    asset: str
    series: Series | None  # a third asset's price path; None for the market's own base or quote
    discount: Decimal

    @classmethod
    def load(cls, asset: str, source: str, grid: Series, discount: Decimal) -> FeeAssetSpec:
        """A third asset with its price path from `source` on the market's grid; CandleError names what is
        wrong."""
        return cls(asset, fee_asset_series(source, grid), discount)


@dataclass(frozen=True)
class Limits:
    max_orders: int = 100_000
    max_trades: int = 100_000


class Venue:
    def __init__(
        self,
        market: Market,
        series: Series,
        speed: float,
        start: int,
        limits: Limits,
        fill_cap: Decimal | None = None,
        default_balances: dict[str, Decimal] | None = None,
        fees: tuple[Decimal, Decimal] = (Decimal("0.001"), Decimal("0.001")),
        fee_asset: FeeAssetSpec | None = None,
        rate_limits: Config | None = None,
    ) -> None:
        self.market = market
        self.start_market = market  # what a reset returns to after rule changes
        self.series = series
        self.lock = threading.RLock()
        t = series.candles.time_ms
        self.clock = SimClock(int(t[start]), int(t[-1]) + series.interval_ms, speed)
        self.ledger = Ledger()
        self.paths = {market.symbol: Path(market.symbol, series, market.tick, market.step)}
        self.fee_asset: FeeAsset | None = None
        if fee_asset is not None and fee_asset.series is not None:
            fee_path = Path(fee_asset.asset + market.quote, fee_asset.series, FEE_ASSET_TICK, FEE_ASSET_STEP)
            self.paths[fee_path.symbol] = fee_path
            self.fee_asset = FeeAsset(fee_asset.asset, self.fee_asset_price, fee_asset.discount)
        elif fee_asset is not None:
            self.fee_asset = FeeAsset(fee_asset.asset, None, fee_asset.discount)
        self.engine = Engine(
            market, series, self.ledger, limits.max_orders, limits.max_trades, fill_cap, self.fee_asset
        )
        self.faults = Faults()
        self.limits = Limiter(rate_limits or Config())
        self.response_headers: dict[str, str] = {}  # set by a handler under the lock, read by dispatch
        self.engine.on_first_maker_fill = self.limits.first_fill
        self.hidden: dict[int, Order] = {}  # orders under the invisible fault (few: each is one placement)
        self.default_balances = default_balances or {market.quote: Decimal(10_000), market.base: Decimal(0)}
        self.fees = fees

    @property
    def fee_symbol(self) -> str | None:
        """A third fee asset's own listing (BNBUSDT); None without one (no fee asset, or the market's own)."""
        fa = self.fee_asset
        return fa.asset + self.market.quote if fa and fa.price else None

    def fee_asset_price(self, market_ms: int) -> Decimal:
        """The fee asset's price in quote at a market time: what `ticker/price` shows then (the close of the
        last candle closed before the one forming at that time)."""
        assert self.fee_symbol is not None
        return self.paths[self.fee_symbol].last_price(self.engine.forming_index(market_ms))

    def add_account(
        self,
        key: str,
        secret: str,
        balances: dict[str, Decimal] | None = None,
        fees: tuple[Decimal, Decimal] | None = None,
        fee_asset: str | None = USE_DEFAULT,
    ) -> Account:
        maker, taker = fees or self.fees
        if fee_asset == USE_DEFAULT:
            fee_asset = self.fee_asset.asset if self.fee_asset else None
        acct = Account(key, maker, taker, dict(balances or self.default_balances), fee_asset=fee_asset)
        with self.lock:
            self.ledger.add(acct, secret)
        return acct

    def server_ms(self) -> int:
        """Wall-clock ms (what ccxt's nonce and recvWindow use), shifted by a clock-skew fault."""
        return int(time.time() * 1000) + self.faults.skew_ms()

    def market_ms(self) -> int:
        """Simulated market time, with every candle closed by then matched."""
        now = self.clock.now_ms()
        self.engine.advance(now)
        return now

    def hide(self, o: Order, seconds: float, clock: str) -> None:
        if clock == "market":
            o.hidden_market_ms = self.clock.now_ms() + int(seconds * 1000)
        else:
            o.hidden_wall = time.monotonic() + seconds
        self.hidden[o.id] = o

    def hidden_ids(self, key: str) -> set[int]:
        """Ids of the account's orders still hidden; those that have appeared are forgotten here."""
        for oid in [oid for oid, o in self.hidden.items() if self.visible(o)]:
            del self.hidden[oid]
        return {oid for oid, o in self.hidden.items() if o.key == key}

    def visible(self, o: Order) -> bool:
        """False while an order is hidden by the invisible fault (on the clock the fault named)."""
        if o.hidden_wall and o.hidden_wall > time.monotonic():
            return False
        return not (o.hidden_market_ms and o.hidden_market_ms > self.clock.now_ms())

    def step(self, ms: int) -> int:
        with self.lock:
            self.clock.step(ms)
            return self.market_ms()

    def set_market(self, m: Market) -> None:
        """New status or filters mid-run: candles closed so far are matched under the old ones, new orders
        are checked against the new ones (resting orders stay as placed, as on Binance)."""
        with self.lock:
            self.market_ms()
            self._use(m)

    def _use(self, m: Market) -> None:
        self.market = m
        self.engine.market = m
        self.paths[m.symbol] = Path(m.symbol, self.series, m.tick, m.step)

    def reset(self) -> None:
        with self.lock:
            self._use(self.start_market)
            self.engine.reset()
            self.limits.reset()
            self.hidden.clear()
            self.clock.reset()
