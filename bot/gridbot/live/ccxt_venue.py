"""`Venue` over ccxt: one exchange, one spot symbol, for live trading and the `run.data: exchange` candles.

Only the configured exchange's module is imported: `import ccxt` (and even `import ccxt.binance`, which runs
the package's `__init__`) loads all ~105 exchanges, ~76 MB RSS against ~42 MB with one (see `exchange_class`).

Live trading (keys) is for the binance family (`binance`, `binanceus`): tested against Binance's spot API,
which the local gridbot-exchange speaks; `trades_since` pages by Binance's `fromId`. Keyless, any ccxt
exchange serves market rules and closed candles (`run.data: exchange`). `api_url` assumes the exchange's API
paths hang off one base URL, as Binance's do.

How each call is made (classified errors, retried reads, writes sent once, the breaker): `ccxt_calls`; how
ccxt is loaded one exchange at a time: `ccxt_loader`. What is left here (~480 lines) is one method per call of
the venue protocol, each reading ccxt's answer into the protocol's exact types: split by call, a reader would
lose the one place that says how this exchange's answers are read.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, get_args
from urllib.parse import urlsplit

from gridbot.live.ccxt_calls import CcxtCalls, NotFoundError, VenueClock
from gridbot.live.ccxt_loader import ccxt_module, exchange_class, rebase_urls
from gridbot.live.quiet import IpQuiet, QuietFile
from gridbot.live.resilience import RetryPolicy
from gridbot.live.venue import (
    Balance,
    Candle,
    MarketRules,
    OrderState,
    OutcomeUnknownError,
    RejectedError,
    Side,
    Status,
    Trade,
    VenueError,
)
from gridbot.live.weights import WeightMeter
from gridbot.ops.metrics import Metrics

log = logging.getLogger(__name__)
# ccxt's unified order statuses; anything else (a new one) reads as still open, to be asked again
_STATUSES: dict[str, Status] = {s: s for s in get_args(Status)}

# live trading (keys): exchanges whose API this adapter speaks, trades paged by id (`fromId`, inclusive)
_LIVE_EXCHANGES = frozenset({"binance", "binanceus"})
# ccxt's Binance options that keep load_markets on /api/v3 (no sapi: currencies, margin pairs, other markets)
_EXCHANGE_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {"fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": ["spot"]}},
    "binanceus": {"fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": ["spot"]}},
}
_DAY_MS = 86_400_000
_CLIENT_IDS_KEPT = 4096  # exchange order id -> client id, to name ours in trades (Binance's omit it)


def _max_orders(market: dict[str, Any]) -> int | None:
    """Binance's MAX_NUM_ORDERS filter (`maxNumOrders`, `limit` in newer answers) from the raw market info,
    which ccxt does not unify; None when the exchange states no such limit."""
    filters = (market.get("info") or {}).get("filters") or []
    for f in filters:
        if isinstance(f, dict) and f.get("filterType") == "MAX_NUM_ORDERS":
            n = f.get("maxNumOrders", f.get("limit"))
            return int(n) if n is not None else None
    return None


def _dec(value: object, what: str) -> Decimal:
    if value is None:
        raise VenueError(f"exchange answer lacks {what}")
    try:
        d = Decimal(value if isinstance(value, str) else repr(value))
    except InvalidOperation:
        raise VenueError(f"exchange answer has a bad {what}: {value!r}") from None
    return d


def _dec_or_zero(value: object, what: str) -> Decimal:
    return Decimal(0) if value is None else _dec(value, what)


class CcxtVenue:
    """`gridbot.live.venue.Venue` over one ccxt exchange class and one spot symbol.

    `api_url`: any base URL (the local gridbot-exchange, a testnet) replacing the host of every URL in the
    class's `urls['api']` (see `rebase_urls`); `sandbox`: ccxt's own testnet URLs. Keyless (no
    `api_key`/`secret`) serves the public calls: `load_market` and `closed_candles`. `retry`, `breaker_*`,
    `page_limit`, `throttle` (ccxt's own request spacing) are for tests and tuning; the defaults suit a 5 s
    poll on a real exchange.
    """

    def __init__(
        self,
        exchange_id: str,
        symbol: str,
        *,
        api_url: str | None = None,
        sandbox: bool = False,
        api_key: str | None = None,
        secret: str | None = None,
        timeout_s: float = 10.0,
        metrics: Metrics | None = None,
        clock: VenueClock = time,
        retry: RetryPolicy | None = None,
        breaker_failures: int = 3,
        breaker_cooldown_s: float = 30.0,
        page_limit: int = 1000,
        throttle: bool = True,
        quiet: QuietFile | None = None,
        weight_budget: tuple[float, float] | None = None,
        ip_quiet: IpQuiet | None = None,
    ) -> None:
        if (api_key is None) != (secret is None):
            missing = "secret" if secret is None else "api_key"
            raise ValueError(f"exchange credentials: {missing} is missing (give both or neither)")
        if api_url is not None and sandbox:
            raise ValueError("exchange.api_url and exchange.sandbox exclude each other: give one")
        if api_url is not None and urlsplit(api_url).scheme not in ("http", "https"):
            raise ValueError(f"exchange.api_url: {api_url!r} is not an http(s) URL")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if not 1 <= page_limit <= 1000:
            raise ValueError(f"page_limit must be in 1..1000, got {page_limit}")
        cls = exchange_class(exchange_id)
        if api_key is not None and exchange_id not in _LIVE_EXCHANGES:
            live = ", ".join(sorted(_LIVE_EXCHANGES))
            raise ValueError(
                f"exchange.id: live trading supports {live}, not {exchange_id!r} "
                "(keyless, for candles and market rules, any ccxt exchange)"
            )
        self.exchange_id = exchange_id
        self.symbol = symbol
        self.keyed = api_key is not None
        self._metrics = metrics
        self._page_limit = page_limit
        options: dict[str, Any] = {
            **_EXCHANGE_OPTIONS.get(exchange_id, {}),
            "maxRetriesOnFailure": 0,  # never re-send a create: ours is the only retry logic
            "adjustForTimeDifference": False,  # resynced here, on InvalidNonce and at load_market
        }
        # ccxt's client-side throttle spaces calls by the endpoint's weight (Binance myTrades: 200 ms);
        # off only against an exchange without request weights (the local one in tests)
        config: dict[str, Any] = {
            "timeout": int(timeout_s * 1000),
            "enableRateLimit": throttle,
            "options": options,
        }
        if api_key is not None:
            config["apiKey"] = api_key
            config["secret"] = secret
        self._ex = cls(config)
        self._calls = CcxtCalls(
            self._ex,
            exchange_id,
            metrics=metrics,
            clock=clock,
            retry=retry or RetryPolicy(),
            breaker_failures=breaker_failures,
            breaker_cooldown_s=breaker_cooldown_s,
            resync=self._resync_clock,
            quiet=quiet,
            meter=None if weight_budget is None else WeightMeter(*weight_budget),
            ip_quiet=ip_quiet,
        )
        if sandbox:
            if "test" not in self._ex.urls:
                raise ValueError(f"exchange.sandbox: ccxt has no sandbox URLs for {exchange_id}")
            self._ex.set_sandbox_mode(True)
        if api_url is not None:
            self._ex.urls["api"] = rebase_urls(self._ex.urls["api"], api_url)
        self._rules: MarketRules | None = None
        self._skew_ms = 0.0
        # The market's now as the exchange's last candles showed it (the newest row's open time): a replaying
        # exchange's clock, not the wall clock (`download`'s progress).
        self.market_now_ms: int | None = None
        self._client_ids: OrderedDict[str, str] = OrderedDict()

    def __repr__(self) -> str:
        return f"CcxtVenue({self.exchange_id!r}, {self.symbol!r}, keyed={self.keyed})"

    # -- market data ---------------------------------------------------------------------------------------

    def load_market(self, symbol: str) -> MarketRules:
        if symbol != self.symbol:
            raise ValueError(f"load_market: this venue trades {self.symbol!r}, not {symbol!r}")
        self._resync_clock()
        markets = self._calls.read("load_market", lambda: self._ex.load_markets(True))
        market = markets.get(symbol)
        if market is None:
            raise RejectedError(f"exchange.symbol: {symbol!r} is not listed on {self.exchange_id}")
        if not market.get("spot", True):
            raise RejectedError(f"exchange.symbol: {symbol!r} is not a spot market on {self.exchange_id}")
        maker, taker = market.get("maker"), market.get("taker")
        if self.keyed:
            maker, taker = self._account_fees(maker, taker)
        self._rules = MarketRules(
            symbol=symbol,
            base=market["base"],
            quote=market["quote"],
            tick_size=self._increment(market, "price"),
            lot_step=self._increment(market, "amount"),
            min_notional=_dec_or_zero(
                (market.get("limits", {}).get("cost") or {}).get("min"), "min notional"
            ),
            maker_fee=_dec_or_zero(maker, "maker fee"),
            taker_fee=_dec_or_zero(taker, "taker fee"),
            max_orders=_max_orders(market),
            trading=market.get("active") is not False,  # Binance: status TRADING
        )
        return self._rules

    def _increment(self, market: dict[str, Any], which: str) -> Decimal:
        dtp = ccxt_module("ccxt.base.decimal_to_precision")
        p = (market.get("precision") or {}).get(which)
        mode = self._ex.precisionMode
        if p is None:
            raise VenueError(f"{self.exchange_id} gives no {which} precision for {market['symbol']}")
        if mode == dtp.TICK_SIZE:  # Binance: precision is the increment itself
            return _dec(p, f"{which} tick").normalize()
        if mode == dtp.DECIMAL_PLACES:
            return Decimal(1).scaleb(-int(p))
        raise VenueError(f"{self.exchange_id}: significant-digits precision is not supported")

    def _account_fees(self, maker: object, taker: object) -> tuple[object, object]:
        """The account's own commission when the exchange states it (Binance /api/v3/account), else ccxt's."""
        bal = self._calls.read("balances", self._ex.fetch_balance)
        rates = (bal.get("info") or {}).get("commissionRates") or {}
        return rates.get("maker", maker), rates.get("taker", taker)

    def _resync_clock(self) -> None:
        self._calls.read("clock", self._ex.load_time_difference)
        self._skew_ms = -float(self._ex.options["timeDifference"])
        log.debug("clock resynced: %s's clock minus this host's: %+.0f ms", self.exchange_id, self._skew_ms)
        if self._metrics is not None:
            self._metrics.clock_skew.set(self._skew_ms / 1000)

    def clock_skew_ms(self) -> float:
        return self._skew_ms

    def measure_clock(self) -> float:
        self._resync_clock()
        return self._skew_ms

    def timeframes(self) -> dict[str, int]:
        """The candle intervals the ccxt class knows for this exchange, with their length in ms (a month's
        as ccxt counts it); whether the server behind `api_url` serves each is only known by asking it."""
        return {tf: int(self._ex.parse_timeframe(tf) * 1000) for tf in self._ex.timeframes}

    def closed_candles(self, timeframe: str, since_ms: int | None, limit: int) -> list[Candle]:
        """At most `limit` (≤ 999) closed candles from `since_ms` on, oldest first.

        A candle is dropped when its close time is after the exchange's "now", and that now is read from the
        exchange's own answer: the open time of the newest row it returns (one row more than asked is
        fetched). Not the wall clock plus skew: a replaying exchange's market time is not the wall clock. So
        the newest row itself (the forming candle, or the extra one) is never returned, nor, on a replay, the
        data's very last candle, after which the market stops and nothing is decided anyway."""
        if not 1 <= limit <= 999:
            raise ValueError(f"closed_candles: limit must be in 1..999, got {limit}")
        if timeframe not in self._ex.timeframes:
            known = ", ".join(self._ex.timeframes)
            raise ValueError(f"run.timeframe: {timeframe!r} is not a {self.exchange_id} timeframe ({known})")
        step_ms = int(self._ex.parse_timeframe(timeframe) * 1000)
        rows = self._calls.read(
            "candles", lambda: self._ex.fetch_ohlcv(self.symbol, timeframe, since_ms, limit + 1)
        )
        if not rows:
            return []
        rows = sorted(rows, key=lambda r: r[0])
        now_ms = self.market_now_ms = int(rows[-1][0])
        out = [
            Candle(int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5] or 0))
            for r in rows
            if int(r[0]) + step_ms <= now_ms and (since_ms is None or int(r[0]) >= since_ms)
        ]
        return out[:limit]

    # -- orders ------------------------------------------------------------------------------------------

    def create_limit(self, side: Side, price: Decimal, qty: Decimal, client_id: str) -> OrderState:
        rules = self._require_rules()
        if side not in ("buy", "sell"):
            raise ValueError(f"create_limit: side must be buy or sell, got {side!r}")
        if price <= 0 or price % rules.tick_size != 0:
            raise RejectedError(f"price {price} is not a positive multiple of the tick {rules.tick_size}")
        if qty <= 0 or qty % rules.lot_step != 0:
            raise RejectedError(f"qty {qty} is not a positive multiple of the lot step {rules.lot_step}")
        # exact text; ccxt's price/amount_to_precision leave a value already on the tick/step as it is
        price_s, qty_s = _text(price), _text(qty)
        params = {"clientOrderId": client_id}
        order = self._calls.write(
            "create_limit",
            lambda: self._ex.create_order(self.symbol, "limit", side, qty_s, price_s, params),
        )
        try:
            return self._order_state(order, client_id)
        except (VenueError, KeyError, TypeError, ValueError) as e:  # placed, but its answer is unreadable
            raise OutcomeUnknownError(f"create_limit: answer not understood ({e})") from e

    def sell_at_market(self, qty: Decimal, client_id: str) -> OrderState:
        rules = self._require_rules()
        if qty <= 0 or qty % rules.lot_step != 0:
            raise RejectedError(f"qty {qty} is not a positive multiple of the lot step {rules.lot_step}")
        params = {"clientOrderId": client_id}
        order = self._calls.write(
            "sell_at_market",
            lambda: self._ex.create_order(self.symbol, "market", "sell", _text(qty), None, params),
        )
        try:
            return self._order_state(order, client_id)
        except (VenueError, KeyError, TypeError, ValueError) as e:  # placed, but its answer is unreadable
            raise OutcomeUnknownError(f"sell_at_market: answer not understood ({e})") from e

    def cancel(self, client_id: str) -> OrderState | None:
        try:
            order = self._calls.write(
                "cancel", lambda: self._ex.cancel_order(None, self.symbol, {"origClientOrderId": client_id})
            )
        except NotFoundError:
            return None
        return self._order_state(order, client_id)

    def order(self, client_id: str) -> OrderState | None:
        try:
            order = self._calls.read(
                "order", lambda: self._ex.fetch_order(None, self.symbol, {"origClientOrderId": client_id})
            )
        except NotFoundError:
            return None
        return self._order_state(order, client_id)

    def order_by_id(self, exchange_id: str) -> OrderState | None:
        try:
            order = self._calls.read("order", lambda: self._ex.fetch_order(exchange_id, self.symbol))
        except NotFoundError:
            return None
        return self._order_state(order, None)

    def open_orders(self) -> list[OrderState]:
        orders = self._calls.read("open_orders", lambda: self._ex.fetch_open_orders(self.symbol))
        return [self._order_state(o, None) for o in orders]

    def trades_since(self, after_trade_id: str | None, since_ms: int | None) -> list[Trade]:
        n = self._page_limit
        seen: dict[str, Trade] = {}
        after = _trade_no(after_trade_id) if after_trade_id is not None else None
        if after is not None:
            from_id = after + 1
        elif since_ms is not None:
            found = self._first_trade_id(since_ms)
            if found is None:
                return []
            from_id = found
        else:
            from_id = 0
        while True:
            page = self._calls.read(
                "trades", partial(self._ex.fetch_my_trades, self.symbol, None, n, {"fromId": from_id})
            )
            fresh = 0
            for t in page:
                tr = self._trade(t)
                if (after is not None and _trade_no(tr.trade_id) <= after) or tr.trade_id in seen:
                    continue
                seen[tr.trade_id] = tr
                fresh += 1
            if len(page) < n or fresh == 0:
                break
            from_id = max(_trade_no(str(t["id"])) for t in page) + 1
        return sorted(seen.values(), key=lambda t: (_trade_no(t.trade_id), t.time_ms))

    def trades_of(self, exchange_order_id: str) -> list[Trade]:
        page = self._calls.read(
            "trades_of",
            partial(self._ex.fetch_my_trades, self.symbol, None, None, {"orderId": exchange_order_id}),
        )
        return sorted((self._trade(t) for t in page), key=lambda t: (_trade_no(t.trade_id), t.time_ms))

    def asset_price(self, asset: str, timeframe: str, at_ms: int) -> Decimal | None:
        quote = self._require_rules().quote
        step_ms = int(self._ex.parse_timeframe(timeframe) * 1000)
        start = at_ms - at_ms % step_ms - step_ms  # the candle that closed last at or before at_ms
        symbol = f"{asset}/{quote}"
        rows = self._calls.read("asset_price", lambda: self._ex.fetch_ohlcv(symbol, timeframe, start, 2))
        close = next((r[4] for r in rows if int(r[0]) == start), None)
        return None if close is None else _dec(close, f"{symbol} close")

    def _first_trade_id(self, since_ms: int) -> int | None:
        """Binance's myTrades with a startTime answers for 24 hours from it only: a quiet first day would read
        as no trades at all. So: the newest trade bounds the search, then day windows up to it, oldest first;
        the first trade found starts the `fromId` paging. None when nothing was traded since `since_ms`."""
        newest = self._calls.read("trades", lambda: self._ex.fetch_my_trades(self.symbol, None, 1))
        if not newest or int(newest[-1]["timestamp"]) < since_ms:
            return None
        end = int(newest[-1]["timestamp"])
        start = since_ms
        while start <= end:
            until = min(start + _DAY_MS - 1, end)
            page = self._calls.read(
                "trades",
                partial(self._ex.fetch_my_trades, self.symbol, start, 1, {"endTime": until}),
            )
            if page:
                return _trade_no(str(page[0]["id"]))
            start += _DAY_MS
        return _trade_no(str(newest[-1]["id"]))

    def balances(self) -> dict[str, Balance]:
        bal = self._calls.read("balances", self._ex.fetch_balance)
        return self._balances_of(bal)

    # -- conversions -------------------------------------------------------------------------------------

    def _balances_of(self, bal: dict[str, Any]) -> dict[str, Balance]:
        out: dict[str, Balance] = {}
        for asset, row in bal.items():
            if asset in ("info", "free", "used", "total", "timestamp", "datetime") or not isinstance(
                row, dict
            ):
                continue
            out[asset] = Balance(_dec_or_zero(row.get("free"), "free"), _dec_or_zero(row.get("used"), "used"))
        return out

    def _order_state(self, o: dict[str, Any], client_id: str | None) -> OrderState:
        # Binance answers a cancel with the cancel's own clientOrderId and the order's in origClientOrderId;
        # ccxt's parseOrder reads clientOrderId only, so a cancelled order would map to the cancel's id
        info = o.get("info")
        orig = info.get("origClientOrderId") if isinstance(info, dict) else None
        cid = orig or o.get("clientOrderId") or client_id or ""
        eid = str(o.get("id") or "")
        if cid and eid:
            self._client_ids[eid] = cid
            self._client_ids.move_to_end(eid)
            while len(self._client_ids) > _CLIENT_IDS_KEPT:
                self._client_ids.popitem(last=False)
        status = _STATUSES.get(str(o.get("status") or "open"), "open")
        return OrderState(
            client_id=cid,
            exchange_id=eid,
            side=o.get("side") or "buy",
            price=_dec_or_zero(o.get("price"), "order price"),
            qty=_dec_or_zero(o.get("amount"), "order amount"),
            filled=_dec_or_zero(o.get("filled"), "order filled"),
            status=status,
            time_ms=int(o.get("timestamp") or o.get("lastTradeTimestamp") or 0),
        )

    def _trade(self, t: dict[str, Any]) -> Trade:
        fee = t.get("fee") or {}
        eid = str(t.get("order") or "")
        return Trade(
            trade_id=str(t["id"]),
            exchange_order_id=eid,
            client_id=t.get("clientOrderId") or self._client_ids.get(eid),
            side=t["side"],
            price=_dec(t.get("price"), "trade price"),
            qty=_dec(t.get("amount"), "trade amount"),
            fee=_dec_or_zero(fee.get("cost"), "trade fee"),
            fee_currency=fee.get("currency") or "",
            time_ms=int(t.get("timestamp") or 0),
        )

    def _require_rules(self) -> MarketRules:
        if self._rules is None:
            raise VenueError("load_market must be called before trading")
        return self._rules


def _text(d: Decimal) -> str:
    """Plain decimal text, no exponent: Decimal('1E-5') is sent as 0.00001."""
    return format(d.normalize(), "f")


def _trade_no(trade_id: str) -> int:
    try:
        return int(trade_id)
    except ValueError:
        raise VenueError(f"trade id {trade_id!r} is not numeric") from None
