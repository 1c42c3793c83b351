"""`gridbot check-config`: a config judged without running it."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gridbot.cli.common import failed
from gridbot.config.model import EXCHANGE, BotConfig, load_config
from gridbot.core import indicators
from gridbot.core.candles import CandleError
from gridbot.core.grid import atr_step_ratios
from gridbot.core.grid_plan import grid_problems_at
from gridbot.ops.candle_files import iter_candles

NOMINAL_PRICE = 100.0  # what check-config judges a centred grid at when the data cannot be read


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    k = sub.add_parser("check-config", help="validate a config file without running")
    k.add_argument("config", type=Path)
    k.add_argument(
        "--data", default=None, help="judge the grid at this data's prices (default: config run.data)"
    )
    k.add_argument(
        "--offline",
        action="store_true",
        help="never ask the exchange for its market rules (it cannot be reached; the bot asks at its start)",
    )


def _scan(cfg: BotConfig, data: str) -> tuple[float, float, int, int]:
    """The data's price range and, with ATR spacing, how many of its candles would give an unpayable grid."""
    low, high, unpayable, judged = float("inf"), 0.0, 0, 0
    a = cfg.grid.atr_spacing
    state = indicators.atr_init(a.period)
    breakeven = 2 * cfg.market.maker_fee / (1 - cfg.market.maker_fee)
    for chunk in iter_candles(data):
        low, high = min(low, float(chunk.low.min())), max(high, float(chunk.high.max()))
        if a.enabled:
            atr, state = indicators.atr(chunk.high, chunk.low, chunk.close, a.period, state)
            ok = ~np.isnan(atr)
            steps = atr_step_ratios(chunk.close[ok], atr[ok], cfg.grid.levels, a.multiplier, cfg.grid.spacing)
            unpayable += int(np.sum(steps <= breakeven))
            judged += int(ok.sum())
    if high <= 0:
        raise CandleError(f"{data}: no candles")
    return low, high, unpayable, judged


def check_config(path: Path, data: str | None, *, offline: bool = False) -> int:
    """Exit 0 when the config is valid and its grid can be built across the data's price range, else 2.
    `offline`: not even an attempt at the exchange (ccxt is not loaded: seconds on a Pi)."""
    cfg = load_config(path)
    source = data or cfg.run.data
    unpayable = judged = 0
    try:
        low, high, unpayable, judged = _scan(cfg, source)
        where = f"{source}'s prices {low:g}..{high:g}"
    except CandleError as exc:
        low = high = NOMINAL_PRICE
        where = f"an assumed price of {NOMINAL_PRICE:g} ({exc}; pass --data to judge real prices)"
    problems = grid_problems_at(cfg, low, high)
    if problems:
        return failed(f"{path}: grid cannot be built at {where}:" + "".join(f"\n  {p}" for p in problems), 2)
    if cfg.run.data == EXCHANGE and offline:
        where += "; not judged by the exchange (--offline)"
    elif cfg.run.data == EXCHANGE:  # its tick, lot, fee and open-order limit, when it can be reached
        from gridbot.live.preflight import check_on_exchange  # noqa: PLC0415  loads ccxt

        where += f"; {check_on_exchange(cfg)}"
    print(f"{path}: ok ({cfg.mode} {cfg.market.symbol}, {cfg.grid.levels} levels, judged at {where})")
    if unpayable:
        # Not an error: the engine skips those grids and keeps trading; the operator should know how often.
        print(f"{path}: note: on {unpayable} of {judged} candles the ATR grid's step would not pay twice the "
              "fee; the bot skips such grids (counted in grids_skipped): raise grid.atr_spacing.multiplier "
              "or lower grid.levels")  # fmt: skip
    return 0
