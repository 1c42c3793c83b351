"""`gridbot` command line: backtest, sweep, download, check-config, run, status, halt, resume, export, backup,
restore, health.

Exit codes: 0 ok, 1 runtime failure, 2 bad input; a failure says why in one line on stderr, `gridbot: REASON`
(as argparse's usage errors do). What a command answers goes to stdout, the log to stderr (`ops.logs`). The
commands' work lives in the layers below (ops: backtest, sweep, outputs, store, backup; live: run, download);
what stays here is each command's flags and the checks of its inputs and outputs before any work, which is why
this module is ~470 lines.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gridbot import __version__
from gridbot.config.model import EXCHANGE, BotConfig, ConfigError, load_config
from gridbot.contract import heartbeat_path
from gridbot.core import indicators
from gridbot.core.candles import CandleError
from gridbot.core.grid import GridError, atr_step_ratios
from gridbot.core.grid_plan import grid_problems_at
from gridbot.ops import health, logs
from gridbot.ops.backtest import backtest
from gridbot.ops.candle_files import EMBEDDED, iter_candles
from gridbot.ops.csvsink import export_store, roundtrips
from gridbot.ops.outputs import (
    OutputError,
    refuse_overwriting_inputs,
    refuse_unknown_plot_format,
    refuse_unwritable,
    refuse_unwritable_file,
)

if TYPE_CHECKING:  # the store is imported where it is used: the backtest path never opens one
    pass

NOMINAL_PRICE = 100.0  # what check-config judges a centred grid at when the data cannot be read
RESULTS = Path("results")  # where a backtest's and a sweep's outputs go by default (git ignores it)
FAILURE = 'A command that fails says why in one line, "gridbot: REASON": exit 1 at run time, 2 on bad input.'


def _failed(message: str, code: int) -> int:
    """The command's answer when it fails: its reason on stderr, its exit code."""
    sys.stderr.write(f"gridbot: {message}\n")
    return code


def _in_results(args: argparse.Namespace, name: str) -> Path:
    """`name` in --results, by default results/<the config file's name> (`defaults` without -c): two configs'
    runs keep their own outputs, and none lands in the working directory."""
    return (args.results or RESULTS / (args.config.stem if args.config else "defaults")) / name


def _log_level(text: str) -> tuple[str, int]:
    try:
        return logs.parse_level(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
        return _failed(f"{path}: grid cannot be built at {where}:" + "".join(f"\n  {p}" for p in problems), 2)
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
    _backtest_commands(sub)
    _service_commands(sub)
    return p


def _backtest_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """What a user runs on the controller: backtests, sweeps, candle downloads, config checks."""
    b = sub.add_parser("backtest", help="run the engine over candles and print a summary")
    b.add_argument("-c", "--config", type=Path, help="YAML config (defaults apply when omitted)")
    b.add_argument("--data", default=None, help="'embedded' or a CSV of ccxt OHLCV rows (default: config)")
    b.add_argument("--results", type=Path, help="directory for its outputs (default: results/<config name>)")
    b.add_argument("--trades", type=Path, help="trades CSV to write (default: trades.csv in --results)")
    b.add_argument(
        "--plot", type=Path, help="draw price, grids, fills, equity vs buy-and-hold (PNG, needs matplotlib)"
    )
    b.add_argument("--json", action="store_true", help="print the summary as JSON")

    sw = sub.add_parser("sweep", help="backtest every combination of --set values on all cores, ranked")
    sw.add_argument("-c", "--config", type=Path, help="YAML config the values are set in (default: defaults)")
    sw.add_argument("--data", default=None, help="'embedded' or a CSV of ccxt OHLCV rows (default: config)")
    sw.add_argument(
        "--set",
        dest="sets",
        action="append",
        required=True,
        metavar="KEY=V1,V2,...",
        help="a dotted config key and its values, like grid.levels=10,20,40 (repeatable)",
    )
    sw.add_argument("--by", default="return_pct", help="ranking column: return_pct (default), realized_pnl, "
                    "max_drawdown_pct, round_trips, time_in_market_pct or fees")  # fmt: skip
    sw.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: cores)")
    sw.add_argument("--results", type=Path, help="directory for the table (default: results/<config name>)")
    sw.add_argument("--out", type=Path, help="the ranked table as CSV (default: sweep.csv in --results)")
    sw.add_argument("--plot", type=Path, help="heatmap of --by over the first two swept keys (matplotlib)")
    sw.add_argument("--best-config", type=Path, help="write the winner as a bot.yml")

    d = sub.add_parser("download", help="fetch an exchange's candles into a CSV for --data (resumable)")
    d.add_argument("-c", "--config", type=Path, help="config with exchange.id / api_url / sandbox to use")
    d.add_argument("--symbol", required=True, help="market, like BTC/USDT")
    d.add_argument("--timeframe", required=True, help="candle interval the exchange serves, like 5m or 1h")
    d.add_argument("--out", type=Path, required=True, help="CSV to write, or to continue when it exists")
    d.add_argument("--since", help="first candle: YYYY-MM-DD[THH:MM] UTC or ms (default: all history)")

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


