"""The admin API (loopback, unauthenticated): judge a bot from the outside, reset, step the clock, faults."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from decimal import Decimal, InvalidOperation

from gridbot_exchange import formats
from gridbot_exchange.accounts import ApiKey
from gridbot_exchange.data import STATUSES
from gridbot_exchange.errors import ApiError
from gridbot_exchange.faults import FaultError, parse_rule
from gridbot_exchange.ratelimits import DAY_S
from gridbot_exchange.venue import USE_DEFAULT, Venue

Json = object


def _bad(msg: str) -> ApiError:
    return ApiError(400, -1102, msg)


def _balances(raw: object) -> dict[str, Decimal] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _bad("admin field 'balances': want {asset: amount}")
    try:
        return {str(k): Decimal(str(val)) for k, val in raw.items()}
    except InvalidOperation:
        raise _bad("admin field 'balances': amounts must be numbers") from None


def state(v: Venue, _q: dict[str, str], _body: dict[str, object]) -> Json:
    with v.lock:
        now = v.market_ms()
        e = v.engine
        return {
            "market_ms": now,
            "candle": e.forming_index(now),
            "candles": len(v.series),
            "last_price": formats.s8(e.last_price()),
            "orders_placed": e.placed_total,
            "orders_stored": len(e.orders),
            "trades_stored": len(e.trades),
            "trades_total": e.next_trade_id - 1,
            "duplicate_rejects": e.duplicate_rejects,
            "reused_client_ids": e.reused_client_ids,
            "accounts": sorted(v.ledger.accounts),
            "rate_limits": v.limits.snapshot(),
        }


def orders(v: Venue, q: dict[str, str], _body: dict[str, object]) -> Json:
    with v.lock:
        v.market_ms()
        out = []
        for o in v.engine.orders.values():
            if q.get("key") in (None, o.key):
                out.append({"key": o.key, "visible": v.visible(o), **formats.order(o, v.market.symbol)})
        return out


def trades(v: Venue, q: dict[str, str], _body: dict[str, object]) -> Json:
    with v.lock:
        v.market_ms()
        return [
            {"key": t.key, **formats.trade(t, v.market.symbol)}
            for t in v.engine.trades
            if q.get("key") in (None, t.key)
        ]


def duplicates(v: Venue, _q: dict[str, str], _body: dict[str, object]) -> Json:
    """Client order ids carried by more than one accepted order of an account (among stored orders), and
    the count of creates refused as duplicates of an open order."""
    with v.lock:
        seen = Counter((o.key, o.client_id) for o in v.engine.orders.values())
        dups = {f"{k}/{c}": n for (k, c), n in seen.items() if n > 1}
        return {
            "duplicate_client_ids": dups,
            "count": len(dups),
            "duplicate_rejects": v.engine.duplicate_rejects,
        }


def balances(v: Venue, _q: dict[str, str], _body: dict[str, object]) -> Json:
    with v.lock:
        v.market_ms()
        led = v.ledger
        return {
            "accounts": {k: a.snapshot() for k, a in led.accounts.items()},
            "house": {k: formats.s8(x) for k, x in sorted(led.house.items())},
            "fees": {k: formats.s8(x) for k, x in sorted(led.fees.items())},
        }


def add_account(v: Venue, _q: dict[str, str], body: dict[str, object]) -> Json:
    key, secret = body.get("key"), body.get("secret")
    if not isinstance(key, str) or not key or not isinstance(secret, str) or not secret:
        raise _bad("admin fields 'key' and 'secret': non-empty strings are required")
    fees = None
    if "maker_fee" in body or "taker_fee" in body:
        try:
            fees = (
                Decimal(str(body.get("maker_fee", v.fees[0]))),
                Decimal(str(body.get("taker_fee", v.fees[1]))),
            )
        except InvalidOperation:
            raise _bad("admin fields 'maker_fee'/'taker_fee': must be numbers") from None
    fee_asset = body.get("fee_asset", USE_DEFAULT)
    if fee_asset not in (USE_DEFAULT, None) and (v.fee_asset is None or fee_asset != v.fee_asset.asset):
        have = f"{v.fee_asset.asset!r} or null" if v.fee_asset else "null (the server has no --fee-asset)"
        raise _bad(f"admin field 'fee_asset': want {have}, got {fee_asset!r}")
    with v.lock:
        if key in v.ledger.keys:
            raise _bad(f"admin field 'key': key {key!r} exists")
        v.add_account(key, secret, _balances(body.get("balances")), fees, fee_asset)
    return {"key": key, "fee_asset": v.ledger.accounts[key].fee_asset}


def fee_asset_price(v: Venue, q: dict[str, str], _body: dict[str, object]) -> Json:
    """The fee asset's price in quote at a market time (default now): what a fee paid in it was valued at."""
    if v.fee_asset is None:
        raise _bad("no fee asset: start the server with --fee-asset")
    if v.fee_symbol is None:
        raise _bad(
            f"{v.fee_asset.asset} is {v.market.symbol}'s own asset: a fill's own price values its commission"
        )
    with v.lock:
        now = v.market_ms()
        raw = q.get("time", str(now))
        if not raw.isdigit():
            raise _bad(f"admin query 'time': want market ms, got {raw!r}")
        return {
            "asset": v.fee_asset.asset,
            "symbol": v.fee_symbol,
            "time": int(raw),
            "price": formats.s8(v.fee_asset_price(int(raw))),
            "discount": formats.s8(v.fee_asset.discount),
        }


