"""Binance's rate limits on the wall clock (the stepped market clock does not touch them), per
rest-api.md "LIMITS" and faqs/order_count_decrement.md:

- REQUEST_WEIGHT per IP per minute and RAW_REQUESTS per IP per 5 minutes, fixed windows on epoch multiples;
  every answer carries `X-MBX-USED-WEIGHT-1M`. The weight window can be set shorter (`window=S`: a test meets
  the limit and its Retry-After in seconds, not a minute); exchangeInfo and the header then name that interval
  as Binance names its intervals (`REQUEST_WEIGHT` SECOND 5, `X-MBX-USED-WEIGHT-5S`). Past a limit: 429,
  -1003, `Retry-After` (seconds to the window's end). An IP that sends again before that Retry-After has
  passed is banned: 418 with the ban's remaining seconds, the ban doubling for each repeat from `ban_s` up to
  3 days ("from 2 minutes to 3 days").
- ORDERS (unfilled order count) per account per 10 s and per UTC day: each accepted order adds one, an order's
  first fill takes one off (never below 0); past a limit: 429, -1015. Successful order answers carry
  `X-MBX-ORDER-COUNT-10S` and `X-MBX-ORDER-COUNT-1D`.
- Weights as documented; since 2026-04-02 a successful POST/DELETE `order` and DELETE `openOrders` weigh 0
  (a failed one its documented 1).

`enforce=False` keeps counting (the headers, the admin counts) but refuses nothing."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from gridbot_exchange.errors import ApiError

DAY_S = 86_400
MAX_BAN_S = 3 * DAY_S
MAX_IPS = 1024  # per-IP state kept; stale entries go first
ZERO_ON_SUCCESS = {("POST", "order"), ("DELETE", "order"), ("DELETE", "openOrders")}


@dataclass
class Config:
    weight_1m: int = 6000  # 0: that limit off; per weight_window_s despite the name (Binance's minute)
    weight_window_s: int = 60
    orders_10s: int = 100
    orders_1d: int = 200_000
    raw_5m: int = 300_000
    ban_s: float = 120.0
    enforce: bool = True

    def rate_limits(self) -> list[dict[str, object]]:
        """exchangeInfo's `rateLimits` (enums.md, "Rate limiters")."""
        rows = [("REQUEST_WEIGHT", *self.weight_interval(), self.weight_1m),
                ("ORDERS", "SECOND", 10, self.orders_10s), ("ORDERS", "DAY", 1, self.orders_1d),
                ("RAW_REQUESTS", "MINUTE", 5, self.raw_5m)]  # fmt: skip
        return [
            {"rateLimitType": t, "interval": i, "intervalNum": n, "limit": lim}
            for t, i, n, lim in rows
            if lim
        ]

    def weight_interval(self) -> tuple[str, int]:
        """The weight window as Binance writes an interval (enums.md: SECOND, MINUTE, HOUR, DAY): ("MINUTE",
        1) for its own 60 s."""
        w = self.weight_window_s
        for name, size in (("DAY", DAY_S), ("HOUR", 3600), ("MINUTE", 60)):
            if w % size == 0:
                return name, w // size
        return "SECOND", w

    def weight_header(self) -> str:
        """X-MBX-USED-WEIGHT-(intervalNum)(intervalLetter), as Binance names it for each weight interval."""
        interval, n = self.weight_interval()
        return f"X-MBX-USED-WEIGHT-{n}{interval[0]}"


class ConfigError(ValueError):
    """A rate-limit setting that cannot be applied; the message names it."""


NAMES = {
    "weight": "weight_1m",
    "orders10s": "orders_10s",
    "orders1d": "orders_1d",
    "raw5m": "raw_5m",
    "window": "weight_window_s",
}


