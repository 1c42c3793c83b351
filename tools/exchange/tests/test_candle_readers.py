"""The exchange's candle reader against the bot's: two independent readers of the same data read the same
candles and refuse a broken file at the same line. The exchange is the tests' oracle; had it shared the bot's
reader, a bug in that reader would be in both and no test would see it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gridbot_exchange.data import load_series, synthetic_candles

from gridbot.core.candles import CandleError, Candles
from gridbot.live.download import HEADER, _rows
from gridbot.live.venue import Candle
from gridbot.ops.candle_files import iter_candles

T0 = 1_735_689_600_000
MINUTE = 60_000


def columns(c: Candles) -> list[tuple[str, list[float]]]:
    return [(str(a.dtype), a.tolist()) for a in (c.time_ms, *c.prices())]


def bots(source: str | Path) -> Candles:
    return Candles.concat(list(iter_candles(source)))


def test_embedded_data_read_the_same() -> None:
    assert columns(load_series("embedded").candles) == columns(bots("embedded"))


def download_csv(n: int) -> str:
    """n 1-minute candles as `gridbot download` writes them (past the bot's 8,192-row parse chunk)."""
    c = synthetic_candles(n, 3, 60_000.0, T0, MINUTE)
    rows = [Candle(int(t), *map(float, p)) for t, *p in zip(c.time_ms, *c.prices(), strict=True)]
    return HEADER + _rows(rows).decode()


def spreadsheet(text: str) -> str:
    """The rows as a spreadsheet may save them: no header, a BOM before the first row, CRLF, a comment and a
    blank line among them."""
    lines = text.splitlines()[1:]
    return "\ufeff" + "\r\n".join([*lines[:5], "# exported", "", *lines[5:]]) + "\r\n"


def savetxt(path: Path, n: int) -> None:
    """numpy's way, as the unified ccxt tests write their data: a '# ' header, fixed decimals."""
    c = synthetic_candles(n, 4, 3_000.0, T0, MINUTE)
    np.savetxt(
        path,
        np.column_stack([c.time_ms, *c.prices()]),
        fmt=["%d"] + ["%.8f"] * 5,
        delimiter=",",
        header=HEADER.strip(),
    )


@pytest.mark.parametrize("kind", ["download", "spreadsheet", "savetxt"])
def test_a_csv_reads_the_same(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "candles.csv"
    if kind == "savetxt":
        savetxt(path, 10_000)
    else:
        text = download_csv(10_000)
        path.write_text(spreadsheet(text) if kind == "spreadsheet" else text, newline="")
    exchange = load_series(str(path)).candles
    assert len(exchange) == 10_000
    assert columns(exchange) == columns(bots(path))


def row(i: int, prices: str = "100,102,99,101,5") -> bytes:
    return f"{T0 + i * MINUTE},{prices}\n".encode()


@pytest.mark.parametrize(
    ("lines", "bad"),
    [
        ([HEADER.encode(), row(0), row(1), row(2, "100,102,99,101")], 4),  # a column short
        ([row(0), row(1, "100,102,x,101,5"), row(2)], 2),
        ([row(0), row(1, "100,102,99,101,nan"), row(2)], 2),  # a NaN volume passes the OHLC checks
        ([f"{T0 // 1000},100,102,99,101,5\n".encode(), row(1), row(2)], 1),  # seconds
        ([row(0), f"{T0 + MINUTE + 0.5},100,102,99,101,5\n".encode(), row(2)], 2),
        ([row(0), row(1), row(1), row(2)], 3),  # a duplicate
        ([row(0).replace(b",", b" "), row(1), row(2)], 1),  # space-separated: data, not a header
        ([row(0), HEADER.encode(), row(1), row(2)], 2),  # column names after data
        ([row(0), row(1), row(2, "100,102,101,101,5")], 3),  # low above open
        ([row(0), row(1, "100,102,99,101,-5"), row(2)], 2),
        ([row(0), row(1), b"\xff" + row(2)], 3),  # not UTF-8
    ],
)
def test_a_broken_csv_is_refused_at_the_same_line(tmp_path: Path, lines: list[bytes], bad: int) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"".join(lines))
    with pytest.raises(CandleError) as exchange:
        load_series(str(path))
    with pytest.raises(CandleError) as bot:
        bots(path)
    assert (str(exchange.value).split(": ")[0], str(bot.value).split(": ")[0]) == (f"{path}:{bad}",) * 2