def market(v: Venue, _q: dict[str, str], _body: dict[str, object]) -> Json:
    """The traded market's exchangeInfo entry: its status and filters in force."""
    with v.lock:
        return formats.symbol_info(v.market)


FILTER_FIELDS = ("tick_size", "step_size", "min_qty", "min_notional")


def _filter_value(name: str, raw: object) -> Decimal:
    """A positive number; tick and step sizes powers of ten (as Binance's are: prices and quantities are
    rounded to their exponent)."""
    try:
        d = Decimal(str(raw)) if isinstance(raw, int | float | str) and not isinstance(raw, bool) else None
    except InvalidOperation:
        d = None
    if d is None or not d.is_finite() or d <= 0:
        raise _bad(f"admin field {name!r}: want a positive number, got {raw!r}")
    if name in ("tick_size", "step_size"):
        d = d.normalize()
        if d.as_tuple().digits != (1,) or d > 1:
            raise _bad(f"admin field {name!r}: want a power of ten up to 1 (0.01, 0.1, 1), got {raw!r}")
    return d


def set_market(v: Venue, q: dict[str, str], body: dict[str, object]) -> Json:
    """Halt or resume the market (`status`) and change its filters mid-run: any of status, tick_size,
    step_size (also minQty unless min_qty is given, as --step), min_qty, min_notional."""
    unknown = sorted(set(body) - {"status", *FILTER_FIELDS})
    if unknown:
        raise _bad(f"admin field {unknown[0]!r} is unknown (status, {', '.join(FILTER_FIELDS)})")
    status = body.get("status", v.market.status)
    if status not in STATUSES:
        raise _bad(f"admin field 'status': want one of {', '.join(STATUSES)}, got {status!r}")
    new = {name: _filter_value(name, body[name]) for name in FILTER_FIELDS if name in body}
    with v.lock:
        m = v.market
        step = new.get("step_size", m.step)
        min_qty = new.get("min_qty", step if "step_size" in new else m.min_qty)
        tick, notional = new.get("tick_size", m.tick), new.get("min_notional", m.min_notional)
        v.set_market(
            replace(m, status=str(status), tick=tick, step=step, min_qty=min_qty, min_notional=notional)
        )
    return market(v, q, body)


def rate_limits(v: Venue, _q: dict[str, str], _body: dict[str, object]) -> Json:
    return v.limits.snapshot()


def set_rate_limits(v: Venue, _q: dict[str, str], body: dict[str, object]) -> Json:
    """Change limits at run time: any of weight_1m, orders_10s, orders_1d, raw_5m (0: off), ban_s,
    weight_window_s (1 to 86400), enforce."""
    cfg = v.limits.config
    changes: dict[str, object] = {}
    for name, value in body.items():
        if name == "enforce":
            if not isinstance(value, bool):
                raise _bad("admin field 'enforce': want true or false")
        elif name in ("weight_1m", "orders_10s", "orders_1d", "raw_5m", "ban_s"):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise _bad(f"admin field {name!r}: want a number >= 0")
            if name != "ban_s" and not isinstance(value, int):
                raise _bad(f"admin field {name!r}: want an integer")
        elif name == "weight_window_s":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= DAY_S:
                raise _bad(f"admin field {name!r}: want an integer from 1 to {DAY_S}")
        else:
            raise _bad(
                f"admin field {name!r} is unknown (weight_1m, orders_10s, orders_1d, raw_5m, ban_s, "
                "weight_window_s, enforce)"
            )
        changes[name] = value
    new = replace(cfg)
    for name, value in changes.items():
        setattr(new, name, value)
    v.limits.config = new
    return v.limits.snapshot()


