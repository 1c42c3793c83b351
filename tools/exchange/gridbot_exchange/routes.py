"""The Binance spot REST v3 endpoints ccxt's `binance` class calls: public market data and signed trading."""

from __future__ import annotations

import itertools
import json
import secrets
import string
from collections.abc import Callable, Iterable
from decimal import ROUND_DOWN
from typing import TypeVar

from gridbot_exchange import errors, formats, marketdata
from gridbot_exchange.accounts import Account
from gridbot_exchange.auth import authenticate
from gridbot_exchange.data import TRADING, Market
from gridbot_exchange.errors import ApiError
from gridbot_exchange.matching import Order, Trade
from gridbot_exchange.params import client_id, decimal, integer, limit, required
from gridbot_exchange.venue import FEE_ASSET_STEP, FEE_ASSET_TICK, Venue

Json = object
T = TypeVar("T")
Params = dict[str, str]
ID_CHARS = string.ascii_letters + string.digits


def _symbol(v: Venue, params: Params, needed: bool = True) -> str | None:
    sym = params.get("symbol")
    if sym is None and not needed:
        return None
    if not sym:
        raise errors.bad_param("symbol")
    if sym != v.market.symbol:
        raise errors.BAD_SYMBOL
    return sym


def ping(_v: Venue, _p: Params) -> Json:
    return {}


def server_time(v: Venue, _p: Params) -> Json:
    return {"serverTime": v.server_ms()}


def exchange_info(v: Venue, p: Params) -> Json:
    if "symbols" in p:
        if p["symbols"].strip('[]"') != v.market.symbol:
            raise errors.BAD_SYMBOL
    else:
        _symbol(v, p, needed=False)
    fee_symbols = []
    if v.fee_asset and v.fee_symbol and "symbol" not in p and "symbols" not in p:
        # listed so ccxt can fetch_ticker it; not tradable here (status BREAK: orders get "Market is closed.")
        fa = Market(v.fee_asset.asset, v.market.quote, FEE_ASSET_TICK, FEE_ASSET_STEP, FEE_ASSET_STEP,
                    v.market.min_notional, status="BREAK")  # fmt: skip
        fee_symbols.append(formats.symbol_info(fa))
    return {
        "timezone": "UTC",
        "serverTime": v.server_ms(),
        "rateLimits": v.limits.config.rate_limits(),
        "exchangeFilters": [],
        "symbols": [formats.symbol_info(v.market), *fee_symbols],
    }


def _path(v: Venue, p: Params) -> marketdata.Path:
    sym = required(p, "symbol")
    if sym not in v.paths:
        raise errors.BAD_SYMBOL
    return v.paths[sym]


def _paths(v: Venue, p: Params) -> list[marketdata.Path] | None:
    """`symbol=` (one path), `symbols=["A","B"]` (a list) or neither (every path): None means one."""
    if "symbol" in p:
        return None
    if "symbols" not in p:
        return list(v.paths.values())
    try:
        names = json.loads(p["symbols"])
    except json.JSONDecodeError:
        raise errors.illegal("symbols") from None
    if not isinstance(names, list) or not names or any(n not in v.paths for n in names):
        raise errors.BAD_SYMBOL
    return [v.paths[n] for n in names]


def _each(v: Venue, p: Params, row: Callable[[marketdata.Path, int], dict[str, object]]) -> Json:
    """A ticker for `symbol` (an object) or for `symbols`/every symbol (a list), at the market clock."""
    forming = v.engine.forming_index(v.market_ms())
    many = _paths(v, p)
    if many is None:
        return row(_path(v, p), forming)
    return [row(x, forming) for x in many]


def _fills(v: Venue, path: marketdata.Path) -> Iterable[Trade]:
    return v.engine.trades if path.symbol == v.market.symbol else ()


def klines(v: Venue, p: Params) -> Json:
    path = _path(v, p)
    name = required(p, "interval")
    n = limit(p, 500, 1000)
    start, end = integer(p, "startTime"), integer(p, "endTime")
    forming = v.engine.forming_index(v.market_ms())
    return marketdata.klines(path.series, name, start, end, n, forming)


def ticker_price(v: Venue, p: Params) -> Json:
    return _each(v, p, lambda x, f: {"symbol": x.symbol, "price": formats.s8(x.last_price(f))})


def ticker_24hr(v: Venue, p: Params) -> Json:
    now = v.market_ms()
    return _each(v, p, lambda x, f: marketdata.ticker_24hr(x, _fills(v, x), f, now))


def book_ticker(v: Venue, p: Params) -> Json:
    return _each(v, p, lambda x, f: marketdata.book_ticker(x, x.last_price(f), f))