def _service_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The running bot's commands: its service, health, status, halts, exports and backups."""
    h = sub.add_parser(
        "health", help="exit 0 while the run loop's heartbeat is fresh (container healthcheck)"
    )
    h.add_argument("--heartbeat", type=Path, default=Path(heartbeat_path()))

    s = sub.add_parser("status", help="print the running bot's last saved status (JSON)")
    s.add_argument("-c", "--config", type=Path, help="the bot's config (for its state directory)")

    hl = sub.add_parser("halt", help="stop trading (a running bot within a cycle; survives restarts)")
    hl.add_argument("-c", "--config", type=Path)
    hl.add_argument("--cancel", action="store_true", help="also cancel the resting orders")
    hl.add_argument("--reason", default="manual halt (gridbot halt)")

    rs = sub.add_parser("resume", help="lift a halt (manual or a kill switch's)")
    rs.add_argument("-c", "--config", type=Path)

    ex = sub.add_parser("export", help="write the store's fills and round trips as CSV")
    ex.add_argument("-c", "--config", type=Path)
    ex.add_argument("--trades", type=Path, required=True, help="trades CSV (round trips beside it)")

    bk = sub.add_parser("backup", help="a consistent copy of the store (online, while the bot runs)")
    bk.add_argument("-c", "--config", type=Path)
    bk.add_argument("--dest", type=Path, help="directory for backups (default: run.state_dir/backups)")
    bk.add_argument("--keep-days", type=float, default=7.0, help="drop this bot's backups older than this")
    bk.add_argument("--max-mb", type=float, default=512.0, help="then the oldest while they total more")

    rt = sub.add_parser("restore", help="put a backup in place of the store (bot stopped, old store kept)")
    rt.add_argument("backup", type=Path)
    rt.add_argument("-c", "--config", type=Path)

    r = sub.add_parser("run", help="the long-running bot service (paper: replays candles forever)")
    r.add_argument("-c", "--config", type=Path)
    r.add_argument("--data", default=None, help="'embedded' or a CSV (default: config run.data)")
    r.add_argument("--max-cycles", type=int, default=None, help="stop after this many cycles (tests)")


def _store_command(cfg: BotConfig, args: argparse.Namespace) -> int:
    """status, halt, resume and export: through the store, which a running bot reads every cycle."""
    from gridbot.ops.store import DB_FILE, Store, StoreError  # noqa: PLC0415

    path = cfg.run.state_dir / DB_FILE
    if args.command in ("status", "export") and not path.exists():
        return _failed(f"no status saved yet in {path}", 1)
    try:
        store = Store.open_in(cfg.run.state_dir)
    except StoreError as exc:
        return _failed(str(exc), 1)
    try:
        if args.command == "status":
            # The image has no shell or cat: this is how an operator (and status.yml) reads a running bot.
            saved = store.snapshot()
            if saved is None:
                return _failed(f"no status saved yet in {path}", 1)
            status = saved[3]
            halt = store.halt_state()
            if halt is not None:  # a halt asked for since the bot's last cycle shows at once
                status["halted"] = status.get("halted") or halt.reason
            print(json.dumps(status, indent=2))
        elif args.command == "halt":
            with store.cycle():
                store.set_halt(args.reason, args.cancel)
            print(f"gridbot: halted ({args.reason}){'; resting orders will be cancelled' * args.cancel}")
        elif args.command == "resume":
            with store.cycle():
                was = store.halt_state()
                store.clear_halt()
            print(f"gridbot: resumed{f' (was halted: {was.reason})' if was else ' (was not halted)'}")
        else:
            export_store(store, args.trades)
        return 0
    finally:
        store.close()


