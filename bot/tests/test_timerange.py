"""`--timerange START-END` (freqtrade's form): parsed to UTC midnights, the candles within it in any
chunking, and a sweep over it judged against single backtests of those candles."""

import csv
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridbot.config.model import BotConfig, ConfigError
from gridbot.ops import sweep as sw
from gridbot.ops.candle_files import load_embedded
from gridbot.ops.timerange import parse_timerange, within

DAY = 86_400_000


@settings(max_examples=40, deadline=None)
@given(
    start=st.one_of(st.none(), st.integers(0, 170)),
    days=st.integers(1, 60),
    chunk=st.sampled_from([1000, 4096, 60_000]),
)
def test_the_candles_within_a_timerange_in_any_chunking(start, days, chunk):
    candles = load_embedded()
    day0 = datetime(2025, 1, 1, tzinfo=UTC)
    first = None if start is None else day0 + timedelta(days=start)
    end = (first or day0) + timedelta(days=days)
    text = f"{first:%Y%m%d}-{end:%Y%m%d}" if first else f"-{end:%Y%m%d}"
    span = parse_timerange(text)
    assert span == (None if first is None else int(first.timestamp() * 1000), int(end.timestamp() * 1000))
    parts = [candles.slice(i, i + chunk) for i in range(0, len(candles), chunk)]
    got = np.concatenate([c.time_ms for c in within(parts, span)] or [np.array([], dtype=np.int64)])
    lo, hi = span[0] or 0, span[1]
    want = candles.time_ms[(candles.time_ms >= lo) & (candles.time_ms < hi)]
    assert got.tolist() == want.tolist()


@pytest.mark.parametrize("text", ["2025-01-01", "20250101", "20250230-", "20250301-20250101", "-", "x-y"])
def test_a_timerange_that_is_no_range_is_refused_naming_it(text):
    with pytest.raises(ConfigError, match="--timerange"):
        parse_timerange(text)


def test_a_sweep_over_a_timerange_is_the_backtest_of_those_candles(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "gridbot.cli", "sweep", "--set", "grid.levels=8,16", "--timerange",
         "20250201-20250215", "--out", "s.csv", "--jobs", "1"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    with (tmp_path / "s.csv").open() as fh:
        rows = {r["grid.levels"]: r for r in csv.DictReader(fh)}
    candles = sw.load_candles("embedded", parse_timerange("20250201-20250215"))
    assert len(candles) == 14 * DAY // 300_000
    for levels in (8, 16):
        alone = sw.backtest_summary(BotConfig.model_validate({"grid": {"levels": levels}}), candles)
        assert float(rows[str(levels)]["return_pct"]) == alone["return_pct"]
        assert int(rows[str(levels)]["round_trips"]) == alone["round_trips"]


def test_a_backtest_over_a_timerange_starts_and_ends_there(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "gridbot.cli", "backtest", "--timerange", "20250201-20250215", "--json"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert (s["candles"], s["start"], s["end"]) == (
        14 * 288,
        "2025-02-01T00:00:00+00:00",
        "2025-02-14T23:55:00+00:00",
    )
    none = subprocess.run(
        [sys.executable, "-m", "gridbot.cli", "backtest", "--timerange", "20300101-"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert none.returncode == 2
    assert "no candles within --timerange" in none.stderr
