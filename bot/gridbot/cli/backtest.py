"""`gridbot backtest`: the engine over candles, its summary, trades and plot."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path

from gridbot.cli.common import in_results
from gridbot.cli.config import judge
from gridbot.config.model import BotConfig
from gridbot.ops.backtest import backtest
from gridbot.ops.csvsink import roundtrips
from gridbot.ops.outputs import refuse_overwriting_inputs, refuse_unknown_plot_format, refuse_unwritable_file
from gridbot.ops.timerange import parse_timerange


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    b = sub.add_parser("backtest", help="run the engine over candles and print a summary")
    b.add_argument("-c", "--config", type=Path, help="YAML config (defaults apply when omitted)")
    b.add_argument("--data", default=None, help="'embedded' or a CSV of ccxt OHLCV rows (default: config)")
    b.add_argument("--results", type=Path, help="directory for its outputs (default: results/<config name>)")
    b.add_argument("--trades", type=Path, help="trades CSV to write (default: trades.csv in --results)")
    b.add_argument(
        "--plot", type=Path, help="draw price, grids, fills, equity vs buy-and-hold (PNG, needs matplotlib)"
    )
    b.add_argument("--json", action="store_true", help="print the summary as JSON")
    b.add_argument(
        "--timerange", help="the candles from START to END (YYYYMMDD-YYYYMMDD, UTC; either optional)"
    )


def run_backtest(args: argparse.Namespace, cfg: BotConfig, data: str, inputs: dict[str, Path]) -> int:
    trades = args.trades or in_results(args, "trades.csv")
    outputs = {"--trades": trades, "--trades' round trips": roundtrips(trades).resolve()}
    refuse_overwriting_inputs(inputs, outputs | ({"--plot": args.plot} if args.plot else {}))
    refuse_unwritable_file(trades, "--trades")
    if args.plot is not None:
        refuse_unwritable_file(args.plot, "--plot")
        refuse_unknown_plot_format(args.plot)
    judge(cfg, str(args.config or "config"), data)  # a config that cannot trade on the data: said, not run
    span = parse_timerange(args.timerange) if args.timerange else (None, None)
    summary = backtest(cfg, data, trades, args.plot, sys.stderr.isatty(), span)
    _print_summary(summary, args.json)
    return 0


def _print_summary(summary: Mapping[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {value}")
