"""`Venue` over ccxt: one exchange, one spot symbol, for live trading and the `run.data: exchange` candles.

Only the configured exchange's module is imported: `import ccxt` (and even `import ccxt.binance`, which runs
the package's `__init__`) loads all ~105 exchanges, ~76 MB RSS against ~42 MB with one (see `exchange_class`).

Live trading (keys) is for the binance family (`binance`, `binanceus`): tested against Binance's spot API,
which the local gridbot-exchange speaks; `trades_since` pages by Binance's `fromId`. Keyless, any ccxt
exchange serves market rules and closed candles (`run.data: exchange`). `api_url` assumes the exchange's API
paths hang off one base URL, as Binance's do.

Safety (README "Safety model"): a create or cancel is sent exactly once (ccxt's `maxRetriesOnFailure` is 0 and
nothing here retries it); when its answer is lost (timeout, dropped connection, 5xx, garbled answer) it raises
OutcomeUnknownError and the loop looks the order up by its client id. The one exception is InvalidNonce
(Binance -1021): the exchange refused the request on its timestamp before looking at it, so after a clock
resync it is sent once more, under the same client id. Reads are retried by `resilience.RetryPolicy`.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, Protocol, TypeVar, cast, get_args
from urllib.parse import urlsplit

from gridbot.live.resilience import BreakerOpenError, CircuitBreaker, RetryPolicy
from gridbot.live.venue import (
    AuthFailedError,
    Balance,
    Candle,
    InsufficientFundsError,
    MarketRules,
    OrderState,
    OutcomeUnknownError,
    RateLimitedError,
    RejectedError,
    Side,
    Status,
    Trade,
    UnavailableError,
    VenueError,
)
from gridbot.ops.metrics import Metrics

T = TypeVar("T")
# ccxt's unified order statuses; anything else (a new one) reads as still open, to be asked again
_STATUSES: dict[str, Status] = {s: s for s in get_args(Status)}
Kind = Literal["not_found", "insufficient_funds", "auth", "rate_limited", "nonce", "transient", "rejected"]

_ID = re.compile(r"[a-z][a-z0-9]*")
# live trading (keys): exchanges whose API this adapter speaks, trades paged by id (`fromId`, inclusive)
_LIVE_EXCHANGES = frozenset({"binance", "binanceus"})
# ccxt's Binance options that keep load_markets on /api/v3 (no sapi: currencies, margin pairs, other markets)
_EXCHANGE_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {"fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": ["spot"]}},
    "binanceus": {"fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": ["spot"]}},
}
_DAY_MS = 86_400_000
_CLIENT_IDS_KEPT = 4096  # exchange order id -> client id, to name ours in trades (Binance's omit it)
# Binance -2015 "Invalid API-key, IP, or permissions for action": ccxt raises DDoSProtection for it once the
# client has signed in before (a key revoked mid-run), AuthenticationError on a fresh client
_KEY_REFUSED = re.compile(r'"code"\s*:\s*-2015\b')


def _without_charset_guessing() -> None:
    """requests guesses the charset of a body that names none with charset_normalizer (or chardet): ~3.5 MB
    of codecs in a long-running bot that reads JSON, which requests decodes as UTF-8 without a guess (and
    without a guesser, it takes UTF-8 for the rest). Left out when requests is not loaded yet, and requests'
    warning about the missing guesser silenced."""
    if "requests" in sys.modules:
        return
    modules = cast(dict[str, ModuleType | None], sys.modules)
    for name in ("chardet", "charset_normalizer"):
        modules.setdefault(name, None)  # None in sys.modules: `import name` raises ImportError
    warnings.filterwarnings("ignore", message="Unable to find acceptable character detection dependency")


def _ccxt_package() -> ModuleType:
    """The `ccxt` package without running its `__init__` (which imports every exchange). Submodules import as
    usual; the first attribute the bare package lacks (`ccxt.kraken`, `ccxt.exchanges`) runs the real
    `__init__` into it, so other code that does `import ccxt` in this process still sees the whole library."""
    loaded = sys.modules.get("ccxt")
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec("ccxt")
    if spec is None or spec.loader is None:
        raise ImportError("ccxt is not installed")
    pkg = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def whole_library(name: str) -> object:
        if pkg.__dict__.get("_gridbot_whole"):
            raise AttributeError(f"module 'ccxt' has no attribute {name!r}")
        pkg.__dict__["_gridbot_whole"] = True
        loader.exec_module(pkg)
        return getattr(pkg, name)

    pkg.__dict__["__getattr__"] = whole_library
    _without_charset_guessing()
    sys.modules["ccxt"] = pkg
    return pkg


def _ccxt_module(name: str) -> ModuleType:
    _ccxt_package()
    return importlib.import_module(name)


def exchange_class(exchange_id: str) -> type:
    """The ccxt class for `exchange_id`, importing `ccxt.<id>` and nothing else of ccxt's exchanges."""
    pkg = _ccxt_package()
    if not _ID.fullmatch(exchange_id or ""):
        raise ValueError(
            f"exchange.id: {exchange_id!r} is not a ccxt exchange id (lower-case letters, digits)"
        )
    try:
        module = importlib.import_module(f"ccxt.{exchange_id}")
    except ModuleNotFoundError as e:
        if e.name != f"ccxt.{exchange_id}":
            raise
        have = sorted(p.stem for p in Path(pkg.__path__[0]).glob("*.py") if p.stem != "__init__")
        listed = ", ".join(have) if len(have) <= 10 else f"{len(have)} exchanges"
        raise ValueError(
            f"exchange.id: unknown exchange {exchange_id!r} (this installation's ccxt has {listed})"
        ) from None
    exchange = importlib.import_module("ccxt.base.exchange").Exchange
    cls = getattr(module, exchange_id, None)
    if not (isinstance(cls, type) and issubclass(cls, exchange)):
        raise ValueError(f"exchange.id: unknown exchange {exchange_id!r} (not in ccxt)")
    setattr(pkg, exchange_id, cls)  # as the real package has it: ccxt.binance is the class
    return cls


