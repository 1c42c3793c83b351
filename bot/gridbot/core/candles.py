"""OHLCV candles: the container and the checks a backtest relies on (increasing time, OHLC order). Pure: the
files they come from are read by `gridbot.ops.candle_files`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# A backtest's chunk: large enough for numpy to pay, small enough that years of 1-minute candles stay flat.
CHUNK = 65_536


class CandleError(ValueError):
    """Candles that cannot be read as OHLCV (a file, or an exchange's answer)."""


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

    def prices(self) -> tuple[NDArray[np.float64], ...]:
        """open, high, low, close, volume: every column but the time."""
        return self.open, self.high, self.low, self.close, self.volume

    def slice(self, start: int, stop: int) -> Candles:
        return Candles(self.time_ms[start:stop], *(a[start:stop] for a in self.prices()))

    @classmethod
    def concat(cls, parts: list[Candles]) -> Candles:
        time_ms = np.concatenate([p.time_ms for p in parts])
        return cls(
            time_ms, *(np.concatenate(cols) for cols in zip(*(p.prices() for p in parts), strict=True))
        )

    @classmethod
    def from_rows(cls, rows: NDArray[np.float64]) -> Candles:
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
        return cls(rows[:, 0].astype(np.int64), *(np.ascontiguousarray(rows[:, i]) for i in range(1, 6)))


def validate(
    c: Candles, where: str, lines: NDArray[np.int64] | None = None, after_ms: float = -math.inf
) -> None:
    """Refuse candles a backtest would silently get wrong; `lines` maps each candle to its file line."""

    def at(i: int) -> str:
        return f"{where}:{lines[i]}" if lines is not None else f"{where}: candle {i}"

    def first(mask: NDArray[np.bool_]) -> int | None:
        return int(np.argmax(mask)) if mask.any() else None

    t = c.time_ms
    prev = np.concatenate(([after_ms], t[:-1]))
    if (i := first(t <= prev)) is not None:
        what = "duplicate timestamp" if t[i] == prev[i] else "timestamp goes back in time"
        raise CandleError(f"{at(i)}: {what}: {t[i]} after {int(prev[i])}; timestamps must increase")
    bad = ~((c.low <= np.minimum(c.open, c.close)) & (c.high >= np.maximum(c.open, c.close)) & (c.low > 0))
    if (i := first(bad)) is not None:
        raise CandleError(
            f"{at(i)}: candle is not OHLC: need 0 < low <= open, close <= high (open={c.open[i]}, "
            f"high={c.high[i]}, low={c.low[i]}, close={c.close[i]})"
        )
    if (i := first(c.volume < 0)) is not None:
        raise CandleError(f"{at(i)}: negative volume {c.volume[i]}")