def _backup_command(cfg: BotConfig, args: argparse.Namespace) -> int:
    from gridbot.ops import backup  # noqa: PLC0415
    from gridbot.ops.store import StoreError  # noqa: PLC0415

    run = cfg.run
    try:
        if args.command == "backup":
            if args.keep_days < 0 or args.max_mb <= 0:
                raise OutputError("--keep-days must be >= 0 and --max-mb > 0")
            dest = args.dest or run.state_dir / "backups"
            b = backup.take_backup(run.state_dir, dest, run.bot_id, cfg.market.symbol)
            print(f"gridbot: backup {b.path} ({b.size} bytes, schema v{b.schema}, cycle {b.cycle}, "
                  f"sha256 {b.sha256})")  # fmt: skip
            cap = int(args.max_mb * 2**20)
            for gone in backup.prune(dest, run.bot_id, cfg.market.symbol, args.keep_days, cap, b.taken):
                print(f"gridbot: pruned {gone}")
            return 0
        kept = backup.restore(args.backup, run.state_dir, run.bot_id, cfg.market.symbol)
        print(f"gridbot: restored {args.backup} into {run.state_dir}"
              + (f" (the store it replaced is kept as {kept})" if kept else ""))  # fmt: skip
        return 0
    except StoreError as exc:
        return _failed(str(exc), 1)


def sweep(args: argparse.Namespace, base: BotConfig | None) -> int:
    from gridbot.ops import sweep as sw  # noqa: PLC0415  (multiprocessing, yaml dump: only a sweep needs them)

    if args.by not in sw.METRICS:
        raise ConfigError(f"--by {args.by}: want one of {', '.join(sw.METRICS)}")
    axes = [sw.parse_axis(text) for text in args.sets]
    if args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs}: want at least 1 worker")
    if args.plot is not None and len(axes) < 2:
        raise OutputError(f"--plot {args.plot}: a heatmap needs two swept keys, got {len(axes)} --set")
    combos = sw.combinations(base, axes)
    out = args.out or _in_results(args, "sweep.csv")
    outputs = {"--out": out} | {k: v for k, v in (("--plot", args.plot), ("--best-config",
               args.best_config)) if v is not None}  # fmt: skip
    data = args.data or (base or BotConfig()).run.data
    inputs = {"config": args.config} if args.config else {}
    refuse_overwriting_inputs(inputs | ({"candle data": Path(data)} if data != EMBEDDED else {}), outputs)
    for flag, path in outputs.items():
        refuse_unwritable_file(path, flag)
    if args.plot is not None:
        refuse_unknown_plot_format(args.plot)
    candles = sw.load_candles(data)
    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        width = 40
        sys.stderr.write(f"\r[{'#' * (width * done // total):.<{width}}] {done}/{total} backtests")
        sys.stderr.flush()

    outcome = sw.run_sweep(combos, candles, args.jobs, progress if tty else None)
    if tty:
        sys.stderr.write("\n")
    results = sw.ranked(outcome.results, args.by)
    header, rows = sw.table_rows(axes, results)
    sw.write_csv(out, header, rows)
    print(sw.format_table(header, rows))
    if outcome.interrupted:
        done = f"{len(results)} of {len(combos)} backtests done"
        return _failed(f"interrupted: {done}, written to {out}", 130)
    if args.best_config is not None and results:
        args.best_config.write_text(sw.best_config_yaml(base, axes, results[0]))
    if args.plot is not None:
        from gridbot.ops.sweep_plot import plot_heatmap  # noqa: PLC0415  matplotlib is optional

        plot_heatmap(axes, results, args.by, args.plot)
    return 0


