"""`--timerange START-END` (freqtrade's form, `20250101-20250301`, either side may be left out): the candles
from START's midnight (UTC) up to, not including, END's."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import numpy as np

from gridbot.config.model import ConfigError
from gridbot.core.candles import Candles

_FORM = re.compile(r"(\d{8})?-(\d{8})?")
Range = tuple[int | None, int | None]  # (first ms included, first ms excluded)


def parse_timerange(text: str) -> Range:
    match = _FORM.fullmatch(text.strip())
    if match is None or match.groups() == (None, None):
        raise ConfigError(
            f"--timerange {text}: want START-END as YYYYMMDD, like 20250101-20250301 (either may be left out)"
        )
    start, end = (None if day is None else _ms(day, text) for day in match.groups())
    if start is not None and end is not None and end <= start:
        raise ConfigError(f"--timerange {text}: the end is not after the start")
    return start, end


def _ms(day: str, text: str) -> int:
    try:
        return int(datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC).timestamp() * 1000)
    except ValueError:
        raise ConfigError(f"--timerange {text}: {day} is not a date (YYYYMMDD)") from None


def within(chunks: Iterable[Candles], span: Range) -> Iterator[Candles]:
    """The candles of `span` (times increase: a chunk past the end stops the reading)."""
    start, end = span
    for c in chunks:
        first = 0 if start is None else int(np.searchsorted(c.time_ms, start))
        last = len(c) if end is None else int(np.searchsorted(c.time_ms, end))
        if first < last:
            yield c.slice(first, last)
        if last < len(c):
            return