def rebase_urls(api: object, base: str) -> object:
    """ccxt's `urls['api']` with every URL's scheme and host replaced by `base` (which may carry a path
    prefix), keeping each URL's own path: Binance's `https://api.binance.com/api/v3` becomes `<base>/api/v3`,
    its sapi `<base>/sapi/v1`. Nested dicts are rebased throughout."""
    if isinstance(api, dict):
        return {k: rebase_urls(v, base) for k, v in api.items()}
    if isinstance(api, str):
        return base.rstrip("/") + urlsplit(api).path
    return api


def parse_retry_after(value: str | None, now_s: float) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    v = value.strip()
    try:
        return max(0.0, float(v))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(v).timestamp() - now_s)
    except (TypeError, ValueError, IndexError):
        return None


def _classify(e: BaseException) -> Kind:
    """Every ccxt error class the adapter can see, mapped to what the loop does about it (first match wins:
    subclasses come before their bases)."""
    x = _ccxt_module("ccxt.base.errors")
    if isinstance(e, x.DDoSProtection) and _KEY_REFUSED.search(str(e)):
        return "auth"  # the key, its IP whitelist or its permissions: the operator's to fix, not a rate limit
    table: tuple[tuple[type[BaseException], Kind], ...] = (
        (x.OrderNotFound, "not_found"),
        (x.InsufficientFunds, "insufficient_funds"),
        (x.AuthenticationError, "auth"),  # PermissionDenied, AccountSuspended, AccountNotEnabled
        (x.DDoSProtection, "rate_limited"),  # Binance 418/429
        (x.RateLimitExceeded, "rate_limited"),
        (x.InvalidNonce, "nonce"),  # Binance -1021: timestamp outside recvWindow, refused unread
        (x.RequestTimeout, "transient"),
        (x.ExchangeNotAvailable, "transient"),  # 5xx, OnMaintenance
        (x.NetworkError, "transient"),  # dropped connection, refused, reset
        (x.OperationFailed, "transient"),  # BadResponse, NullResponse, CancelPending
        (x.ExchangeError, "rejected"),  # InvalidOrder, BadRequest (min notional), BadSymbol, ...
    )
    for cls, kind in table:
        if isinstance(e, cls):
            return kind
    return "transient"  # OSError below ccxt


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


