"""`mode: paper` with `run.data: exchange`: the exchange's closed candles, the paper engine's fills, no keys
and no order on the exchange. The loop is `trader.Trader`'s; this mode's own is how a fill is recorded."""

from __future__ import annotations

import logging
import time

from gridbot.config.model import BotConfig
from gridbot.core.engine import GridEngine, LedgerRow
from gridbot.core.paper import Fill
from gridbot.live.preflight import check_rules
from gridbot.live.trader import Trader
from gridbot.live.venue import Venue
from gridbot.ops.health import Heartbeat
from gridbot.ops.logs import engine_log, fill_line
from gridbot.ops.metrics import Metrics
from gridbot.ops.store import Store

log = logging.getLogger(__name__)


class PaperTrader(Trader[Fill]):
    def __init__(
        self, cfg: BotConfig, venue: Venue, store: Store, metrics: Metrics, heartbeat: Heartbeat | None = None
    ) -> None:
        super().__init__(cfg, venue, store, metrics, heartbeat)
        check_rules(cfg, self.rules, None, None)
        self._booked: tuple[int, int] = (-1, 0)  # (cycle, fills booked in it): a fill's id within its cycle
        self.engine = GridEngine(cfg, ledger=self._ledger, trips=self._trip, log=engine_log())
        self._restore()

    def _ledger(self, row: LedgerRow, fill: Fill) -> None:  # noqa: ARG002  (the row says it all)
        """A paper fill has no trade id: its id is its candle, its cycle and its place among the cycle's."""
        self.last_fill_at = time.time()
        log.info(fill_line(row))
        cycle, n = self._booked
        n = n + 1 if cycle == self.cycle else 1
        self._booked = (self.cycle, n)
        side = str(row["side"])
        self.store.add_fill(f"paper:{self.engine.stats.last_ms}:{self.cycle}:{n}", None, side, row["price"],
                            row["amount"], row["fee"], str(row["fee_currency"]), row["realized_pnl"],
                            int(time.time() * 1000))  # fmt: skip
        self.metrics.fills.labels(side=side).inc()