def depth(v: Venue, p: Params) -> Json:
    path = _path(v, p)
    n = integer(p, "limit")
    if n is not None and n < 1:
        raise ApiError(400, -1130, "Invalid data sent for a parameter: 'limit' must be at least 1.")
    forming = v.engine.forming_index(v.market_ms())
    bids, asks = marketdata.book(path, path.last_price(forming), forming, min(n or 100, marketdata.BOOK_MAX))
    return {"lastUpdateId": forming + v.engine.next_trade_id, "bids": bids, "asks": asks}


def trades(v: Venue, p: Params) -> Json:
    path = _path(v, p)
    n = limit(p, 500, 1000)
    forming = v.engine.forming_index(v.market_ms())
    newest = list(itertools.islice(marketdata.tape_backward(path, _fills(v, path), forming), n))
    return [marketdata.trade_row(x) for x in reversed(newest)]


def agg_trades(v: Venue, p: Params) -> Json:
    path = _path(v, p)
    n = limit(p, 500, 1000)
    from_id, start, end = integer(p, "fromId"), integer(p, "startTime"), integer(p, "endTime")
    forming = v.engine.forming_index(v.market_ms())
    fills = _fills(v, path)
    if from_id is None and start is None and end is None:
        rows = list(itertools.islice(marketdata.tape_backward(path, fills, forming), n))[::-1]
    elif from_id is None and start is None:
        assert end is not None
        older = (x for x in marketdata.tape_backward(path, fills, forming) if x.time <= end)
        rows = list(itertools.islice(older, n))[::-1]
    else:
        low = from_id if from_id is not None else marketdata.first_id_at(path, start or 0)
        tape = marketdata.tape_forward(path, fills, forming, low)
        tape = (x for x in tape if start is None or x.time >= start)
        rows = list(itertools.islice(itertools.takewhile(lambda x: end is None or x.time <= end, tape), n))
    return [marketdata.agg_row(x) for x in rows]


def account(v: Venue, _p: Params, a: Account) -> Json:
    maker, taker = formats.s8(a.maker_fee), formats.s8(a.taker_fee)
    return {
        "makerCommission": int(a.maker_fee * 10_000),
        "takerCommission": int(a.taker_fee * 10_000),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {"maker": maker, "taker": taker, "buyer": "0.00000000", "seller": "0.00000000"},
        "canTrade": True,
        "canWithdraw": False,
        "canDeposit": False,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": v.market_ms(),
        "accountType": "SPOT",
        "balances": [
            {"asset": asset, "free": formats.s8(b.free), "locked": formats.s8(b.locked)}
            for asset, b in sorted(a.balances.items())
        ],
        "permissions": ["SPOT"],
        "uid": abs(hash(a.key)) % 10**9,
    }


def new_order(v: Venue, p: Params, a: Account) -> Json:
    if p.get("symbol") is not None and p.get("symbol") == v.fee_symbol:
        raise errors.MARKET_CLOSED
    sym = _symbol(v, p)
    side = required(p, "side")
    type_ = required(p, "type")
    if side not in ("BUY", "SELL"):
        raise ApiError(400, -1117, "Invalid side.")
    if type_ not in ("LIMIT", "LIMIT_MAKER", "MARKET"):
        raise ApiError(400, -1116, "Invalid orderType.")
    qty, price, quote_qty = decimal(p, "quantity"), decimal(p, "price"), decimal(p, "quoteOrderQty")
    cid = client_id(p, "newClientOrderId") or "x-" + secrets.token_hex(10)
    if type_ != "MARKET" and price is None:
        raise errors.bad_param("price")
    if type_ == "LIMIT" and p.get("timeInForce") not in ("GTC", None):
        raise ApiError(400, -1115, "Invalid timeInForce.")
    if v.market.status != TRADING:
        raise errors.MARKET_CLOSED  # refused before the unfilled order count, as Binance's API rejections
    v.limits.admit_order(a.key)
    now = v.market_ms()
    if qty is None and type_ == "MARKET" and quote_qty is not None:
        qty = (quote_qty / v.engine.last_price()).quantize(v.market.step, rounding=ROUND_DOWN)
    if qty is None:
        raise errors.bad_param("quantity")
    order, fills = v.engine.place(a, side, type_, qty, price, cid, now)
    v.response_headers = v.limits.placed(a.key, filled_at_once=bool(fills))
    lag = v.faults.invisible("POST", "/api/v3/order")
    if lag is not None:
        v.hide(order, *lag)
    kind = p.get("newOrderRespType", "FULL")
    body = formats.order_ack(order, sym or "", fills)
    if kind == "ACK":
        return {k: body[k] for k in ("symbol", "orderId", "orderListId", "clientOrderId", "transactTime")}
    if kind == "RESULT":
        del body["fills"]
    return body


def _lookup(v: Venue, p: Params, a: Account, cancel: bool = False) -> Order:
    _symbol(v, p)
    oid, cid = integer(p, "orderId"), client_id(p, "origClientOrderId")
    if oid is None and cid is None:
        raise ApiError(
            400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )
    v.market_ms()
    o = v.engine.find(a.key, oid, cid)
    if o is None or not v.visible(o):
        raise errors.unknown_cancel() if cancel else errors.unknown_order()
    return o


