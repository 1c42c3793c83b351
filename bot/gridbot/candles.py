"""OHLCV candles: the container, the embedded dataset, and a chunked loader for ccxt-style CSV files.

Everything yields chunks, so a backtest over years of 1-minute candles keeps a flat memory profile.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

CHUNK = 65_536
CSV_CHUNK = 8_192  # rows parsed as Python lists before becoming arrays: keep that transient small
EMBEDDED = "embedded"


class CandleError(ValueError):
    """A candle file that cannot be read as OHLCV."""


@dataclass(frozen=True, slots=True)
class Candles:
    time_ms: NDArray[np.int64]
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]
    volume: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.time_ms)

    def columns(self) -> tuple[NDArray, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    def slice(self, start: int, stop: int) -> Candles:
        return Candles(*(a[start:stop] for a in self.columns()))

    @classmethod
    def concat(cls, parts: list[Candles]) -> Candles:
        return cls(*(np.concatenate(cols) for cols in zip(*(p.columns() for p in parts), strict=True)))

    @classmethod
    def from_rows(cls, rows: NDArray[np.float64]) -> Candles:
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
        return cls(rows[:, 0].astype(np.int64), *(np.ascontiguousarray(rows[:, i]) for i in range(1, 6)))


def validate(c: Candles, where: str) -> None:
    bad = ~((c.low <= np.minimum(c.open, c.close)) & (c.high >= np.maximum(c.open, c.close)) & (c.low > 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise CandleError(
            f"{where}: candle {i} is not OHLC (open={c.open[i]}, high={c.high[i]}, low={c.low[i]}, "
            f"close={c.close[i]})"
        )
    if len(c) > 1 and np.any(np.diff(c.time_ms) <= 0):
        i = int(np.argmax(np.diff(c.time_ms) <= 0)) + 1
        raise CandleError(f"{where}: timestamps must increase, candle {i} has {c.time_ms[i]}")


def embedded_path() -> Path:
    return Path(str(resources.files("gridbot") / "data" / "btcusdt_5m.npz"))


def load_embedded() -> Candles:
    with np.load(embedded_path()) as z:
        return Candles(
            z["time_ms"], *(z[k].astype(np.float64) for k in ("open", "high", "low", "close", "volume"))
        )


def _csv_rows(path: Path) -> Iterator[tuple[int, list[float]]]:
    with path.open(newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            if not row or row[0].lstrip().startswith("#"):
                continue
            try:
                values = [float(x) for x in row[:6]]
            except ValueError:
                if lineno == 1:
                    continue  # a header line
                raise CandleError(f"{path}:{lineno}: not numbers: {row[:6]}") from None
            if len(values) != 6 or not all(math.isfinite(v) for v in values):
                raise CandleError(f"{path}:{lineno}: want [ms, open, high, low, close, volume], got {row}")
            yield lineno, values


def iter_csv(path: Path, chunk: int = CSV_CHUNK) -> Iterator[Candles]:
    """Chunks of a CSV of ccxt OHLCV rows: ms timestamp, open, high, low, close, volume."""
    if not path.is_file():
        raise CandleError(f"data file not found: {path}")
    buf: list[list[float]] = []
    last_ms = -math.inf
    for lineno, values in _csv_rows(path):
        if values[0] <= last_ms:
            raise CandleError(f"{path}:{lineno}: timestamps must increase ({int(values[0])} after {last_ms})")
        last_ms = values[0]
        buf.append(values)
        if len(buf) == chunk:
            out = Candles.from_rows(np.array(buf))
            validate(out, str(path))
            yield out
            buf = []
    if buf:
        out = Candles.from_rows(np.array(buf))
        validate(out, str(path))
        yield out


def iter_candles(source: str | Path, chunk: int | None = None) -> Iterator[Candles]:
    """Chunks of the embedded dataset (source 'embedded') or of a CSV file."""
    if str(source) == EMBEDDED:
        data = load_embedded()
        step = chunk or CHUNK
        for start in range(0, len(data), step):
            yield data.slice(start, start + step)
        return
    yield from iter_csv(Path(source), chunk or CSV_CHUNK)
