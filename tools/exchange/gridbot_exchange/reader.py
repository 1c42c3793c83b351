"""The exchange's own reader of its two candle sources: gridbot's embedded data set, and a ccxt OHLCV CSV as
`gridbot download` writes it. Independent of the bot's reader (`gridbot.ops.candle_files`) on purpose: the
exchange is the tests' oracle, and an oracle parsing with the bot's code would agree with the bot's bugs."""

from __future__ import annotations

import csv
import math
from array import array
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np

from gridbot.core.candles import CandleError, Candles, validate

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
WANT = f"{len(COLUMNS)} columns [{', '.join(COLUMNS)}]"
# Milliseconds since 1970 from 1973 to 5138: below are seconds, above micro- or nanoseconds.
MIN_MS, MAX_MS = 10**11, 10**14
PACKED = (b"\x1f\x8b", b"PK")  # gzip, zip: the bot unpacks them, the exchange reads plain CSV only


def read_embedded() -> Candles:
    """gridbot's embedded data set (5-minute BTC/USDT candles), a data file of the gridbot package."""
    data = resources.files("gridbot") / "data" / "btcusdt_5m.npz"
    with data.open("rb") as fh, np.load(fh) as z:
        return Candles(z["time_ms"].astype(np.int64), *(z[k].astype(np.float64) for k in COLUMNS[1:]))


def read_csv(path: Path) -> Candles:
    """Rows of ms timestamp, open, high, low, close, volume; blank lines and '#' comments are skipped, and one
    line of column names may come before the data. CandleError names the file's line that is wrong."""
    values = array("d")  # flat: a year of 1-minute rows is 25 MB here, several times that as lists of floats
    lines = array("q")
    header_allowed = True
    reader = csv.reader(_text_lines(path))
    try:
        for row in reader:
            if not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            if header_allowed and _is_header(row):
                header_allowed = False
                continue
            header_allowed = False
            values.extend(_candle(row, f"{path}:{reader.line_num}"))
            lines.append(reader.line_num)
    except OSError as exc:
        raise CandleError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except csv.Error as exc:
        raise CandleError(f"{path}:{reader.line_num}: not CSV text ({exc})") from None
    candles = Candles.from_rows(np.frombuffer(values, dtype=np.float64))
    validate(candles, str(path), np.frombuffer(lines, dtype=np.int64))
    return candles


def _text_lines(path: Path) -> Iterator[str]:
    """The file's lines, decoded one by one so that a byte that is not UTF-8 is reported with its line."""
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            try:
                yield line.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError:
                packed = " (a gzip or zip file? unpack it)" if lineno == 1 and line.startswith(PACKED) else ""
                raise CandleError(f"{path}:{lineno}: not UTF-8 text{packed}") from None


def _is_header(row: list[str]) -> bool:
    """Column names: no field is a number, some have letters (a line of dates is data, refused as such)."""
    return not any(map(_is_number, row)) and any(c.isalpha() for c in "".join(row))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _candle(row: list[str], where: str) -> list[float]:
    if len(row) != len(COLUMNS):
        raise CandleError(f"{where}: want {WANT}, got {len(row)} columns: {row}")
    try:
        values = [float(x) for x in row]
    except ValueError:
        raise CandleError(f"{where}: not a number in {row}") from None
    if not all(map(math.isfinite, values)):
        raise CandleError(f"{where}: not a finite number in {row}")
    if not (values[0].is_integer() and MIN_MS <= values[0] < MAX_MS):
        raise CandleError(
            f"{where}: timestamp {row[0].strip()} is not whole milliseconds since 1970 (from 1973 to 5138)"
        )
    return values