def parse_flag(text: str) -> Config:
    """`--rate-limits on|off|weight=N,orders10s=N,orders1d=N,raw5m=N,ban=SECONDS,window=SECONDS` (0 turns one
    limit off; window: the request-weight window, 1 to 86400 s)."""
    if text in ("on", "off"):
        return Config(enforce=text == "on")
    cfg = Config()
    for item in text.split(","):
        name, eq, value = item.partition("=")
        if not eq or (name not in NAMES and name != "ban"):
            raise ConfigError(
                f"{item!r}: want on, off or name=value with name in {', '.join([*NAMES, 'ban'])}"
            )
        try:
            number = float(value) if name == "ban" else int(value)
        except ValueError:
            raise ConfigError(f"{name}: not a number: {value!r}") from None
        if number < 0:
            raise ConfigError(f"{name}: must be >= 0, got {value!r}")
        if name == "window" and not 1 <= number <= DAY_S:
            raise ConfigError(f"window: the weight window is 1 to {DAY_S} seconds, got {value!r}")
        setattr(cfg, "ban_s" if name == "ban" else NAMES[name], number)
    return cfg


def weight(method: str, route: str, params: dict[str, str]) -> int:
    """The documented request weight of one call (rest-api.md, each endpoint's "Weight")."""
    one = "symbol" in params
    if route == "depth":
        n = int(params["limit"]) if params.get("limit", "").isdigit() else 100
        return 5 if n <= 100 else 25 if n <= 500 else 50 if n <= 1000 else 250
    if route == "ticker/24hr":
        if one:
            return 2
        count = params.get("symbols", "").count(",") + 1 if "symbols" in params else 101
        return 2 if count <= 20 else 40 if count <= 100 else 80
    if route in ("ticker/price", "ticker/bookTicker"):
        return 2 if one else 4
    if route == "openOrders" and method == "GET":
        return 6 if one else 80
    if route == "myTrades":
        return 5 if "orderId" in params else 20
    if route == "order" and method == "GET":
        return 4
    return FIXED.get(route, 1)


FIXED = {"exchangeInfo": 20, "trades": 25, "historicalTrades": 25, "aggTrades": 4, "klines": 2, "account": 20,
         "allOrders": 20}  # fmt: skip


@dataclass
class IpState:
    weight_window: int = 0  # epoch window (a minute unless weight_window_s says otherwise)
    weight: int = 0
    raw_window: int = 0  # epoch 5-minute
    raw: int = 0
    told_until: float = 0.0  # a 429's Retry-After ends here: a request before it is a violation
    banned_until: float = 0.0
    bans: int = 0


@dataclass
class OrderState:
    window_10s: int = 0
    count_10s: int = 0
    day: int = 0
    count_1d: int = 0


@dataclass
class Counters:
    refused_429: int = 0
    refused_418: int = 0
    refused_orders: int = 0


