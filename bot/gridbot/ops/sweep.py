"""`gridbot sweep`: the backtest over every combination of `--set key=v1,v2,...` values, on all cores.

Every combination is validated through the config model before any work, so a bad key or value is refused
naming it. The candles are read once, checked, and handed to the workers as one memory-mapped array (each
worker maps it once and runs the engine in-process over it in backtest chunks). Workers start by spawn:
nothing of the parent's state (threads, open files) is inherited. Results are ranked by one summary
column, ties in the order the combinations were given, so the same inputs give the same table.
"""

from __future__ import annotations

import csv
import difflib
import itertools
import multiprocessing
import os
import re
import signal
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel

from gridbot.config.model import BotConfig, ConfigError, parse_config
from gridbot.config.yamlread import parse_yaml
from gridbot.core.candles import CHUNK, CandleError, Candles
from gridbot.core.engine import GridEngine
from gridbot.ops.candle_files import iter_candles
from gridbot.ops.timerange import Range, within

# The table's columns after the swept keys, and which of them rank best when low.
METRICS = ("return_pct", "realized_pnl", "max_drawdown_pct", "round_trips", "time_in_market_pct", "fees")
LOWER_IS_BETTER = frozenset({"max_drawdown_pct", "fees"})

Scalar = str | int | float | bool | None
Summary = dict[str, float | int | str]


@dataclass(frozen=True)
class Axis:
    """One `--set`: a dotted config key and the values it takes."""

    key: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Combo:
    index: int  # the combination's place in the product of the axes: the tie-break
    values: tuple[Scalar, ...]
    config: BotConfig


@dataclass
class Result:
    combo: Combo
    summary: Summary


@dataclass
class Outcome:
    results: list[Result] = field(default_factory=list)
    interrupted: bool = False