def keys(v: Venue, _q: dict[str, str], _body: dict[str, object]) -> Json:
    """Every API key, the account it signs for and its use (never the secret)."""
    with v.lock:
        return {
            k: {"account": a.account.key, "requests": a.requests, "last_ms": a.last_ms}
            for k, a in sorted(v.ledger.keys.items())
        }


def add_key(v: Venue, _q: dict[str, str], body: dict[str, object]) -> Json:
    """A new API key for an existing account (the first half of a key rotation)."""
    account, key, secret = body.get("account"), body.get("key"), body.get("secret")
    if not (isinstance(account, str) and isinstance(key, str) and isinstance(secret, str)) or not (
        account and key and secret
    ):
        raise _bad("admin fields 'account', 'key' and 'secret': non-empty strings are required")
    with v.lock:
        if account not in v.ledger.accounts:
            raise _bad(f"admin field 'account': no account {account!r}")
        if key in v.ledger.keys:
            raise _bad(f"admin field 'key': key {key!r} exists")
        v.ledger.keys[key] = ApiKey(v.ledger.accounts[account], secret)
    return {"key": key, "account": account}


def revoke_key(v: Venue, q: dict[str, str], _body: dict[str, object]) -> Json:
    """Revoke an API key (the second half of a rotation): its requests get -2015 from now on."""
    key = q.get("key", "")
    with v.lock:
        if v.ledger.keys.pop(key, None) is None:
            raise _bad(f"admin query 'key': no key {key!r}")
    return {"revoked": key}


def reset(v: Venue, q: dict[str, str], body: dict[str, object]) -> Json:
    v.reset()
    v.faults.clear()
    return state(v, q, body)


def step(v: Venue, q: dict[str, str], body: dict[str, object]) -> Json:
    candles, ms = body.get("candles", 0), body.get("ms", 0)
    if not isinstance(candles, int) or not isinstance(ms, int) or candles < 0 or ms < 0:
        raise _bad("admin fields 'candles'/'ms': non-negative integers")
    v.step(candles * v.series.interval_ms + ms)
    return state(v, q, body)


def add_fault(v: Venue, _q: dict[str, str], body: dict[str, object]) -> Json:
    """One rule, or `{"rules": [...]}`: several that take effect at once (a create's answer dropped and the
    same order hidden), all parsed before any is added."""
    specs = body.get("rules", [body])
    if not isinstance(specs, list) or not specs or not all(isinstance(s, dict) for s in specs):
        raise _bad("admin field 'rules': a non-empty list of fault objects")
    try:
        rules = [parse_rule(s) for s in specs]
    except FaultError as e:
        raise _bad(str(e)) from None
    added = [r.describe() for r in v.faults.add(*rules)]
    return added if "rules" in body else added[0]


def list_faults(v: Venue, _q: dict[str, str], _body: dict[str, object]) -> Json:
    return v.faults.list()


def clear_faults(v: Venue, _q: dict[str, str], _body: dict[str, object]) -> Json:
    v.faults.clear()
    return []


ROUTES = {
    ("GET", "state"): state,
    ("GET", "orders"): orders,
    ("GET", "trades"): trades,
    ("GET", "duplicates"): duplicates,
    ("GET", "balances"): balances,
    ("POST", "accounts"): add_account,
    ("GET", "keys"): keys,
    ("GET", "rate_limits"): rate_limits,
    ("POST", "rate_limits"): set_rate_limits,
    ("GET", "fee_asset_price"): fee_asset_price,
    ("GET", "market"): market,
    ("POST", "market"): set_market,
    ("POST", "keys"): add_key,
    ("DELETE", "keys"): revoke_key,
    ("POST", "reset"): reset,
    ("POST", "step"): step,
    ("GET", "faults"): list_faults,
    ("POST", "faults"): add_fault,
    ("DELETE", "faults"): clear_faults,
}
