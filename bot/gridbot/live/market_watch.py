"""The market as the exchange states it now: its rules read again on a schedule, and whether it trades.

Binance halts a market (status BREAK or HALT: new orders answered -1013 "Market is closed.") and changes its
filters (tick, lot, notional) while bots run. Loaded once, a bot met either as refused orders counted against
`risk.max_errors_per_hour` and halted itself until a person resumed it, where the same state at its start
was only "exchange not ready; retrying". Here a halted market pauses new orders (cancels still go out, as
Binance takes them during a BREAK) and the bot resumes by itself once the market trades again; changed
filters become the ones every later order is rounded and checked by.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

from gridbot.live.venue import MarketClosedError, MarketRules, Venue
from gridbot.ops.metrics import Metrics

log = logging.getLogger(__name__)
FILTER_FAILURE = "Filter failure"  # Binance -1013's words when an order breaks one of the market's filters


@dataclass
class MarketWatch:
    venue: Venue
    rules: MarketRules
    metrics: Metrics
    every_s: float = 3600.0  # run.rules_every_s (and at once on a refusal that names a filter)
    closed_every_s: float = 30.0  # run.halted_market_every_s: how soon trading resumes once it opens
    closed: bool = False
    read_at: float = field(default_factory=time.monotonic)

    @classmethod
    def opened(
        cls,
        venue: Venue,
        symbol: str,
        metrics: Metrics,
        every: tuple[float, float],
    ) -> MarketWatch:
        """The market's rules at a start; a halted market is waited out there as any outage is (`run`)."""
        rules = venue.load_market(symbol)
        if not rules.trading:
            raise MarketClosedError(f"{symbol} is not trading on the exchange (halted)")
        return cls(venue, rules, metrics, *every)

    def close(self, why: str) -> None:
        """The exchange answered that the market is closed: new orders wait, nothing is counted."""
        if not self.closed:
            log.warning(f"market closed ({why}): new orders wait for it to open; nothing counted")
            self.closed = True
            self.metrics.market_trading.set(0)

    def refresh(self, now: bool = False) -> bool:
        """Read the rules again when due (`now`: at once). True when they changed (`rules` holds the new)."""
        if not now and time.monotonic() - self.read_at < (
            self.closed_every_s if self.closed else self.every_s
        ):
            return False
        self.read_at = time.monotonic()
        rules = self.venue.load_market(self.rules.symbol)
        if not rules.trading:
            self.close(f"{rules.symbol} halted")
        elif self.closed:
            log.info(f"market open again: {rules.symbol} trading, the waiting orders are sent")
            self.closed = False
            self.metrics.market_trading.set(1)
        before, self.rules = self.rules, rules
        if replace(rules, trading=True) == replace(before, trading=True):
            return False
        log.warning(
            f"market rules changed: tick {before.tick_size} -> {rules.tick_size}, lot {before.lot_step} -> "
            f"{rules.lot_step}, min notional {before.min_notional} -> {rules.min_notional}"
        )
        return True
