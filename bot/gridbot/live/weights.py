"""Request weight: what each call costs on Binance, what this bot spent in the last minute, and how long to
hold the next call back so that the bots behind one IP stay under their share of the IP's limit.

Binance counts request weight per IP over each minute (6,000 on spot) and answers 429, then, to an IP that
asks on inside the Retry-After, 418 with a ban (rest-api.md "LIMITS"). Every answer carries the IP's weight
used so far this minute (`X-MBX-USED-WEIGHT-1M`): the one figure all bots behind a home router see alike. Each
bot holds its own calls to `exchange.weight_share_pct` of the limit divided by `exchange.bots_per_ip` over a
sliding minute, and holds back, until the minute turns, once the IP's total passes the share: a neighbour's
burst slows every bot before the exchange does.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

# Binance spot's documented weight of each call the adapter makes (its method name in the metrics): klines
# 2; myTrades 20 (5 with orderId); openOrders of one symbol 6; an order's lookup 4; account 20; exchangeInfo
# 20; time 1; an order sent or cancelled 1 (those count against the order limits too).
WEIGHTS = {
    "candles": 2,
    "asset_price": 2,
    "trades": 20,
    "trades_of": 5,
    "open_orders": 6,
    "order": 4,
    "balances": 20,
    "load_market": 20,
    "clock": 1,
    "create_limit": 1,
    "sell_at_market": 1,
    "cancel": 1,
}
WINDOW_S = 60.0


def weight_of(method: str) -> int:
    return WEIGHTS.get(method, 1)


@dataclass
class WeightMeter:
    """This bot's calls of the last minute against its budget, and the IP's use as the exchange reports it.
    `budget_1m` None: no pacing (an exchange without request weights)."""

    budget_1m: float | None
    ip_cap_1m: float | None
    calls: deque[tuple[float, int]] = field(default_factory=deque)  # (time s, weight)
    spent_1m: int = 0
    ip_used: int | None = None  # the IP's weight this minute, as of the last answer
    ip_minute: int = -1  # the minute (epoch // 60) that figure is of

    def _expire(self, now: float) -> None:
        # `t + WINDOW_S <= now`, the very sum `hold` waits for: a call expires exactly when its wait ends
        while self.calls and self.calls[0][0] + WINDOW_S <= now:
            self.spent_1m -= self.calls.popleft()[1]

    def spent(self, method: str, now: float) -> None:
        self._expire(now)
        w = weight_of(method)
        self.calls.append((now, w))
        self.spent_1m += w

    def used(self, now: float) -> int:
        """This bot's weight over the last minute."""
        self._expire(now)
        return self.spent_1m

    def reported(self, used: int, now: float) -> None:
        self.ip_used, self.ip_minute = used, int(now // WINDOW_S)

    def hold(self, method: str, now: float) -> float:
        """Seconds to wait before sending `method`: until this bot's sliding minute has room for it, or,
        while the IP is past its share this minute, until the minute turns. (The adapter waits on the
        heartbeat's clock, which beats meanwhile.)"""
        wait = 0.0
        if self.budget_1m is not None:
            self._expire(now)
            need = self.spent_1m + weight_of(method) - self.budget_1m
            for t, w in self.calls:
                if need <= 0:
                    break
                need -= w
                wait = t + WINDOW_S - now
        if (
            self.ip_cap_1m is not None
            and self.ip_used is not None
            and self.ip_minute == int(now // WINDOW_S)
            and self.ip_used >= self.ip_cap_1m
        ):
            wait = max(wait, (self.ip_minute + 1) * WINDOW_S - now)
        return max(wait, 0.0)
