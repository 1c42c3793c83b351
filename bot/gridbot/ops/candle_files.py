"""Candle files: the embedded dataset and a chunked loader for ccxt-style CSVs (plain, gzip, one-CSV zip).

Everything yields chunks, so a backtest over years of 1-minute candles keeps a flat memory profile.
"""

from __future__ import annotations

import csv
import gzip
import math
import zipfile
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from importlib import resources
from pathlib import Path
from typing import IO

import numpy as np

from gridbot.core.candles import CHUNK, CandleError, Candles, validate

CSV_CHUNK = 8_192  # rows parsed as Python lists before becoming arrays: keep that transient small
EMBEDDED = "embedded"
COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # an archive with files, an empty one
# Millisecond timestamps from 1973 to 5138: below are seconds (1.7e9 today), above micro- or nanoseconds.
MIN_MS, MAX_MS = 10**11, 10**14
WANT = f"{len(COLUMNS)} columns [{', '.join(COLUMNS)}]"
MS_SINCE_1970 = "ccxt OHLCV rows start with milliseconds since 1970"
MAX_LINE = 4096  # bytes: a candle row is under 200; a file without newlines is not read whole into memory
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _time_problem(text: str, t: float) -> str | None:
    """Why the timestamp `t` (read from `text`) is not a ccxt millisecond timestamp, None when it is one.

    Judged on the float as read: cast to int64 first, 1e19 would wrap around to a negative number."""
    if MIN_MS <= t < MAX_MS:
        return None if t.is_integer() else f"timestamp {text} is not a whole number of milliseconds"
    if t >= MAX_MS:
        return (
            f"timestamp {text} is beyond the year 5000 as milliseconds (microseconds or nanoseconds?); "
            + (MS_SINCE_1970)
        )
    if t >= MIN_MS // 1000:
        return (
            f"timestamp {text} looks like seconds, not milliseconds ({_as_date(t * 1000)} if read as "
            f"seconds); {MS_SINCE_1970}: multiply by 1000"
        )
    return f"timestamp {text} is before 1973 as milliseconds; {MS_SINCE_1970}"


def _not_a_number(row: list[str]) -> str:
    """The first field of a row that is not a number, and what to do when it is a date."""
    i = next(i for i, x in enumerate(row) if not _is_number(x))
    hint = f"; {MS_SINCE_1970}, not dates" if i == 0 and any(c in row[0] for c in "-/:") else ""
    return f"{COLUMNS[i]} is not a number: {row[i]!r}{hint}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_header(row: list[str]) -> bool:
    """Column names: no field is a number and some have letters (a line of dates is data, refused as such)."""
    return not any(_is_number(x) for x in row) and any(c.isalpha() for c in "".join(row))


def _wrong_columns(row: list[str]) -> str:
    sep = next((d for d in ";\t|" if len(row) == 1 and d in row[0]), None)
    hint = f"; columns are separated by commas, this line uses {sep!r}" if sep else ""
    return f"want {WANT}, got {len(row)} columns: {row}{hint}"


def _as_date(ms: float) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return "no date"


def embedded_path() -> Path:
    return Path(str(resources.files("gridbot") / "data" / "btcusdt_5m.npz"))


def load_embedded() -> Candles:
    with np.load(embedded_path()) as z:
        return Candles(
            z["time_ms"], *(z[k].astype(np.float64) for k in ("open", "high", "low", "close", "volume"))
        )


def _open_packed(path: Path) -> tuple[str, IO[bytes] | gzip.GzipFile]:
    """The file's bytes, a gzip or a one-CSV zip (as exchanges' archives ship) unpacked; told apart by their
    magic bytes, whatever the file is called. Returns what the file is (for messages) and the stream."""
    try:
        with path.open("rb") as raw:
            magic = raw.read(4)
        if magic.startswith(GZIP_MAGIC):
            return "gzip file", gzip.open(path, "rb")
        if magic not in ZIP_MAGICS:
            return "file", path.open("rb")
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            if len(names) != 1:
                raise CandleError(
                    f"{path}: a zip archive of {len(names)} files {names[:3]}, want exactly one CSV in it: "
                    "unpack the one you mean"
                )
            return f"zip archive's {names[0]}", archive.open(names[0])
    except OSError as exc:
        raise CandleError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:  # damaged, unsupported, encrypted
        raise CandleError(f"{path}: cannot read the zip archive: {exc}") from None


