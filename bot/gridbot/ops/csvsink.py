"""CSV outputs (a backtest's trades and round trips, `gridbot export`): rows appended as they come."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gridbot.core.portfolio import RoundTrip
from gridbot.ops.outputs import Staged, is_special

if TYPE_CHECKING:
    from gridbot.ops.store import Store

TRADE_FIELDS = ["date", "side", "amount", "price", "fee", "fee_currency", "realized_pnl"]
TRIP_FIELDS = [*RoundTrip._fields, "profit"]


class CsvSink:
    """Appends rows to a CSV file as they come, so nothing of a long run is held in memory."""

    def __init__(self, path: Path, fields: list[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists() or path.stat().st_size == 0
        self._fh = path.open("a", newline="")
        self._writer = csv.DictWriter(self._fh, fieldnames=fields)
        if fresh:
            self._writer.writeheader()

    def row(self, row: Mapping[str, object]) -> None:
        self._writer.writerow(row)

    def trip(self, trip: RoundTrip) -> None:
        self._writer.writerow({**trip._asdict(), "profit": trip.profit})

    def close(self) -> None:
        self._fh.close()


def export_store(store: Store, trades: Path) -> None:
    """`gridbot export`: the store's fills and round trips, as the backtest writes its own."""
    with Staged() as staged:
        out = CsvSink(staged.path(trades), TRADE_FIELDS)
        for f in store.fills():
            out.row({
                "date": datetime.fromtimestamp(f["time_ms"] / 1000, UTC).isoformat(), "side": f["side"],
                "amount": f["qty"], "price": f["price"], "fee": f["fee"], "fee_currency": f["fee_currency"],
                "realized_pnl": f["realized_pnl"],
            })  # fmt: skip
        out.close()
        trips = CsvSink(staged.path(roundtrips(trades)), TRIP_FIELDS)
        for t in store.round_trips():
            trips.row({k: t[k] for k in TRIP_FIELDS})
        trips.close()


def roundtrips(trades: Path) -> Path:
    """Beside the trades; with them when the trades go to /dev/null or a pipe."""
    return trades if is_special(trades) else trades.with_name(trades.stem + "-roundtrips.csv")
