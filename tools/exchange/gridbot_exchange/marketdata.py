"""Public market data as Binance serves it, computed on request from the candle arrays (no lookahead past the
market clock: the forming candle is known only by its open) and the exchange's own fills.

- klines at every Binance interval that is a whole multiple of the data's own, aggregated as Binance does
  (open of the first candle, highest high, lowest low, close of the last, summed volume), buckets on UTC epoch
  multiples, weeks from Monday 00:00 UTC, months by the calendar;
- a public trade tape: each closed candle prints four trades (open, the extreme the candle reached first, the
  other extreme, close: O-L-H-C for a rising candle, O-H-L-C for a falling one, a quarter of its volume each)
  stamped at the candle's close time, and every fill of the exchange is a public trade at its own time.
  Ids grow with time and no id ever appears below one already served (a candle's prints and maker fills are
  published when it closes, after every fill made while it formed);
- a synthetic order book around the last price, tick-aligned: best bid one tick below, best ask one tick above
  (a LIMIT_MAKER there rests; an order at the last price crosses, as the matching engine has it)."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import NamedTuple

import numpy as np

from gridbot_exchange.data import Series
from gridbot_exchange.errors import ApiError
from gridbot_exchange.matching import PRINTS, SLOTS, Trade

DAY_MS = 86_400_000
INTERVALS_MS = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": DAY_MS, "3d": 3 * DAY_MS, "1w": 7 * DAY_MS,
}  # fmt: skip
MONTH = "1M"  # calendar months: no fixed length
WEEK_ANCHOR_MS = 4 * DAY_MS  # 1970-01-05, a Monday: weeks start Monday 00:00 UTC
BOOK_MAX = 5000
BAD_INTERVAL = ApiError(400, -1120, "Invalid interval.")


@dataclass(frozen=True, slots=True)
class Path:
    """One symbol's price path: the traded market's, or the fee asset's (on the same candle grid)."""

    symbol: str
    series: Series
    tick: Decimal
    step: Decimal

    def last_price(self, forming: int) -> Decimal:
        """The close of the last closed candle (the first open before any has closed), tick-aligned."""
        c = self.series.candles
        price = c.close[forming - 1] if forming else c.open[0]
        return Decimal(str(price)).quantize(self.tick)


class Print(NamedTuple):
    id: int
    price: Decimal
    qty: Decimal
    time: int
    is_buyer_maker: bool


def _f8(x: float) -> str:
    return f"{x:.8f}"


def _s8(d: Decimal) -> str:
    return f"{d:.8f}"


# --- klines ---


def check_interval(name: str, series: Series) -> None:
    """Binance's interval names; only whole multiples of the data's own timeframe can be built from it."""
    tf = series.interval_ms
    aligned = int(series.candles.time_ms[0]) % tf == 0
    if name == MONTH:
        ok = DAY_MS % tf == 0 and aligned
    elif name in INTERVALS_MS:
        size = INTERVALS_MS[name]
        ok = size % tf == 0 and (size == tf or aligned)
    else:
        ok = False
    if not ok:
        raise BAD_INTERVAL


def bucket_starts(times: np.ndarray, name: str) -> np.ndarray:
    if name == MONTH:
        return (
            times.astype("datetime64[ms]").astype("datetime64[M]").astype("datetime64[ms]").astype(np.int64)
        )
    size = INTERVALS_MS[name]
    anchor = WEEK_ANCHOR_MS if name == "1w" else 0
    return (times - anchor) // size * size + anchor


def _bucket_start(t: int, name: str) -> int:
    return int(bucket_starts(np.array([t], dtype=np.int64), name)[0])


def _bucket_end(start: int, name: str) -> int:
    """The first ms after the bucket that opens at `start`."""
    if name == MONTH:
        month = np.datetime64(start, "ms").astype("datetime64[M]") + 1
        return int(month.astype("datetime64[ms]").astype(np.int64))
    return start + INTERVALS_MS[name]


def _months_back(t: int, n: int) -> int:
    month = np.datetime64(t, "ms").astype("datetime64[M]") - n
    return int(month.astype("datetime64[ms]").astype(np.int64))