def _text_lines(path: Path) -> Iterator[str]:
    """The file's lines as text: gzip and zip read transparently, a UTF-8 BOM dropped, and a byte that is not
    UTF-8 reported on its own line (a text-mode reader would fail a whole buffer early)."""
    kind, stream = _open_packed(path)
    lineno = 0
    try:
        with stream as fh:
            for lineno, line in enumerate(iter(partial(fh.readline, MAX_LINE + 1), b""), start=1):
                if len(line) > MAX_LINE:
                    raise CandleError(
                        f"{path}:{lineno}: a line of more than {MAX_LINE} bytes: not candle rows"
                    )
                try:
                    yield line.decode("utf-8-sig" if lineno == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    if lineno == 1 and line.startswith(UTF16_BOMS):
                        raise CandleError(
                            f"{path}:1: UTF-16 text (a spreadsheet's 'Unicode text' export); save it as "
                            "CSV in UTF-8"
                        ) from None
                    raise CandleError(
                        f"{path}:{lineno}: not UTF-8 text (byte {line[exc.start]:#04x} at column "
                        f"{exc.start + 1}); save the file as UTF-8"
                    ) from None
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        raise CandleError(f"{path}: cannot read the {kind} after line {lineno}: {exc}") from None


def _csv_rows(path: Path) -> Iterator[tuple[int, list[float]]]:
    reader = csv.reader(_text_lines(path))
    header_allowed = True
    lineno = 0
    try:
        for row in reader:
            if reader.line_num > lineno + 1:  # candle fields hold no newline: a quote left open ate lines
                raise CandleError(
                    f"{path}:{lineno + 1}: a quoted field runs to line {reader.line_num}: an unclosed quote"
                )
            lineno = reader.line_num
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            if header_allowed and _is_header(row):
                header_allowed = False
                continue  # column names, before any data
            header_allowed = False
            if len(row) != len(COLUMNS):
                raise CandleError(f"{path}:{lineno}: {_wrong_columns(row)}")
            try:
                values = [float(x) for x in row]
            except ValueError:
                raise CandleError(f"{path}:{lineno}: {_not_a_number(row)}") from None
            if not all(math.isfinite(v) for v in values):
                name = COLUMNS[next(i for i, v in enumerate(values) if not math.isfinite(v))]
                raise CandleError(f"{path}:{lineno}: {name} is not a finite number: {row}")
            if problem := _time_problem(row[0].strip(), values[0]):
                raise CandleError(f"{path}:{lineno}: {problem}")
            yield lineno, values
    except csv.Error as exc:
        raise CandleError(f"{path}:{reader.line_num}: not CSV text ({exc})") from None


def iter_csv(path: Path, chunk: int = CSV_CHUNK) -> Iterator[Candles]:
    """Chunks of a CSV of ccxt OHLCV rows: ms timestamp, open, high, low, close, volume (may be gzipped)."""
    try:
        is_file = path.is_file()
    except OSError as exc:  # pathlib only answers "no" for a missing path, not for a locked directory
        raise CandleError(f"{path}: cannot read: {exc.strerror}") from None
    if not is_file:
        raise CandleError(
            f"{path}: is a directory, want a CSV file" if path.is_dir() else f"data file not found: {path}"
        )
    buf: list[list[float]] = []
    lines: list[int] = []
    last_ms = -math.inf

    def flush() -> Candles:
        out = Candles.from_rows(np.array(buf))
        validate(out, str(path), np.array(lines), last_ms)
        buf.clear()
        lines.clear()
        return out

    for lineno, values in _csv_rows(path):
        buf.append(values)
        lines.append(lineno)
        if len(buf) == chunk:
            out = flush()
            last_ms = float(out.time_ms[-1])
            yield out
    if buf:
        yield flush()
    elif last_ms == -math.inf:
        raise CandleError(f"{path}: no candles (an empty file, or only a header or comments)")


def iter_candles(source: str | Path, chunk: int | None = None) -> Iterator[Candles]:
    """Chunks of the embedded dataset (source 'embedded') or of a CSV file."""
    if str(source) == EMBEDDED:
        data = load_embedded()
        step = chunk or CHUNK
        for start in range(0, len(data), step):
            yield data.slice(start, start + step)
        return
    yield from iter_csv(Path(source), chunk or CSV_CHUNK)


class ReplayFeed:
    """A candle source read one candle at a time from any index, for the paper replay: one chunk is held,
    not the file (a year of 1-minute candles would be ~25 MB of arrays, plus the parse). A first pass
    counts the candles and takes the span a wrap-around shifts the times by; going back (a wrap-around)
    reads the source again from its start, which gives the same candles: the replay stays deterministic."""

    def __init__(self, source: str | Path) -> None:
        self.source = source
        count, first, last = 0, 0, 0
        head: list[int] = []  # the first 1000 times: the typical step, as the replay always took it
        for chunk in iter_candles(source):
            if count == 0:
                first = int(chunk.time_ms[0])
            if len(head) < 1000:
                head.extend(chunk.time_ms[: 1000 - len(head)].tolist())
            count += len(chunk)
            last = int(chunk.time_ms[-1])
        self.count = count
        step = int(np.median(np.diff(head))) if len(head) > 1 else 0
        self.span = last - first + step  # a wrap-around's shift: the times keep increasing
        self._chunks: Iterator[Candles] = iter(())
        self._chunk: Candles | None = None
        self._start = 0  # index of the held chunk's first candle

    def candle(self, i: int) -> Candles:
        """The candle at index `i` (0 <= i < count) as a one-candle chunk."""
        if not 0 <= i < self.count:
            raise IndexError(f"candle {i} of {self.count}")
        if self._chunk is None or i < self._start:
            self._chunks, self._start = iter_candles(self.source), 0
            self._chunk = self._next()
        while i >= self._start + len(self._chunk):
            self._start += len(self._chunk)
            self._chunk = self._next()
        k = i - self._start
        return self._chunk.slice(k, k + 1)

    def _next(self) -> Candles:
        chunk = next(self._chunks, None)
        if chunk is None:
            raise CandleError(f"{self.source}: fewer candles than the {self.count} it had when the run began")
        return chunk
