"""`gridbot check-config`: a config judged without running it, at the data's prices; the same judgement
refuses a backtest that could not trade. `gridbot new-config`: a commented config to start from (the same
files as examples/bot.yml and examples/live.yml)."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

import numpy as np

from gridbot.cli.common import failed
from gridbot.config.model import EXCHANGE, BotConfig, ConfigError, load_config
from gridbot.core import indicators
from gridbot.core.candles import CandleError
from gridbot.core.grid import atr_step_ratios
from gridbot.core.grid_plan import grid_problems_at, levels_that_trade, tradability_problems
from gridbot.ops.candle_files import iter_candles
from gridbot.ops.outputs import OutputError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    k = sub.add_parser("check-config", help="validate a config file without running")
    # Positional as the deploy role calls it, or -c as every other command takes it.
    k.add_argument("file", type=Path, nargs="?", help="the config (or -c)")
    k.add_argument("-c", "--config", type=Path, help="the config (or positional)")
    k.add_argument(
        "--data", default=None, help="judge the grid at this data's prices (default: config run.data)"
    )
    k.add_argument(
        "--offline",
        action="store_true",
        help="never ask the exchange for its market rules (it cannot be reached; the bot asks at its start)",
    )
    k.add_argument(
        "--funds",
        action="store_true",
        help="with the account's key, judge that an account shared with other bots funds them all, as the "
        "bot's first start does (exchange.account_shared_with)",
    )


def add_new_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    n = sub.add_parser("new-config", help="write a commented config to start from (paper; --live: live)")
    n.add_argument("file", type=Path, nargs="?", default=Path("bot.yml"), help="where (default: bot.yml)")
    n.add_argument("--live", action="store_true", help="a live config: real orders on an exchange account")
    n.add_argument("--force", action="store_true", help="replace the file if it exists")


def new_config(path: Path, *, live: bool, force: bool) -> int:
    """The starter written to `path` (never over an existing file unless `force`), in one rename: a file that
    is there is the whole starter."""
    text = (
        resources.files("gridbot.config") / "starters" / ("live.yml" if live else "paper.yml")
    ).read_text()
    if path.exists() and not force:
        raise OutputError(f"new-config: {path} exists: choose another name, or --force to replace it")
    tmp = path.with_name(f".{path.name}.new")
    try:
        tmp.write_text(text)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"new-config: {path}: {exc.strerror or exc}") from None
    kind = (
        "live: real orders once its credentials file is in place" if live else "paper: no money, no account"
    )
    print(f"wrote {path} ({kind}); next: gridbot check-config -c {path}")
    return 0


def config_file(args: argparse.Namespace) -> Path:
    """check-config's file, positional or -c (one of them)."""
    if args.file is not None and args.config is not None and args.file != args.config:
        raise ConfigError(f"check-config: two configs given ({args.file} and -c {args.config}): give one")
    path: Path | None = args.file or args.config
    if path is None:
        raise ConfigError("check-config: which config? give its file (or -c FILE)")
    return path


class Scan:
    """The data's price range, its first candle's, and with ATR spacing how many of its candles would give an
    unpayable grid."""

    def __init__(self, cfg: BotConfig, data: str) -> None:
        self.low, self.high, self.unpayable, self.judged = float("inf"), 0.0, 0, 0
        self.first_low = self.first_high = 0.0
        a = cfg.grid.atr_spacing
        state = indicators.atr_init(a.period)
        breakeven = 2 * cfg.market.maker_fee / (1 - cfg.market.maker_fee)
        for chunk in iter_candles(data):
            if len(chunk) and self.high == 0.0:
                self.first_low, self.first_high = float(chunk.low[0]), float(chunk.high[0])
            self.low, self.high = (
                min(self.low, float(chunk.low.min())),
                max(self.high, float(chunk.high.max())),
            )
            if a.enabled:
                atr, state = indicators.atr(chunk.high, chunk.low, chunk.close, a.period, state)
                ok = ~np.isnan(atr)
                steps = atr_step_ratios(chunk.close[ok], atr[ok], cfg.grid.levels, a.multiplier,
                                        cfg.grid.spacing)  # fmt: skip
                self.unpayable += int(np.sum(steps <= breakeven))
                self.judged += int(ok.sum())
        if self.high <= 0:
            raise CandleError(f"{data}: no candles")


