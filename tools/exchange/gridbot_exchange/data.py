"""The market: one spot symbol, its filters, and the candle arrays the price path and /klines come from.
Every kline interval is aggregated from these candles, so their timeframe is the finest one served: 1m data
(a 1m CSV, or `synthetic:SEED:PRICE:1m`) serves every Binance interval from 1m up."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from gridbot.core import synthetic
from gridbot.core.candles import CandleError, Candles
from gridbot_exchange.reader import read_csv, read_embedded

INTERVALS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000}
TRADING = "TRADING"
STATUSES = (TRADING, "END_OF_DAY", "HALT", "BREAK", "CANCEL_ONLY")  # enums.md, "Symbol status"


@dataclass(frozen=True, slots=True)
class Market:
    base: str
    quote: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    min_notional: Decimal
    status: str = TRADING  # anything else: no new orders, no matching; cancels still work

    @property
    def symbol(self) -> str:
        return self.base + self.quote


@dataclass(frozen=True, slots=True)
class Series:
    """Candles with a fixed interval; index i covers [time_ms[i], time_ms[i] + interval_ms)."""

    candles: Candles
    interval_ms: int
    interval: str

    def __len__(self) -> int:
        return len(self.candles)


# Six months of candles, as long as the embedded set (5-minute): a demo fleet trades for days at --speed 60.
SYNTHETIC_SPAN_MS = 52_416 * INTERVALS["5m"]
SYNTHETIC_START_MS = 1_735_689_600_000  # 2025-01-01, where the embedded set starts


def synthetic_candles(n: int, seed: int, price: float, start_ms: int, interval_ms: int) -> Candles:
    """n candles of gridbot's deterministic regime path from `price`, the first opening at start_ms."""
    return synthetic.generate(n, seed, price, start_ms, interval_ms)


def _synthetic_args(source: str, timeframe: bool) -> tuple[int, float, str]:
    """'synthetic:SEED:PRICE' (and ':TF' where `timeframe`, default 5m): gridbot's deterministic regime
    path for another market (its own seed, starting at its own price, on TF candles)."""
    want = "synthetic:SEED:PRICE[:TF]" if timeframe else "synthetic:SEED:PRICE"
    parts = source.split(":")
    _, seed, price, tf = [*parts, "", "", ""][:4]
    if len(parts) > (4 if timeframe else 3):
        raise CandleError(f"{source}: want {want}")
    if not seed.isdigit():
        raise CandleError(f"{source}: want {want} with SEED a non-negative integer")
    try:
        start = float(price)
    except ValueError:
        start = 0.0
    if not 1 <= start <= 1e7:
        raise CandleError(f"{source}: want {want} with PRICE a start price within 1..1e7")
    tf = tf or "5m"
    if tf not in INTERVALS:
        raise CandleError(f"{source}: want {want} with TF one of {', '.join(INTERVALS)}")
    return int(seed), start, tf


def _synthetic(source: str) -> Series:
    """Six months of candles of a synthetic path, 5-minute unless the source names another timeframe."""
    seed, start, tf = _synthetic_args(source, timeframe=True)
    size = INTERVALS[tf]
    candles = synthetic_candles(SYNTHETIC_SPAN_MS // size, seed, start, SYNTHETIC_START_MS, size)
    return Series(candles, size, tf)


def fee_asset_series(source: str, grid: Series) -> Series:
    """The fee asset's price path on the traded market's candle grid (its candle i spans the market's candle
    i): 'PRICE' (fixed) or 'synthetic:SEED:PRICE' (gridbot's regime path from that price); CandleError
    names what is wrong."""
    n, t = len(grid), grid.candles.time_ms
    if source.startswith("synthetic:"):
        seed, start, _ = _synthetic_args(source, timeframe=False)
        return Series(
            synthetic_candles(n, seed, start, int(t[0]), grid.interval_ms), grid.interval_ms, grid.interval
        )
    try:
        price = float(source)
    except ValueError:
        price = 0.0
    if not 0 < price <= 1e7:
        raise CandleError(f"{source}: want a price within (0, 1e7] or synthetic:SEED:PRICE")
    flat = np.full(n, price)
    return Series(Candles(t.copy(), flat, flat, flat, flat, np.zeros(n)), grid.interval_ms, grid.interval)


def load_series(source: str) -> Series:
    """The embedded data set ('embedded', 5-minute), a synthetic one ('synthetic:SEED:PRICE[:TF]') or a ccxt
    OHLCV CSV; raises CandleError with the reason."""
    if source.startswith("synthetic:"):
        return _synthetic(source)
    if source == "embedded":
        c = read_embedded()
    elif Path(source).is_file():
        c = read_csv(Path(source))
    else:
        raise CandleError(f"data file not found: {source}")
    if len(c) < 2:
        raise CandleError(f"{source}: need at least 2 candles")
    steps = np.diff(c.time_ms)
    interval_ms = int(steps[0])
    if np.any(steps != interval_ms):
        i = int(np.argmax(steps != interval_ms)) + 1
        raise CandleError(
            f"{source}: candles must be evenly spaced; candle {i} breaks the {interval_ms} ms step"
        )
    names = [k for k, v in INTERVALS.items() if v == interval_ms]
    if not names:
        raise CandleError(f"{source}: interval {interval_ms} ms is not one of {', '.join(INTERVALS)}")
    return Series(c, interval_ms, names[0])