def get_order(v: Venue, p: Params, a: Account) -> Json:
    return formats.order(_lookup(v, p, a), v.market.symbol)


def generated_id() -> str:
    """A client id the way Binance makes one when none is sent: 22 letters and digits."""
    return "".join(secrets.choice(ID_CHARS) for _ in range(22))


def cancel_order(v: Venue, p: Params, a: Account) -> Json:
    cancel_id = client_id(p, "newClientOrderId") or generated_id()
    o = _lookup(v, p, a, cancel=True)
    v.engine.cancel(o, v.market_ms())
    return formats.cancel(o, v.market.symbol, cancel_id)


def _visible(v: Venue, a: Account, open_only: bool = False) -> list[Order]:
    pool = v.engine.open if open_only else v.engine.orders
    return [o for o in pool.values() if o.key == a.key and v.visible(o)]


def open_orders(v: Venue, p: Params, a: Account) -> Json:
    _symbol(v, p, needed=False)
    v.market_ms()
    return [formats.order(o, v.market.symbol) for o in _visible(v, a, open_only=True)]


def cancel_open_orders(v: Venue, p: Params, a: Account) -> Json:
    _symbol(v, p)
    now = v.market_ms()
    out = []
    for o in _visible(v, a, open_only=True):
        v.engine.cancel(o, now)
        out.append(formats.cancel(o, v.market.symbol, generated_id()))
    return out


def _window(items: list[T], p: Params, time_of: Callable[[T], int]) -> list[T]:
    start, end = integer(p, "startTime"), integer(p, "endTime")
    if start is not None:
        items = [x for x in items if time_of(x) >= start]
    if end is not None:
        items = [x for x in items if time_of(x) <= end]
    return items


def all_orders(v: Venue, p: Params, a: Account) -> Json:
    _symbol(v, p)
    n, from_id = limit(p, 500, 1000), integer(p, "orderId")
    v.market_ms()
    items = [o for o in _visible(v, a) if from_id is None or o.id >= from_id]
    items = _window(items, p, lambda o: o.time_ms)
    items = items[:n] if from_id is not None or "startTime" in p else items[-n:]
    return [formats.order(o, v.market.symbol) for o in items]


def my_trades(v: Venue, p: Params, a: Account) -> Json:
    _symbol(v, p)
    n, from_id, oid = limit(p, 500, 1000), integer(p, "fromId"), integer(p, "orderId")
    v.market_ms()
    hidden = v.hidden_ids(a.key)
    items = [
        t
        for t in v.engine.trades
        if t.key == a.key and (from_id is None or t.id >= from_id) and t.order_id not in hidden
    ]
    if oid is not None:
        items = [t for t in items if t.order_id == oid]
    items = _window(items, p, lambda t: t.time_ms)
    items = items[:n] if from_id is not None or "startTime" in p else items[-n:]
    return [formats.trade(t, v.market.symbol) for t in items]


PUBLIC: dict[tuple[str, str], Callable[[Venue, Params], Json]] = {
    ("GET", "ping"): ping,
    ("GET", "time"): server_time,
    ("GET", "exchangeInfo"): exchange_info,
    ("GET", "klines"): klines,
    ("GET", "ticker/price"): ticker_price,
    ("GET", "ticker/24hr"): ticker_24hr,
    ("GET", "ticker/bookTicker"): book_ticker,
    ("GET", "depth"): depth,
    ("GET", "trades"): trades,
    ("GET", "aggTrades"): agg_trades,
}
PRIVATE: dict[tuple[str, str], Callable[[Venue, Params, Account], Json]] = {
    ("GET", "account"): account,
    ("POST", "order"): new_order,
    ("GET", "order"): get_order,
    ("DELETE", "order"): cancel_order,
    ("GET", "openOrders"): open_orders,
    ("DELETE", "openOrders"): cancel_open_orders,
    ("GET", "allOrders"): all_orders,
    ("GET", "myTrades"): my_trades,
}


def dispatch(
    v: Venue, method: str, route: str, params: Params, api_key: str | None, query: str, body: str
) -> tuple[Json, dict[str, str]]:
    """Answer one /api/v3 request under the venue lock: the body and any headers of its own (an order's
    counts); raises ApiError with Binance's code."""
    if (method, route) in PUBLIC:
        with v.lock:
            return PUBLIC[method, route](v, params), {}
    if (method, route) in PRIVATE:
        with v.lock:
            v.response_headers = {}
            acct = authenticate(v.ledger.keys, api_key, query, body, params, v.server_ms())
            return PRIVATE[method, route](v, params, acct), v.response_headers
    raise errors.NOT_FOUND
