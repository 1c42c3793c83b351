"""`gridbot` command line: backtest, sweep, download, new-config, check-config, run, status, halt, resume,
export, backup, restore, health; a module per command group.

Exit codes: 0 ok, 1 runtime failure, 2 bad input; a failure says why in one line on stderr, `gridbot: REASON`
(as argparse's usage errors do). What a command answers goes to stdout, the log to stderr (`ops.logs`). The
commands' work lives in the layers below (ops: backtest, sweep, outputs, store, backup; live: run, download);
what stays here is each command's flags and the checks of its inputs and outputs before any work.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gridbot import __version__
from gridbot.cli import backtest, config, download, halt, run, state, sweep
from gridbot.cli.common import FAILURE, failed
from gridbot.config.model import EXCHANGE, ConfigError, load_config
from gridbot.core.candles import CandleError
from gridbot.core.grid import GridError
from gridbot.ops import health, logs
from gridbot.ops.candle_files import EMBEDDED
from gridbot.ops.outputs import OutputError


def _log_level(text: str) -> tuple[str, int]:
    try:
        return logs.parse_level(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gridbot",
        description="Pi-sized spot grid-trading bot (paper by default).",
        epilog=f"{logs.HELP}\n{FAILURE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"gridbot {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="more log lines: -v the bot's debug lines, -vv every library's too")  # fmt: skip
    p.add_argument("--log-level", action="append", default=[], type=_log_level, metavar="[LOGGER=]LEVEL",
                   help="the bot's log level, or one logger's (LOGGER=LEVEL); repeatable")  # fmt: skip
    sub = p.add_subparsers(dest="command", required=True)
    # What a user runs on the controller: backtests, sweeps, candle downloads, config checks.
    backtest.add_parser(sub)
    sweep.add_parser(sub)
    download.add_parser(sub)
    config.add_parser(sub)
    config.add_new_parser(sub)
    # The running bot's commands: its service, health, status, halts, exports and backups.
    run.add_health_parser(sub)
    state.add_status_parser(sub)
    halt.add_parser(sub)
    state.add_parsers(sub)
    run.add_run_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(args.verbose, args.log_level)
    try:
        if args.command == "health":
            return health.check(run.heartbeat_of(args))
        if args.command == "new-config":
            return config.new_config(args.file, live=args.live, force=args.force)
        if args.command == "check-config":
            return config.check_config(
                config.config_file(args), args.data, offline=args.offline, funds=args.funds
            )
        cfg = load_config(args.config)
        logs.name_bot(cfg.run.bot_id)
        if args.command == "sweep":
            return sweep.sweep(args, cfg if args.config else None)
        if args.command == "download":
            return download.download(args, cfg)
        if args.command in ("status", "gate", "halt", "resume", "export"):
            return state.store_command(cfg, args)
        if args.command in ("backup", "restore"):
            return state.backup_command(cfg, args)
        data = args.data or cfg.run.data
        inputs = {"config": args.config} if args.config else {}
        if data not in (EMBEDDED, EXCHANGE):
            inputs["candle data"] = Path(data)
        if args.command == "backtest":
            return backtest.run_backtest(args, cfg, data, inputs)
        return run.run_command(args, cfg, data, inputs)
    except (ConfigError, CandleError, GridError, OutputError) as exc:
        return failed(str(exc), 2)
    except ImportError as exc:
        return failed(f"{exc.name} is not installed (pip install 'pifleet-gridbot[plot]')", 2)
    except BrokenPipeError:  # `gridbot backtest | head`: the reader is gone, as a shell tool stay quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's exit flush would complain
        return 141
    except OSError as exc:  # a disk that fills or fails mid-run: say so, without a traceback
        return failed(str(exc), 1)
    except KeyboardInterrupt:  # a backtest stopped with Ctrl-C (the run loop handles SIGINT itself)
        sys.stderr.write("\n")  # past the progress bar's line
        return failed("interrupted (a backtest leaves its previous outputs as they were)", 130)