def _known_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, info in model.model_fields.items():
        sub = info.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            yield from _known_keys(sub, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


KNOWN_KEYS = tuple(_known_keys(BotConfig))


# `10..40:5`: from 10 to 40 (included when the steps land on it) by 5; `10..40`: by 1
RANGE = re.compile(r"(-?\d+(?:\.\d+)?)\.\.(-?\d+(?:\.\d+)?)(?::(\d+(?:\.\d+)?))?")
MAX_RANGE = 10_000


def expand_range(key: str, text: str) -> list[Scalar]:
    """A range's values, counted in decimals (`0.1..0.3:0.1` is 0.1, 0.2, 0.3, not 0.30000000000000004);
    whole numbers stay integers."""
    match = RANGE.fullmatch(text)
    assert match is not None
    first, last, step = (Decimal(g) for g in match.groups(default="1"))
    if step <= 0 or last < first:
        raise ConfigError(
            f"--set {key}: range {text!r} is empty (want FIRST..LAST:STEP, FIRST <= LAST, STEP > 0)"
        )
    count = int((last - first) / step) + 1
    if count > MAX_RANGE:
        raise ConfigError(f"--set {key}: range {text!r} has {count} values (at most {MAX_RANGE})")
    whole = not any("." in g for g in match.groups(default="1"))
    return [int(first + k * step) if whole else float(first + k * step) for k in range(count)]


def _key_hint(key: str) -> str:
    """The nearest known key, and the keys of the section named (its own, not its subsections')."""
    guess = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
    hint = f"; did you mean {guess[0]}?" if guess else ""
    section = key.rpartition(".")[0]
    own = [k.rpartition(".")[2] for k in KNOWN_KEYS if k.rpartition(".")[0] == section] if section else []
    return hint + (f" ({section} has {', '.join(own)})" if own else "")


def parse_axis(text: str) -> Axis:
    """`grid.levels=10,20,40` -> Axis; the values are YAML scalars as in bot.yml (`null`, `true`, `off`), or
    ranges (`grid.levels=10..40:5`)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {text!r}: want KEY=VALUE[,VALUE...], like --set grid.levels=10,20,40")
    if key not in KNOWN_KEYS:
        raise ConfigError(f"--set {key}: no such config key{_key_hint(key)}")
    values: list[Scalar] = []
    for item in raw.split(","):
        if RANGE.fullmatch(item.strip()):
            values.extend(expand_range(key, item.strip()))
            continue
        value = parse_yaml(item.strip(), f"--set {key}") if item.strip() else ""
        if not item.strip() or not (value is None or isinstance(value, (str, int, float, bool))):
            raise ConfigError(f"--set {key}: {item!r} is not a value (want KEY=VALUE[,VALUE...])")
        values.append(value)
    if len(set(map(repr, values))) != len(values):
        raise ConfigError(f"--set {key}: a value given twice: {raw}")
    return Axis(key, tuple(values))


def _with(base: dict[str, object], key: str, value: Scalar) -> None:
    node = base
    *path, leaf = key.split(".")
    for part in path:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[leaf] = value


def overrides(base: BotConfig | None, axes: Sequence[Axis], values: Sequence[Scalar]) -> dict[str, object]:
    """The config as the user wrote it (fields left at their default stay out) with the values set."""
    data: dict[str, object] = base.model_dump(mode="json", exclude_unset=True) if base else {}
    for axis, value in zip(axes, values, strict=True):
        _with(data, axis.key, value)
    return data


def describe(axes: Sequence[Axis], values: Sequence[Scalar]) -> str:
    return " ".join(f"{a.key}={as_text(v)}" for a, v in zip(axes, values, strict=True))


def combinations(
    base: BotConfig | None, axes: Sequence[Axis], skipped: list[str] | None = None
) -> list[Combo]:
    """Every combination the model accepts. One it refuses (a cross-field rule: `grid.levels=40` with
    `grid.width_pct=6` would not pay the fee) is skipped, its reason added to `skipped`; a value no
    combination can use, or a sweep with none valid, is refused with the first reason, naming its keys."""
    keys = [a.key for a in axes]
    if twice := next((k for k in keys if keys.count(k) > 1), None):
        raise ConfigError(f"--set {twice}: given twice; put all its values in one --set")
    combos, refused = [], []
    for index, values in enumerate(itertools.product(*(a.values for a in axes))):
        try:
            cfg = parse_config(overrides(base, axes, values), f"sweep combination {describe(axes, values)}")
        except ConfigError as exc:
            refused.append((values, exc))
            continue
        combos.append(Combo(index, values, cfg))
    for k in range(len(axes)):  # a value in no valid combination is a bad value, not a bad combination
        used = {repr(c.values[k]) for c in combos}
        if bad := next(((v, e) for v, e in refused if repr(v[k]) not in used), None):
            raise bad[1]
    if skipped is not None:
        skipped.extend(str(exc) for _values, exc in refused)
    return combos


# --- workers --------------------------------------------------------------------------------------

_CANDLES: Candles | None = None


def _worker_start(rows_path: str) -> None:
    """Each worker maps the candles once; Ctrl-C is the parent's to handle (it stops the workers)."""
    global _CANDLES  # noqa: PLW0603  (a pool worker's one input, set once at its start)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    rows = np.load(rows_path, mmap_mode="r")
    # asarray: plain arrays over the mapping (numpy would wrap every result of a memmap's ops as one).
    _CANDLES = Candles(np.asarray(rows[0], dtype=np.int64), *(np.asarray(rows[i]) for i in range(1, 6)))


def backtest_summary(cfg: BotConfig, candles: Candles) -> Summary:
    engine = GridEngine(cfg)
    for start in range(0, len(candles), CHUNK):
        engine.run_chunk(candles.slice(start, start + CHUNK))
    return engine.summary()


def _work(combo: Combo) -> tuple[int, Summary]:
    assert _CANDLES is not None, "a sweep worker runs after _worker_start"
    return combo.index, backtest_summary(combo.config, _CANDLES)


def load_candles(data: str, span: Range = (None, None)) -> Candles:
    """The data (within `--timerange`), checked: a bad file is refused before any worker starts."""
    parts = list(within(iter_candles(data), span))
    if not parts:
        raise CandleError(f"{data}: no candles" + " within --timerange" * (span != (None, None)))
    return Candles.concat(parts)


def parse_holdout(text: str) -> float:
    """`--holdout 30%` (or 30): the share of the data, at its end, kept out of the choice."""
    try:
        pct = float(text.strip().removesuffix("%"))
    except ValueError:
        pct = float("nan")
    if not 0 < pct <= 90:  # nan fails too
        raise ConfigError(f"--holdout {text}: want a share of the data above 0 and up to 90%, like 30%")
    return pct


def split_holdout(candles: Candles, pct: float) -> tuple[Candles, Candles]:
    """(the candles a sweep chooses on, the later ones its winner is judged on); each at least two."""
    n = len(candles)
    cut = n - round(n * pct / 100)
    if cut < 2 or n - cut < 2:
        raise ConfigError(f"--holdout {pct:g}%: {n} candles split {cut} and {n - cut}: want at least 2 each")
    return candles.slice(0, cut), candles.slice(cut, n)


def span_text(candles: Candles) -> str:
    """`2025-01-01..2025-04-30 (34560 candles)`: which data a figure was measured on."""
    first, last = (datetime.fromtimestamp(int(ms) / 1000, UTC).strftime("%Y-%m-%d")
                   for ms in (candles.time_ms[0], candles.time_ms[-1]))  # fmt: skip
    return f"{first}..{last} ({len(candles)} candles)"


def run_sweep(
    combos: Sequence[Combo],
    candles: Candles,
    jobs: int,
    on_result: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Backtests of every combination on `jobs` processes. Ctrl-C (KeyboardInterrupt, here or raised by
    `on_result`) stops the workers at once and returns the results finished so far."""
    outcome = Outcome()
    by_index = {c.index: c for c in combos}
    with tempfile.TemporaryDirectory(prefix="gridbot-sweep-") as tmp:
        rows_path = str(Path(tmp) / "candles.npy")
        np.save(rows_path, np.vstack([candles.time_ms.astype(np.float64), *candles.prices()]))
        pool = multiprocessing.get_context("spawn").Pool(
            max(1, min(jobs, len(combos))), _worker_start, (rows_path,)
        )
        try:
            for index, summary in pool.imap_unordered(_work, combos):
                outcome.results.append(Result(by_index[index], summary))
                if on_result is not None:
                    on_result(len(outcome.results), len(combos))
            pool.close()
        except KeyboardInterrupt:
            outcome.interrupted = True
            pool.terminate()
        finally:
            pool.join()
    return outcome


# --- the table ------------------------------------------------------------------------------------


def ranked(results: Sequence[Result], by: str) -> list[Result]:
    """Best first by `by`; equal values keep the combinations' order (stable, whatever finished first)."""
    sign = 1 if by in LOWER_IS_BETTER else -1

    def key(r: Result) -> tuple[float, int]:
        return sign * float(r.summary[by]), r.combo.index

    return sorted(results, key=key)


HOLDOUT = ("return_pct", "max_drawdown_pct")  # each row's, on the held-out data, after its own columns


def table_rows(
    axes: Sequence[Axis], results: Sequence[Result], holdout: dict[int, Summary] | None = None
) -> tuple[list[str], list[list[str]]]:
    """The table, ranked as `results` are; with `holdout` (a combination's index: its summary there), the
    held-out data's return and drawdown of each row beside the figures it was ranked by."""
    later = [f"holdout_{m}" for m in HOLDOUT] if holdout is not None else []
    header = ["rank", *(a.key for a in axes), *METRICS, "halted", *later]
    rows = [
        [str(rank), *(as_text(v) for v in r.combo.values), *(str(r.summary[m]) for m in METRICS),
         halted(r.summary), *(str(holdout[r.combo.index][m]) for m in HOLDOUT if holdout is not None)]
        for rank, r in enumerate(results, start=1)
    ]  # fmt: skip
    return header, rows


def halted(summary: Summary) -> str:
    """Which kill switch or exit stopped the backtest, and on which day (`-`: it traded to the end)."""
    reason = str(summary["halted"])
    if not reason:
        return "-"
    kind = "drawdown" if reason.startswith("max drawdown") else reason.split(maxsplit=1)[0]
    return f"{kind} {str(summary['halted_at'])[:10]}"


def as_text(value: Scalar) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(line, widths, strict=True)) for line in [header, *rows]]
    return "\n".join(lines)


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """Whole or not at all: written beside the target, flushed to disk, renamed over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def best_config_yaml(base: BotConfig | None, axes: Sequence[Axis], best: Result) -> str:
    data = overrides(base, axes, best.combo.values)
    head = f"# gridbot sweep's best by its ranking: {describe(axes, best.combo.values)}\n"
    return head + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