def judge(cfg: BotConfig, source: str, data: str) -> Scan:
    """The data's scan; ConfigError naming each field that keeps the config from trading on it, with the
    nearest value that would. `data` is read whatever it names: an unreadable file is an error, never a
    guess."""
    scan = Scan(cfg, data)
    problems = grid_problems_at(cfg, scan.low, scan.high)
    if problems:
        n = levels_that_trade(cfg, scan.low, scan.high)
        nearest = f"\n  nearest that trades: grid.levels: {n}" if n is not None else ""
        where = f"{data}'s prices {scan.low:g}..{scan.high:g}"
        listed = "".join(f"\n  {p}" for p in problems)
        raise ConfigError(f"{source}: grid cannot be built at {where}:{listed}{nearest}")
    problems = tradability_problems(cfg, scan.low, scan.high, scan.first_low, scan.first_high)
    if problems:
        raise ConfigError(f"{source}: would not trade on {data}:" + "".join(f"\n  {p}" for p in problems))
    return scan


def check_config(path: Path, data: str | None, *, offline: bool = False, funds: bool = False) -> int:
    """Exit 0 when the config is valid and would trade across the data's prices, else 2. `offline`: not even
    an attempt at the exchange (ccxt is not loaded: seconds on a Pi). `funds`: the shared account's funds
    judged too, with its key, on the same look at the exchange (`live.preflight.check_on_exchange`)."""
    if offline and funds:
        raise ConfigError("check-config: --funds asks the exchange, --offline never does: give one")
    cfg = load_config(path)
    source = data or cfg.run.data
    scan = None
    notes = []
    if source == EXCHANGE:
        # No candles to judge prices by: what needs no price is judged (the budget against start_quote, a
        # refusal; against min_notional, a note: the exchange's own minimum is the one the bot trades by).
        problems = tradability_problems(cfg, 0.0, float("inf"), float("inf"), 0.0)
        budget = [p for p in problems if "above start_quote" in p]
        if budget:
            return failed(f"{path}: would not trade:" + "".join(f"\n  {p}" for p in budget), 2)
        notes = [p for p in problems if "min_notional" in p]
        where = "the exchange's prices when it runs (pass --data to judge the grid at past prices)"
    else:
        scan = judge(cfg, str(path), source)
        where = f"{source}'s prices {scan.low:g}..{scan.high:g}"
    if cfg.run.data == EXCHANGE and offline:
        where += "; not judged by the exchange (--offline)"
    elif cfg.run.data == EXCHANGE:  # its tick, lot, fee and open-order limit, when it can be reached
        from gridbot.live.preflight import check_on_exchange  # noqa: PLC0415  loads ccxt

        where += f"; {check_on_exchange(cfg, funds=funds)}"
    elif funds:  # a paper bot on past candles: no exchange, no account (a live bot trades the exchange's)
        from gridbot.live.preflight import funds_unjudged  # noqa: PLC0415

        where += f"; {funds_unjudged(cfg)}"
    print(f"{path}: ok ({cfg.mode} {cfg.market.symbol}, {cfg.grid.levels} levels, judged at {where})")
    if scan is not None and scan.unpayable:
        # Not an error: the engine skips those grids and keeps trading; the operator should know how often.
        print(f"{path}: note: on {scan.unpayable} of {scan.judged} candles the ATR grid's step would not pay "
              "twice the fee; the bot skips such grids (counted in grids_skipped): raise "
              "grid.atr_spacing.multiplier or lower grid.levels")  # fmt: skip
    for note in notes:
        print(f"{path}: note: {note}")
    if cfg.mode == "live" and not cfg.credentials_file.is_file():
        # A note, not a refusal: the deploy role checks the config before it writes the credentials beside it.
        print(f"{path}: note: exchange.credentials_file {cfg.credentials_file} does not exist: `gridbot run` "
              "refuses this live config until it does", file=sys.stdout)  # fmt: skip
    return 0