class VenueClock(Protocol):
    """What the adapter reads of a clock (the `time` module in production)."""

    def time(self) -> float: ...
    def monotonic(self) -> float: ...
    def sleep(self, seconds: float, /) -> None: ...


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
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self._page_limit = page_limit
        self._breaker = CircuitBreaker(
            clock,
            failure_threshold=breaker_failures,
            cooldown_s=breaker_cooldown_s,
            on_change=self._breaker_changed,
        )
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
        if sandbox:
            if "test" not in self._ex.urls:
                raise ValueError(f"exchange.sandbox: ccxt has no sandbox URLs for {exchange_id}")
            self._ex.set_sandbox_mode(True)
        if api_url is not None:
            self._ex.urls["api"] = rebase_urls(self._ex.urls["api"], api_url)
        self._rules: MarketRules | None = None
        self._skew_ms = 0.0
        self._client_ids: OrderedDict[str, str] = OrderedDict()

    def __repr__(self) -> str:
        return f"CcxtVenue({self.exchange_id!r}, {self.symbol!r}, keyed={self.keyed})"

    # -- market data ---------------------------------------------------------------------------------------

    def load_market(self, symbol: str) -> MarketRules:
        if symbol != self.symbol:
            raise ValueError(f"load_market: this venue trades {self.symbol!r}, not {symbol!r}")
        self._resync_clock()
        markets = self._read("load_market", lambda: self._ex.load_markets(True))
        market = markets.get(symbol)
        if market is None:
            raise RejectedError(f"exchange.symbol: {symbol!r} is not listed on {self.exchange_id}")
        if not market.get("spot", True):
            raise RejectedError(f"exchange.symbol: {symbol!r} is not a spot market on {self.exchange_id}")
        if market.get("active") is False:
            raise RejectedError(f"exchange.symbol: {symbol!r} is not trading on {self.exchange_id}")
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
        )
        return self._rules

    def _increment(self, market: dict[str, Any], which: str) -> Decimal:
        dtp = _ccxt_module("ccxt.base.decimal_to_precision")
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
        bal = self._read("balances", self._ex.fetch_balance)
        rates = (bal.get("info") or {}).get("commissionRates") or {}
        return rates.get("maker", maker), rates.get("taker", taker)

    def _resync_clock(self) -> None:
        self._read("clock", self._ex.load_time_difference)
        self._skew_ms = -float(self._ex.options["timeDifference"])
        if self._metrics is not None:
            self._metrics.clock_skew.set(self._skew_ms / 1000)

    def clock_skew_ms(self) -> float:
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
        rows = self._read(
            "candles", lambda: self._ex.fetch_ohlcv(self.symbol, timeframe, since_ms, limit + 1)
        )
        if not rows:
            return []
        rows = sorted(rows, key=lambda r: r[0])
        now_ms = int(rows[-1][0])
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
        order = self._write(
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
        order = self._write(
            "sell_at_market",
            lambda: self._ex.create_order(self.symbol, "market", "sell", _text(qty), None, params),
        )
        try:
            return self._order_state(order, client_id)
        except (VenueError, KeyError, TypeError, ValueError) as e:  # placed, but its answer is unreadable
            raise OutcomeUnknownError(f"sell_at_market: answer not understood ({e})") from e

    def cancel(self, client_id: str) -> OrderState | None:
        try:
            order = self._write(
                "cancel", lambda: self._ex.cancel_order(None, self.symbol, {"origClientOrderId": client_id})
            )
        except _NotFoundError:
            return None
        return self._order_state(order, client_id)

    def order(self, client_id: str) -> OrderState | None:
        try:
            order = self._read(
                "order", lambda: self._ex.fetch_order(None, self.symbol, {"origClientOrderId": client_id})
            )
        except _NotFoundError:
            return None
        return self._order_state(order, client_id)

    def open_orders(self) -> list[OrderState]:
        orders = self._read("open_orders", lambda: self._ex.fetch_open_orders(self.symbol))
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
            page = self._read(
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

    def _first_trade_id(self, since_ms: int) -> int | None:
        """Binance's myTrades with a startTime answers for 24 hours from it only: a quiet first day would read
        as no trades at all. So: the newest trade bounds the search, then day windows up to it, oldest first;
        the first trade found starts the `fromId` paging. None when nothing was traded since `since_ms`."""
        newest = self._read("trades", lambda: self._ex.fetch_my_trades(self.symbol, None, 1))
        if not newest or int(newest[-1]["timestamp"]) < since_ms:
            return None
        end = int(newest[-1]["timestamp"])
        start = since_ms
        while start <= end:
            until = min(start + _DAY_MS - 1, end)
            page = self._read(
                "trades",
                partial(self._ex.fetch_my_trades, self.symbol, start, 1, {"endTime": until}),
            )
            if page:
                return _trade_no(str(page[0]["id"]))
            start += _DAY_MS
        return _trade_no(str(newest[-1]["id"]))

    def balances(self) -> dict[str, Balance]:
        bal = self._read("balances", self._ex.fetch_balance)
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
        cid = o.get("clientOrderId") or client_id or ""
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

    # -- calls: metrics, retries, breaker ---------------------------------------------------------------

    def _breaker_changed(self, state: str) -> None:
        if self._metrics is not None:
            self._metrics.breaker_open.set(0 if state == "closed" else 1)
            if state == "open":
                self._metrics.breaker_openings.inc()

    def _attempt(self, method: str, fn: Callable[[], T]) -> T:
        """One request: breaker gate, timing, metrics. A ccxt (or socket) error comes out as _FailedError
        with its kind; anything else is a bug and propagates as is."""
        base_error = _ccxt_module("ccxt.base.errors").BaseError
        try:
            self._breaker.before_call()
        except BreakerOpenError as e:
            self._count(method, "breaker_open")
            raise _BreakerOpenError(e.remaining_s, e.rate_limited) from None
        t0 = self._clock.monotonic()
        try:
            result = fn()
        except (base_error, OSError) as e:
            self._observe(method, t0)
            kind = _classify(e)
            self._count(method, kind)
            if self._metrics is not None:
                self._metrics.api_errors.labels(error=type(e).__name__).inc()
            if kind == "rate_limited":
                self._breaker.rate_limited(self._retry_after())
            elif kind in ("not_found", "rejected", "insufficient_funds"):
                self._breaker.success()  # the exchange answered
            else:  # a probe that failed once is not the verdict: the read's retry budget is
                self._breaker.abandon()
            raise _FailedError(kind, e) from e
        except BaseException:
            self._breaker.abandon()
            raise
        self._observe(method, t0)
        self._count(method, "ok")
        self._breaker.success()
        return result

    def _retry_after(self) -> float:
        headers = self._ex.last_response_headers or {}
        got = parse_retry_after(headers.get("Retry-After"), self._clock.time())
        return got if got is not None else self._retry.backoff.cap_s

    def _read(self, method: str, fn: Callable[[], T]) -> T:
        start = self._clock.monotonic()
        attempt = 0
        resynced = False
        while True:
            try:
                return self._attempt(method, fn)
            except _BreakerOpenError as b:
                elapsed = self._clock.monotonic() - start
                wait = b.remaining_s or self._retry.backoff.delay(0)  # 0: another caller's probe in flight
                if not self._retry.may_wait(wait, elapsed):
                    raise b.venue_error(method) from None
                self._clock.sleep(wait)
                continue
            except _FailedError as f:
                kind, e = f.kind, f.error
                elapsed = self._clock.monotonic() - start
                if kind == "rate_limited":
                    wait = self._breaker.remaining_s()
                    if not self._retry.may_wait(wait, elapsed):
                        raise RateLimitedError(
                            f"{method}: rate limited by {self.exchange_id}: {e}", wait
                        ) from e
                    self._clock.sleep(wait)
                    continue
                if kind == "nonce" and not resynced and method != "clock":
                    resynced = True
                    self._resync_clock()
                    continue
                if kind == "transient":
                    delay = self._retry.next_delay(attempt, elapsed)
                    if delay is None:
                        self._breaker.failure()
                        raise UnavailableError(
                            f"{method}: {self.exchange_id} unavailable after {attempt + 1} tries: {e}"
                        ) from e
                    attempt += 1
                    self._clock.sleep(delay)
                    continue
                raise self._final(method, kind, e) from e

    def _write(self, method: str, fn: Callable[[], T]) -> T:
        """Sent once. Only a refusal on the timestamp (InvalidNonce) is sent again, after a clock resync."""
        resynced = False
        while True:
            try:
                return self._attempt(method, fn)
            except _BreakerOpenError as b:
                raise b.venue_error(method) from None
            except _FailedError as f:
                kind, e = f.kind, f.error
                if kind == "nonce" and not resynced:
                    resynced = True
                    self._resync_clock()
                    continue
                if kind == "transient":
                    raise OutcomeUnknownError(
                        f"{method}: the answer was lost ({type(e).__name__}: {e})"
                    ) from e
                if kind == "rate_limited":
                    wait = self._breaker.remaining_s()
                    raise RateLimitedError(f"{method}: rate limited by {self.exchange_id}: {e}", wait) from e
                raise self._final(method, kind, e) from e

    def _final(self, method: str, kind: Kind, e: BaseException) -> Exception:
        msg = f"{method}: {type(e).__name__}: {e}"
        if kind == "not_found":
            return _NotFoundError(msg)
        if kind == "insufficient_funds":
            return InsufficientFundsError(msg)
        if kind == "auth":
            return AuthFailedError(msg)
        if kind == "nonce":
            return UnavailableError(f"{msg} (still after a clock resync)")
        return RejectedError(msg)

    def _count(self, method: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.api_requests.labels(method=method, outcome=outcome).inc()

    def _observe(self, method: str, t0: float) -> None:
        if self._metrics is not None:
            self._metrics.api_latency.labels(method=method).observe(self._clock.monotonic() - t0)


class _NotFoundError(VenueError):
    """OrderNotFound inside the adapter: `order` and `cancel` answer None; elsewhere it is a rejection."""


class _FailedError(Exception):
    def __init__(self, kind: Kind, error: BaseException) -> None:
        super().__init__(kind)
        self.kind = kind
        self.error = error


class _BreakerOpenError(Exception):
    def __init__(self, remaining_s: float, rate_limited: bool) -> None:
        super().__init__(f"circuit breaker open for another {remaining_s:.3f} s")
        self.remaining_s = remaining_s
        self.rate_limited = rate_limited

    def venue_error(self, method: str) -> VenueError:
        if self.rate_limited:
            return RateLimitedError(f"{method}: held back, rate limited ({self})", self.remaining_s)
        return UnavailableError(f"{method}: held back ({self})")


def _text(d: Decimal) -> str:
    """Plain decimal text, no exponent: Decimal('1E-5') is sent as 0.00001."""
    return format(d.normalize(), "f")


def _trade_no(trade_id: str) -> int:
    try:
        return int(trade_id)
    except ValueError:
        raise VenueError(f"trade id {trade_id!r} is not numeric") from None


def read_credentials(path: str | Path) -> tuple[str, str]:
    """(key, secret) from a file of `GRIDBOT_API_KEY=...` / `GRIDBOT_API_SECRET=...` lines (blank lines and
    `#` comments allowed). Errors name the file and the line or key, never a value."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(
            f"{p}: cannot read the credentials file ({e.strerror or type(e).__name__})"
        ) from None
    except UnicodeDecodeError:
        raise ValueError(f"{p}: the credentials file is not UTF-8 text") from None
    found: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, eq, value = line.partition("=")
        name = name.strip().removeprefix("export ").strip()
        if not eq:
            raise ValueError(f"{p}: line {n} is not NAME=value")
        if name in found:
            raise ValueError(f"{p}: {name} is set twice (line {n})")
        found[name] = value.strip()
    out = []
    for name in ("GRIDBOT_API_KEY", "GRIDBOT_API_SECRET"):
        if not found.get(name):
            raise ValueError(f"{p}: {name} is {'empty' if name in found else 'missing'}")
        out.append(found[name])
    return out[0], out[1]