def klines(
    series: Series, name: str, start: int | None, end: int | None, limit: int, forming: int
) -> list[list[object]]:
    """Binance's klines rows for buckets with open time in [start, end], the oldest `limit` from `start`, else
    the newest `limit`; the forming candle counts at its open price with no volume (no lookahead)."""
    check_interval(name, series)
    c = series.candles
    t = c.time_ms
    hi = min(forming + 1, len(c))  # candles [0, hi) are visible
    if end is not None:
        hi = min(hi, int(np.searchsorted(t, _bucket_end(_bucket_start(end, name), name), side="left")))
    per_bucket = (31 * DAY_MS if name == MONTH else INTERVALS_MS[name]) // series.interval_ms
    if start is not None:
        first = _bucket_start(start, name)
        if first < start:
            first = _bucket_end(first, name)
        lo = int(np.searchsorted(t, first, side="left"))
        hi = min(hi, lo + limit * per_bucket)
    elif hi > 0:
        newest = _bucket_start(int(t[hi - 1]), name)
        oldest = (
            _months_back(newest, limit - 1) if name == MONTH else newest - (limit - 1) * INTERVALS_MS[name]
        )
        lo = int(np.searchsorted(t, oldest, side="left"))
    else:
        lo = 0
    if lo >= hi:
        return []
    o, h, lw, cl, vol = (a[lo:hi].copy() for a in (c.open, c.high, c.low, c.close, c.volume))
    prints = np.full(hi - lo, PRINTS, dtype=np.int64)
    if lo <= forming < hi:
        k = forming - lo
        h[k] = lw[k] = cl[k] = o[k]
        vol[k] = 0.0
        prints[k] = 0
    keys = bucket_starts(t[lo:hi], name)
    firsts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    lasts = np.concatenate((firsts[1:], [len(keys)])) - 1
    highs, lows = np.maximum.reduceat(h, firsts), np.minimum.reduceat(lw, firsts)
    vols, quote = np.add.reduceat(vol, firsts), np.add.reduceat(vol * cl, firsts)
    counts = np.add.reduceat(prints, firsts)
    rows: list[list[object]] = []
    for j, (a, b) in enumerate(zip(firsts, lasts, strict=True)):
        open_ms = int(keys[a])
        rows.append([open_ms, _f8(o[a]), _f8(highs[j]), _f8(lows[j]), _f8(cl[b]), _f8(vols[j]),
                     _bucket_end(open_ms, name) - 1, _f8(quote[j]), int(counts[j]), "0.00000000",
                     "0.00000000", "0"])  # fmt: skip
    return rows[:limit] if start is not None else rows[-limit:]


# --- the public trade tape ---


def candle_prints(path: Path, i: int) -> list[Print]:
    c = path.series.candles
    o, h, lw, cl = (Decimal(str(float(a[i]))).quantize(path.tick) for a in (c.open, c.high, c.low, c.close))
    qty = (Decimal(str(float(c.volume[i]))) / PRINTS).quantize(path.step, rounding=ROUND_DOWN)
    prices = [o, lw, h, cl] if cl >= o else [o, h, lw, cl]
    before = Decimal(str(float(c.close[i - 1]))).quantize(path.tick) if i else o
    when = int(c.time_ms[i]) + path.series.interval_ms - 1
    out = []
    for k, p in enumerate(prices):
        out.append(Print(i * SLOTS + SLOTS - PRINTS + k, p, qty, when, p < before))
        before = p
    return out


def fill_print(t: Trade) -> Print:
    # the house is the other side: the buyer is the maker when our account bought as maker or sold as taker
    return Print(t.public_id, t.price, t.qty, t.time_ms, t.is_buyer == t.is_maker)