def download(args: argparse.Namespace, cfg: BotConfig) -> int:
    from gridbot.live import download as dl  # noqa: PLC0415  loads ccxt
    from gridbot.live.ccxt_venue import CcxtVenue  # noqa: PLC0415
    from gridbot.live.venue import VenueError  # noqa: PLC0415

    try:
        since = dl.parse_since(args.since) if args.since else 0
        dl.check_symbol(args.symbol)
    except dl.DownloadError as exc:
        raise ConfigError(str(exc)) from None
    refuse_unwritable_file(args.out, "--out")
    x = cfg.exchange
    try:
        venue = CcxtVenue(x.id, args.symbol, api_url=x.api_url, sandbox=x.sandbox, timeout_s=x.timeout_s,
                          throttle=x.throttle)  # fmt: skip
    except ValueError as exc:
        raise ConfigError(f"{args.config or 'config'}: {exc}") from None
    done = dl.Report()
    resume = "the file is valid: run again to resume"
    tty = sys.stderr.isatty()

    def progress(report: dl.Report, step_ms: int) -> None:
        nonlocal done
        done = report
        if tty and report.first_ms is not None and report.last_ms is not None:
            now_ms = max(int(time.time() * 1000), report.last_ms + step_ms)
            part = (report.last_ms - report.first_ms) / max(now_ms - report.first_ms, 1)
            width = 40
            sys.stderr.write(f"\r[{'#' * int(width * part):.<{width}}] {dl.iso(report.last_ms)}  "
                             f"{report.written} candles")  # fmt: skip
            sys.stderr.flush()

    try:
        report = dl.download(venue, args.timeframe, args.out, since, progress)
    except dl.DownloadError as exc:
        raise ConfigError(str(exc)) from None
    except VenueError as exc:
        return _failed(f"download stopped after {done.written} candles ({resume}): {exc}", 1)
    except KeyboardInterrupt:
        return _failed(f"\ninterrupted after {done.written} candles ({resume})", 130)
    finally:
        if tty:
            sys.stderr.write("\n")
    span = (
        f" ({dl.iso(report.first_ms)} to {dl.iso(report.last_ms)})"
        if report.first_ms and report.last_ms
        else ""
    )
    print(f"{args.out}: {report.written} {args.timeframe} candles of {args.symbol} written{span}")
    if report.dropped_partial:
        print(f"{args.out}: a row cut short by an earlier interruption was dropped and fetched again")
    for gap in report.gaps:
        print(f"{args.out}: gap: {gap}")
    return 0


def _print_summary(summary: Mapping[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {value}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(args.verbose, args.log_level)
    try:
        if args.command == "health":
            return health.check(args.heartbeat)
        if args.command == "check-config":
            return check_config(args.config, args.data, offline=args.offline)
        cfg = load_config(args.config)
        logs.name_bot(cfg.run.bot_id)
        if args.command == "sweep":
            return sweep(args, cfg if args.config else None)
        if args.command == "download":
            return download(args, cfg)
        if args.command in ("status", "halt", "resume", "export"):
            return _store_command(cfg, args)
        if args.command in ("backup", "restore"):
            return _backup_command(cfg, args)
        data = args.data or cfg.run.data
        inputs = {"config": args.config} if args.config else {}
        if data not in (EMBEDDED, EXCHANGE):
            inputs["candle data"] = Path(data)
        if args.command == "backtest":
            trades = args.trades or _in_results(args, "trades.csv")
            outputs = {"--trades": trades, "--trades' round trips": roundtrips(trades).resolve()}
            refuse_overwriting_inputs(inputs, outputs | ({"--plot": args.plot} if args.plot else {}))
            refuse_unwritable_file(trades, "--trades")
            if args.plot is not None:
                refuse_unwritable_file(args.plot, "--plot")
                refuse_unknown_plot_format(args.plot)
            summary = backtest(cfg, data, trades, args.plot, sys.stderr.isatty())
            _print_summary(summary, args.json)
            return 0
        from gridbot.ops.service import STATE_FILES, run_service  # noqa: PLC0415  backtests need not load it
        from gridbot.ops.store import StoreError  # noqa: PLC0415

        state_dir = cfg.run.state_dir
        refuse_overwriting_inputs(inputs, {f"run.state_dir's {n}": state_dir / n for n in STATE_FILES})
        refuse_unwritable(state_dir, f"{args.config or 'config'}: run.state_dir")
        if taken := [n for n in STATE_FILES if (state_dir / n).is_dir()]:  # readable: written in just now
            raise OutputError(
                f"{args.config or 'config'}: run.state_dir {state_dir}: {taken[0]} is a directory"
            )

        try:
            if cfg.mode == "live" or data == EXCHANGE:
                from gridbot.live.run import run_trader  # noqa: PLC0415  loads ccxt

                return run_trader(cfg, args.max_cycles)
            return run_service(cfg, data, args.max_cycles)
        except StoreError as exc:
            return _failed(str(exc), 1)
    except (ConfigError, CandleError, GridError, OutputError) as exc:
        return _failed(str(exc), 2)
    except ImportError as exc:
        return _failed(f"{exc.name} is not installed (pip install 'pifleet-gridbot[plot]')", 2)
    except BrokenPipeError:  # `gridbot backtest | head`: the reader is gone, as a shell tool stay quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's exit flush would complain
        return 141
    except OSError as exc:  # a disk that fills or fails mid-run: say so, without a traceback
        return _failed(str(exc), 1)
    except KeyboardInterrupt:  # a backtest stopped with Ctrl-C (the run loop handles SIGINT itself)
        sys.stderr.write("\n")  # past the progress bar's line
        return _failed("interrupted (a backtest leaves its previous outputs as they were)", 130)


if __name__ == "__main__":
    sys.exit(main())
