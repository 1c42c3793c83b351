"""The bot's Prometheus metrics: one registry, every name defined here (docs/operations.md lists them).

The loop and the exchange adapter update these objects; `/metrics` serves the registry. A registry of our
own (not the global one) so tests can start several bots in one process without colliding names.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    from gridbot.core.engine import AnyEngine


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.equity = Gauge("gridbot_equity_quote", "Equity in quote currency at the last price", registry=r)
        # BotDrawdown judges equity / start equity: a return that a new budget (a fresh store started with
        # less or more) leaves where it was, where the equity alone would step down like a crash
        self.start_equity = Gauge(
            "gridbot_start_equity_quote", "The quote the bot's books started with (its capital)", registry=r
        )
        self.realized_pnl = Gauge("gridbot_realized_pnl_quote", "Realized PnL, fees included", registry=r)
        self.fees = Gauge("gridbot_fees_quote", "Fees paid, valued in quote currency", registry=r)
        self.open_orders = Gauge(
            "gridbot_open_orders", "Orders resting on the exchange", ["side"], registry=r
        )
        self.fills = Counter("gridbot_fills", "Fills recorded", ["side"], registry=r)
        self.round_trips = Counter(
            "gridbot_round_trips", "Round trips closed (a sell and its lots)", registry=r
        )
        self.api_requests = Counter(
            "gridbot_api_requests",
            "Exchange API calls by method and outcome",
            ["method", "outcome"],
            registry=r,
        )
        self.api_errors = Counter(
            "gridbot_api_errors", "Exchange API errors by ccxt error class", ["error"], registry=r
        )
        self.api_latency = Histogram(
            "gridbot_api_request_seconds",
            "Exchange API request latency",
            ["method"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        # the weight a minute a bot spends is rate(gridbot_request_weight_total[1m]) * 60 (live/weights.py)
        self.request_weight = Counter(
            "gridbot_request_weight", "Exchange request weight spent, by method", ["method"], registry=r
        )
        self.ip_weight = Gauge(
            "gridbot_ip_request_weight_1m",
            "The IP's request weight used this minute, as the exchange's last answer reported it",
            registry=r,
        )
        self.market_trading = Gauge(
            "gridbot_market_trading",
            "0 while the exchange has the market halted (new orders wait)",
            registry=r,
        )
        self.market_trading.set(1)
        self.exit_retries = Counter(
            "gridbot_exit_sale_retries", "Exit sales the exchange refused, tried again", registry=r
        )
        self.breaker_open = Gauge(
            "gridbot_breaker_open", "1 while the circuit breaker holds calls back", registry=r
        )
        # Which exchange: the alerts tell an outage of one exchange (many bots' breakers at once) from a bot's
        self.exchange = Gauge(
            "gridbot_exchange_info",
            "1, labelled with the exchange the bot trades on (its ccxt id) and the API it calls",
            ["exchange", "api"],
            registry=r,
        )
        self.breaker_openings = Counter(
            "gridbot_breaker_openings", "Times the circuit breaker opened", registry=r
        )
        self.halted = Gauge(
            "gridbot_halted", "1 while trading is halted (the reason is in status)", registry=r
        )
        # An alert names why without a second query; one series at a time (a halt's reason is free text).
        self.halt_reason = Gauge(
            "gridbot_halt_reason", "1 while trading is halted, labelled with why", ["reason"], registry=r
        )
        self._reason_shown = ""
        self.holdings_drift = Gauge(
            "gridbot_holdings_drift_pct", "Holdings off the exchange's balances, % of equity", registry=r
        )
        self.clock_skew = Gauge("gridbot_clock_skew_seconds", "Exchange clock minus local clock", registry=r)
        self.last_candle_age = Gauge(
            "gridbot_last_candle_age_seconds",
            "Seconds since a new closed candle last came (since the start or resume before the first)",
            registry=r,
        )
        # computed when scraped: a stalled feed shows an age that grows, not the one of the last arrival. On
        # this host's monotonic clock, as the stale-price guard counts: not from the candle's date, which a
        # replaying exchange (the demo's) gives from its data's years.
        self._candle_seen_at: float | None = None
        self.last_candle_age.set_function(self._candle_age)
        # BotNoCandle judges the candle age against it: a healthy 1h bot's newest candle is up to 1h old
        self.timeframe = Gauge(
            "gridbot_timeframe_seconds", "The candles' timeframe (run.timeframe)", registry=r
        )
        self.cycle_seconds = Histogram(
            "gridbot_cycle_seconds",
            "Wall time of one loop cycle",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )

    def trades_on(self, exchange: str, api_url: str | None, sandbox: bool) -> None:
        """The exchange's ccxt id, and its API by host (api_url's), `sandbox` (ccxt's testnet) or `default`
        (ccxt's own URLs): bots on one exchange through different APIs do not share an outage."""
        api = urlsplit(api_url).netloc if api_url else ("sandbox" if sandbox else "default")
        self.exchange.labels(exchange=exchange, api=api).set(1)

    def candle_seen(self, at_monotonic: float) -> None:
        """A new closed candle came at `at_monotonic` (time.monotonic()), or the count starts there."""
        self._candle_seen_at = at_monotonic

    def _candle_age(self) -> float:
        at = self._candle_seen_at
        return 0.0 if at is None else max(0.0, time.monotonic() - at)

    def show(self, engine: AnyEngine, halt_reason: str) -> None:
        """The book's gauges after a cycle (both loops: the replay and the exchange's); `halt_reason` is empty
        while the bot trades."""
        p, close = engine.portfolio, engine.stats.last_close
        if close > 0:
            self.equity.set(p.equity(close))
        self.start_equity.set(p.start_equity)
        self.realized_pnl.set(p.realized)
        self.fees.set(p.fees)
        orders = engine.exchange.open_orders()
        for side in ("buy", "sell"):
            self.open_orders.labels(side=side).set(sum(1 for o in orders if o.side == side))
        self.halted.set(1 if halt_reason else 0)
        if self._reason_shown != halt_reason:
            if self._reason_shown:
                self.halt_reason.remove(self._reason_shown)
            if halt_reason:
                self.halt_reason.labels(reason=halt_reason).set(1)
            self._reason_shown = halt_reason