def tape_forward(path: Path, fills: Iterable[Trade], completed: int, min_id: int) -> Iterator[Print]:
    """Public trades with id >= min_id, oldest first."""
    mine = (fill_print(t) for t in fills if t.public_id >= min_id)
    candles = (p for i in range(max(0, min_id // SLOTS), completed) for p in candle_prints(path, i))
    return heapq.merge(mine, (p for p in candles if p.id >= min_id), key=lambda p: p.id)


def tape_backward(path: Path, fills: Iterable[Trade], completed: int) -> Iterator[Print]:
    """Every public trade, newest first (lazily: a caller takes what it needs)."""
    mine = (fill_print(t) for t in fills)
    candles = (p for i in range(completed - 1, -1, -1) for p in reversed(candle_prints(path, i)))
    return heapq.merge(mine, candles, key=lambda p: p.id, reverse=True)


def first_id_at(path: Path, time_ms: int) -> int:
    """The lowest public id a trade at or after time_ms can have."""
    s = path.series
    return max(0, (time_ms - int(s.candles.time_ms[0])) // s.interval_ms) * SLOTS


def trade_row(p: Print) -> dict[str, object]:
    """GET /api/v3/trades (rest-api.md, "Recent trades list")."""
    return {
        "id": p.id,
        "price": _s8(p.price),
        "qty": _s8(p.qty),
        "quoteQty": _s8(p.price * p.qty),
        "time": p.time,
        "isBuyerMaker": p.is_buyer_maker,
        "isBestMatch": True,
    }


def agg_row(p: Print) -> dict[str, object]:
    """GET /api/v3/aggTrades: each public trade is its own aggregate (one taker order, one price each)."""
    return {"a": p.id, "p": _s8(p.price), "q": _s8(p.qty), "f": p.id, "l": p.id, "T": p.time,
            "m": p.is_buyer_maker, "M": True}  # fmt: skip


# --- book and tickers ---


def book(path: Path, last: Decimal, forming: int, levels: int) -> tuple[list[list[str]], list[list[str]]]:
    """Synthetic depth: `levels` tick-spaced prices each side of the last price, sizes from the last closed
    candle's volume with a deterministic ripple (the same book for the same candle)."""
    c = path.series.candles
    ref = max(forming - 1, 0)
    unit = max(path.step, (Decimal(str(float(c.volume[ref]))) / 100).quantize(path.step, rounding=ROUND_DOWN))
    bids, asks = [], []
    for k in range(levels):
        qty = _s8(unit * (1 + (7 * k + ref) % 5))
        asks.append([_s8(last + path.tick * (k + 1)), qty])
        bid = last - path.tick * (k + 1)
        if bid > 0:
            bids.append([_s8(bid), qty])
    return bids, asks


def book_ticker(path: Path, last: Decimal, forming: int) -> dict[str, object]:
    bids, asks = book(path, last, forming, 1)
    bid = bids[0] if bids else ["0.00000000", "0.00000000"]
    return {"symbol": path.symbol, "bidPrice": bid[0], "bidQty": bid[1], "askPrice": asks[0][0],
            "askQty": asks[0][1]}  # fmt: skip


def ticker_24hr(path: Path, fills: Iterable[Trade], forming: int, now_ms: int) -> dict[str, object]:
    """The rolling 24 h before the market clock, from the closed candles in it and the forming one's open."""
    c = path.series.candles
    since = now_ms - DAY_MS
    i0 = min(int(np.searchsorted(c.time_ms, since, side="left")), forming)
    last = path.last_price(forming)
    highs, lows = [float(x) for x in c.high[i0:forming]], [float(x) for x in c.low[i0:forming]]
    if forming < len(c):
        highs.append(float(c.open[forming]))
        lows.append(float(c.open[forming]))

    def price(x: float) -> Decimal:
        return Decimal(str(float(x))).quantize(path.tick)

    open_ = price(c.open[i0]) if i0 < len(c) else last
    prev = price(c.close[i0 - 1]) if i0 else price(c.open[0])
    vol = float(np.sum(c.volume[i0:forming]))
    quote = float(np.sum(c.volume[i0:forming] * c.close[i0:forming]))
    fills = list(fills)
    window = [p for p in tape_forward(path, fills, forming, first_id_at(path, since)) if p.time >= since]
    newest = next(tape_backward(path, fills, forming), None)
    change = last - open_
    bt = book_ticker(path, last, forming)
    return {
        "symbol": path.symbol,
        "priceChange": _s8(change),
        "priceChangePercent": f"{(change / open_ * 100) if open_ else Decimal(0):.3f}",
        "weightedAvgPrice": _f8(quote / vol) if vol else _s8(last),
        "prevClosePrice": _s8(prev),
        "lastPrice": _s8(last),
        "lastQty": _s8(newest.qty) if newest else "0.00000000",
        "bidPrice": bt["bidPrice"],
        "bidQty": bt["bidQty"],
        "askPrice": bt["askPrice"],
        "askQty": bt["askQty"],
        "openPrice": _s8(open_),
        "highPrice": _s8(price(max(highs))) if highs else _s8(last),
        "lowPrice": _s8(price(min(lows))) if lows else _s8(last),
        "volume": _f8(vol),
        "quoteVolume": _f8(quote),
        "openTime": since,
        "closeTime": now_ms,
        "firstId": window[0].id if window else -1,
        "lastId": window[-1].id if window else -1,
        "count": len(window),
    }