@dataclass
class Limiter:
    config: Config = field(default_factory=Config)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._ips: dict[str, IpState] = {}
            self._accounts: dict[str, OrderState] = {}
            self.counters = Counters()

    # --- IP limits ---

    def _ip(self, ip: str, now: float) -> IpState:
        window = int(now // self.config.weight_window_s)
        st = self._ips.get(ip)
        if st is None:
            if len(self._ips) >= MAX_IPS:
                for k in [
                    k for k, s in self._ips.items() if s.weight_window < window and s.banned_until < now
                ]:
                    del self._ips[k]
            st = self._ips[ip] = IpState()
        five = int(now // 300)
        if st.weight_window != window:
            st.weight_window, st.weight = window, 0
        if st.raw_window != five:
            st.raw_window, st.raw = five, 0
        return st

    def admit(self, ip: str, w: int, now: float | None = None) -> dict[str, str]:
        """Count a request of weight w from ip; its headers, or the 429/418 ApiError Binance answers."""
        now = time.time() if now is None else now
        cfg = self.config
        with self._lock:
            st = self._ip(ip, now)
            if cfg.enforce and now < st.banned_until:
                raise self._banned(st, now)
            if cfg.enforce and now < st.told_until:
                st.bans += 1
                st.banned_until = now + min(cfg.ban_s * 2 ** (st.bans - 1), MAX_BAN_S)
                raise self._banned(st, now)
            st.weight += w
            st.raw += 1
            headers = {cfg.weight_header(): str(st.weight)}
            if not cfg.enforce:
                return headers
            if cfg.weight_1m and st.weight > cfg.weight_1m:
                interval, n = cfg.weight_interval()
                msg = f"Too much request weight used; current limit is {cfg.weight_1m} request weight per "
                msg += f"{n} {interval}. Please use WebSocket Streams for live updates to avoid polling the "
                msg += "API."
                raise self._told(st, now, (st.weight_window + 1) * cfg.weight_window_s, msg, headers)
            if cfg.raw_5m and st.raw > cfg.raw_5m:
                msg = f"Too many requests; current limit of IP({ip}) is {cfg.raw_5m} requests per 5 MINUTE."
                raise self._told(st, now, (st.raw_window + 1) * 300, msg, headers)
            return headers

    def refund(self, ip: str, w: int) -> dict[str, str]:
        """A successful order placement or cancel weighs 0: take back what admit counted."""
        with self._lock:
            st = self._ips.get(ip)
            if st is None:
                return {}
            st.weight = max(0, st.weight - w)
            return {self.config.weight_header(): str(st.weight)}

    def _told(self, st: IpState, now: float, ends: float, msg: str, headers: dict[str, str]) -> ApiError:
        st.told_until = ends
        self.counters.refused_429 += 1
        return ApiError(429, -1003, msg, {**headers, "Retry-After": str(max(1, math.ceil(ends - now)))})

    def _banned(self, st: IpState, now: float) -> ApiError:
        self.counters.refused_418 += 1
        until = datetime.fromtimestamp(st.banned_until, UTC).strftime("%Y-%m-%d %H:%M:%S")
        msg = f"Way too much request weight used; IP banned until {until}. "
        msg += "Please use WebSocket Streams for live updates to avoid bans."
        retry = str(max(1, math.ceil(st.banned_until - now)))
        return ApiError(418, -1003, msg, {"Retry-After": retry, self.config.weight_header(): str(st.weight)})

    # --- unfilled order count ---

    def _account(self, key: str, now: float) -> OrderState:
        st = self._accounts.setdefault(key, OrderState())
        window, day = int(now // 10), int(now // DAY_S)
        if st.window_10s != window:
            st.window_10s, st.count_10s = window, 0
        if st.day != day:
            st.day, st.count_1d = day, 0
        return st

    def admit_order(self, key: str, now: float | None = None) -> None:
        """Raise Binance's 429 -1015 if the account's unfilled order count is at a limit."""
        now = time.time() if now is None else now
        cfg = self.config
        with self._lock:
            st = self._account(key, now)
            if not cfg.enforce:
                return
            windows = ((cfg.orders_10s, st.count_10s, (st.window_10s + 1) * 10, "10 SECOND"),
                       (cfg.orders_1d, st.count_1d, (st.day + 1) * DAY_S, "1 DAY"))  # fmt: skip
            for limit, count, ends, per in windows:
                if limit and count >= limit:
                    self.counters.refused_orders += 1
                    retry = str(max(1, math.ceil(ends - now)))
                    msg = f"Too many new orders; current limit is {limit} orders per {per}."
                    raise ApiError(429, -1015, msg, {"Retry-After": retry})

    def placed(self, key: str, filled_at_once: bool) -> dict[str, str]:
        """An accepted order: +1 (and -1 at once if it traded on arrival); its answer's headers."""
        with self._lock:
            st = self._account(key, time.time())
            if not filled_at_once:
                st.count_10s += 1
                st.count_1d += 1
            return {"X-MBX-ORDER-COUNT-10S": str(st.count_10s), "X-MBX-ORDER-COUNT-1D": str(st.count_1d)}

    def first_fill(self, key: str) -> None:
        """A resting order's first fill takes one off the account's counts (faqs/order_count_decrement.md)."""
        with self._lock:
            st = self._account(key, time.time())
            st.count_10s = max(0, st.count_10s - 1)
            st.count_1d = max(0, st.count_1d - 1)

    def snapshot(self) -> dict[str, object]:
        """Config and the current windows' counts, for GET /admin/state and /admin/rate_limits."""
        now = time.time()
        with self._lock:
            ips = {}
            for ip in list(self._ips):
                st = self._ip(ip, now)
                ips[ip] = {"weight_1m": st.weight, "raw_5m": st.raw, "bans": st.bans,
                           "banned_for_s": round(max(0.0, st.banned_until - now), 3)}  # fmt: skip
            orders = {}
            for key in list(self._accounts):
                st2 = self._account(key, now)
                orders[key] = {"orders_10s": st2.count_10s, "orders_1d": st2.count_1d}
            return {"config": asdict(self.config), "ips": ips, "orders": orders, **asdict(self.counters)}
