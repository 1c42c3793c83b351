"""CSV outputs (a backtest's trades and round trips, `gridbot export`): rows appended as they come."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

from gridbot.core.portfolio import RoundTrip

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
