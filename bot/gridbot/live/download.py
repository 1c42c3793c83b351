"""`gridbot download`: an exchange's OHLCV history into the candle CSV `gridbot backtest --data` reads.

Through the live adapter (`CcxtVenue`, keyless: public endpoints only), so the exchange is built, rebased
(`exchange.api_url`), throttled and retried exactly as in live mode, and only closed candles come back (the
forming one never reaches the file). Paged by `since`, appended page by page as whole rows, flushed to disk
(`fsync`) with Ctrl-C held off during the write: an interrupted download leaves a valid file, and the next
run continues after its last row (a row cut short by a crash is dropped first), never duplicating or
reordering one. Missing candles (the exchange's own gaps) are reported, not invented.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from gridbot.live.ccxt_venue import CcxtVenue
from gridbot.live.venue import Candle, RejectedError

DAY_MS = 86_400_000
PAGE = 999  # candles per request: CcxtVenue asks one more (Binance's klines limit is 1000)
HEADER = "timestamp,open,high,low,close,volume\n"
SYMBOL = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+$")


class DownloadError(ValueError):
    """Bad input to the download; the message names the flag."""


class StartError(DownloadError):
    """The first candle asked for is after the exchange's newest: the message names no flag (--since or
    --timerange: the command's caller knows which it was given)."""


@dataclass
class Gap:
    after_ms: int  # the last candle before the gap
    next_ms: int  # the first candle after it
    step_ms: int

    @property
    def missing(self) -> int:
        return (self.next_ms - self.after_ms) // self.step_ms - 1

    def __str__(self) -> str:
        return f"{self.missing} candles missing after {iso(self.after_ms)} (next: {iso(self.next_ms)})"


@dataclass
class Report:
    written: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    now_ms: int | None = None  # the market's now on the exchange's clock when the download began
    dropped_partial: bool = False  # a row cut short by an earlier crash, removed
    gaps: list[Gap] = field(default_factory=list)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def parse_since(text: str) -> int:
    """`2024-01-31`, `2024-01-31T12:00[:00]` (UTC unless an offset is given) or milliseconds since 1970."""
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise DownloadError(
            f"--since {text}: not a date; want YYYY-MM-DD, YYYY-MM-DDTHH:MM (UTC) or milliseconds since 1970"
        ) from None
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() * 1000)


def check_symbol(symbol: str) -> None:
    if not SYMBOL.match(symbol):
        raise DownloadError(f"--symbol {symbol}: want BASE/QUOTE in capitals, like BTC/USDT")


def _tail(path: Path, report: Report, timeframe: str, step: int) -> int | None:
    """The last candle time in an existing file (None when it has none); a partial last row is cut off. A
    file of another timeframe (its rows closer together, or not on this one's boundaries) is refused: the
    rows appended would mix two timeframes, which a backtest cannot tell apart."""
    with path.open("rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return None
        back = min(size, 1 << 16)
        fh.seek(size - back)
        tail = fh.read(back)
        if not tail.endswith(b"\n"):
            cut = tail.rfind(b"\n") + 1
            fh.truncate(size - back + cut)
            tail = tail[:cut]
            report.dropped_partial = True
    times: list[int] = []
    for line in reversed(tail.decode("utf-8", "replace").splitlines()):
        first = line.split(",", 1)[0].strip()
        if first.isdigit():
            times.append(int(first))
        elif not times and first and not first.startswith("#") and any(ch.isdigit() for ch in line):
            raise DownloadError(
                f"--out {path}: its last row is not a candle row ({line[:60]!r}); not resuming"
            )
    if not times:
        return None  # empty, or a header and comments only
    apart = min((a - b for a, b in itertools.pairwise(times) if a > b), default=None)
    aligned = step > DAY_MS or times[0] % step == 0  # weeks and months do not start on the epoch's boundaries
    if (apart is not None and apart != step) or not aligned:
        held = f"rows {apart // 1000} s apart" if apart is not None else f"a row at {iso(times[0])}"
        raise DownloadError(f"--out {path}: holds {held}, not {timeframe} candles: appending would mix two "
                            "timeframes; give another --out")  # fmt: skip
    return times[0]


@contextmanager
def _no_interrupt() -> Iterator[None]:
    """Ctrl-C waits for the rows being written (SIGINT is delivered when the block ends)."""
    main = threading.current_thread() is threading.main_thread()
    if main:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if main:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _rows(candles: list[Candle]) -> bytes:
    return "".join(
        f"{c.time_ms},{c.open!r},{c.high!r},{c.low!r},{c.close!r},{c.volume!r}\n" for c in candles
    ).encode()


def _append(fd: int, data: bytes) -> None:
    with _no_interrupt():
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)


def download(
    venue: CcxtVenue,
    timeframe: str,
    out: Path,
    since_ms: int = 0,
    progress: Callable[[Report, int], None] | None = None,
    until_ms: int | None = None,
) -> Report:
    """Append the closed candles from `since_ms` (or after the file's last row) up to the exchange's now, or
    up to `until_ms` (excluded). `progress(report, step_ms)` is called after each page."""
    check_symbol(venue.symbol)
    try:
        venue.load_market(venue.symbol)
    except RejectedError as exc:
        raise DownloadError(f"--symbol {venue.symbol}: {exc}") from None
    served = venue.timeframes()
    if timeframe not in served:
        raise DownloadError(f"--timeframe {timeframe}: {venue.exchange_id} has {', '.join(served)}")
    step = served[timeframe]
    report = Report()
    last = _tail(out, report, timeframe, step) if out.exists() else None
    fresh = not out.exists() or out.stat().st_size == 0
    cursor = since_ms if last is None else max(since_ms, last + step)

    def closed(since: int | None, limit: int) -> list[Candle]:
        try:
            return venue.closed_candles(timeframe, since, limit)
        except RejectedError as exc:
            raise DownloadError(f"--timeframe {timeframe}: {venue.exchange_id} refused it: {exc}") from None

    def fetch(since: int) -> list[Candle]:
        return [c for c in closed(since, PAGE) if c.time_ms >= since and (last is None or c.time_ms > last)
                and (until_ms is None or c.time_ms < until_ms)]  # fmt: skip

    # Before the file is touched (a refused symbol, timeframe or start leaves nothing behind): the newest
    # candle, by the exchange's clock the download's end.
    newest = closed(None, 1)
    report.now_ms = venue.market_now_ms
    if since_ms and (not newest or since_ms > newest[-1].time_ms):
        at = iso(newest[-1].time_ms) if newest else "none"
        raise StartError(f"{iso(since_ms)} is after {venue.exchange_id}'s newest closed {timeframe} candle "
                         f"({at}): nothing to download")  # fmt: skip
    page = fetch(cursor)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        if fresh:
            _append(fd, HEADER.encode())
        while page:
            for c in page:
                if last is not None and c.time_ms != last + step:
                    report.gaps.append(Gap(last, c.time_ms, step))
                last = c.time_ms
            _append(fd, _rows(page))
            report.written += len(page)
            report.first_ms = page[0].time_ms if report.first_ms is None else report.first_ms
            report.last_ms = last
            if progress is not None:
                progress(report, step)
            if until_ms is not None and page[-1].time_ms + step >= until_ms:
                break
            page = fetch(page[-1].time_ms + step)
    finally:
        os.close(fd)
    return report
