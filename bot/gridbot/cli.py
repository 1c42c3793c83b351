"""`gridbot` command line: backtest, check-config, run, status, halt, resume, export, health.

Exit codes: 0 ok, 1 runtime failure, 2 bad input.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gridbot import __version__
from gridbot.config.model import EXCHANGE, BotConfig, ConfigError, load_config
from gridbot.contract import heartbeat_path
from gridbot.core import indicators
from gridbot.core.candles import CandleError
from gridbot.core.engine import GridEngine
from gridbot.core.grid import GridError, atr_step_ratios
from gridbot.core.grid_plan import grid_problems_at
from gridbot.ops import health
from gridbot.ops.candle_files import EMBEDDED, iter_candles
from gridbot.ops.csvsink import TRADE_FIELDS, TRIP_FIELDS, CsvSink

if TYPE_CHECKING:  # the store is imported where it is used: the backtest path never opens one
    from gridbot.ops.store import Store

NOMINAL_PRICE = 100.0  # what check-config judges a centred grid at when the data cannot be read


class OutputError(ValueError):
    """An output path the run could not write at its end: refused before any work."""


def _refuse_unwritable(directory: Path, what: str) -> None:
    """Create the directory and a file in it now, so a long run cannot fail at its last step."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        try:
            blocked = directory.exists() and not directory.is_dir()
        except OSError:  # a directory on the way that may not be searched
            blocked = False
        reason = "not a directory" if blocked else exc.strerror or exc
        raise OutputError(f"{what}: cannot write in {directory}: {reason}") from None


def _special(path: Path) -> bool:
    """/dev/null, /dev/stdout, a pipe: written in place, as there is no previous file to keep (and staging
    would replace the device with a regular file)."""
    try:
        return path.exists() and not path.is_file() and not path.is_dir()
    except OSError:  # a directory on the way that may not be searched: refused as unwritable
        return False


def _refuse_unwritable_file(path: Path, what: str) -> None:
    if _special(path):
        if not os.access(path, os.W_OK):
            raise OutputError(f"{what} {path}: cannot write it: permission denied")
        return
    try:
        is_dir = path.is_dir()
    except OSError as exc:  # pathlib only answers "no" for a missing path, not for a locked directory
        raise OutputError(f"{what} {path}: cannot write it: {exc.strerror}") from None
    if is_dir:
        raise OutputError(f"{what} {path}: is a directory, want a file name")
    _refuse_unwritable(path.resolve().parent, f"{what} {path}")


def _refuse_overwriting_inputs(inputs: dict[str, Path], outputs: dict[str, Path]) -> None:
    """A mistyped --trades naming the candle file would replace it at the end of the run (the rename does
    it without a word): an output that is an input, or another output, is refused before any work."""
    seen: dict[Path, str] = {}
    for what, path in [*inputs.items(), *outputs.items()]:
        if what not in inputs and _special(path):
            continue
        real = path.resolve()
        if real in seen:
            raise OutputError(f"{what} {path}: is also {seen[real]}; the run would overwrite it")
        seen[real] = f"{what} {path}" if what not in inputs else f"the {what}"


def _refuse_unknown_plot_format(plot: Path) -> None:
    """matplotlib picks the format from the suffix and refuses one it cannot write, but only at the end."""
    if importlib.util.find_spec("matplotlib") is None:
        raise ImportError(name="matplotlib")
    from matplotlib.backend_bases import FigureCanvasBase  # noqa: PLC0415  (optional, loaded on demand)

    if _special(plot):  # matplotlib would write beside it, as `null.png`: it names the format by the suffix
        raise OutputError(f"--plot {plot}: not a regular file; to draw no plot, leave --plot out")
    formats = FigureCanvasBase.get_supported_filetypes()
    if plot.suffix and plot.suffix[1:].lower() not in formats:
        raise OutputError(
            f"--plot {plot}: matplotlib cannot write {plot.suffix!r} images; name it .png, or "
            f"{', '.join(f'.{f}' for f in sorted(formats) if f != 'png')}"
        )


class _Staged:
    """Outputs written beside their targets (same filesystem, also on a read-only image with a writable
    /data) and renamed over them only when the whole run succeeded: a failed run leaves the previous
    files as they were."""

    def __init__(self) -> None:
        self._moves: list[tuple[Path, Path]] = []

    def path(self, target: Path, suffix: str | None = None) -> Path:
        # Keeps the suffix: matplotlib picks the image format from it. A symlinked target keeps its link (the
        # trades' round trips go beside the file it points to).
        if _special(target):
            return target
        target = target.resolve()
        tmp = target.with_name(f".{target.name}.{os.getpid()}{suffix or target.suffix}")
        tmp.unlink(missing_ok=True)
        self._moves.append((tmp, target))
        return tmp

    def __enter__(self) -> _Staged:
        return self

    def __exit__(self, failed: type[BaseException] | None, *_: object) -> None:
        for tmp, target in self._moves:
            if failed is None:
                os.replace(tmp, target)
            else:
                tmp.unlink(missing_ok=True)


def _warn(message: str) -> None:
    print(f"gridbot: {message}", file=sys.stderr)


def _progress(done: int, total: int | None) -> None:
    if total:
        width = 40
        filled = width * done // total
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} candles")
    else:
        sys.stderr.write(f"\r{done} candles")
    sys.stderr.flush()


def _roundtrips(trades: Path) -> Path:
    """Beside the trades; with them when the trades go to /dev/null or a pipe."""
    return trades if _special(trades) else trades.with_name(trades.stem + "-roundtrips.csv")


def backtest(
    cfg: BotConfig, data: str, trades: Path, plot: Path | None, show_progress: bool
) -> dict[str, float | int | str]:
    with _Staged() as staged:
        return _backtest(
            cfg, data, staged, trades if _special(trades) else trades.resolve(), plot, show_progress
        )


def _backtest(
    cfg: BotConfig, data: str, staged: _Staged, trades: Path, plot: Path | None, show_progress: bool
) -> dict[str, float | int | str]:
    ledger = CsvSink(staged.path(trades), TRADE_FIELDS)
    archive = CsvSink(staged.path(_roundtrips(trades)), TRIP_FIELDS)
    engine = GridEngine(cfg, ledger=lambda row, _fill: ledger.row(row), archive=archive.trip, log=_warn)
    try:
        for chunk in iter_candles(data):
            engine.run_chunk(chunk)
            if show_progress:
                _progress(engine.stats.candles, None)
    finally:
        ledger.close()
        archive.close()
    if show_progress:
        sys.stderr.write("\n")
    if plot is not None:
        from gridbot.ops.plot import plot_equity  # noqa: PLC0415  matplotlib is optional, loaded on demand

        plot_equity(engine, staged.path(plot, plot.suffix or ".png"))
    return engine.summary()


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


def check_config(path: Path, data: str | None) -> int:
    """Exit 0 when the config is valid and its grid can be built across the data's price range, else 2."""
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
        print(f"gridbot: {path}: grid cannot be built at {where}:", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 2
    if cfg.run.data == EXCHANGE:  # its tick, lot, fee and open-order limit, when it can be reached
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
        prog="gridbot", description="Pi-sized spot grid-trading bot (paper by default)."
    )
    p.add_argument("--version", action="version", version=f"gridbot {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("backtest", help="run the engine over candles and print a summary")
    b.add_argument("-c", "--config", type=Path, help="YAML config (defaults apply when omitted)")
    b.add_argument("--data", default=None, help="'embedded' or a CSV of ccxt OHLCV rows (default: config)")
    b.add_argument("--trades", type=Path, default=Path("trades.csv"), help="trades CSV to write")
    b.add_argument(
        "--plot", type=Path, help="draw price, grids, fills, equity vs buy-and-hold (PNG, needs matplotlib)"
    )
    b.add_argument("--json", action="store_true", help="print the summary as JSON")

    k = sub.add_parser("check-config", help="validate a config file without running")
    k.add_argument("config", type=Path)
    k.add_argument(
        "--data", default=None, help="judge the grid at this data's prices (default: config run.data)"
    )

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
    return p


def _store_command(cfg: BotConfig, args: argparse.Namespace) -> int:
    """status, halt, resume and export: through the store, which a running bot reads every cycle."""
    from gridbot.ops.store import DB_FILE, Store, StoreError  # noqa: PLC0415

    path = cfg.run.state_dir / DB_FILE
    if args.command in ("status", "export") and not path.exists():
        print(f"gridbot: no status saved yet in {path}", file=sys.stderr)
        return 1
    try:
        store = Store.open_in(cfg.run.state_dir)
    except StoreError as exc:
        print(f"gridbot: {exc}", file=sys.stderr)
        return 1
    try:
        if args.command == "status":
            # The image has no shell or cat: this is how an operator (and status.yml) reads a running bot.
            saved = store.snapshot()
            if saved is None:
                print(f"gridbot: no status saved yet in {path}", file=sys.stderr)
                return 1
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
            _export(store, args.trades)
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
        print(f"gridbot: {exc}", file=sys.stderr)
        return 1


def _export(store: Store, trades: Path) -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    with _Staged() as staged:
        out = CsvSink(staged.path(trades), TRADE_FIELDS)
        for f in store.fills():
            out.row({
                "date": datetime.fromtimestamp(f["time_ms"] / 1000, UTC).isoformat(), "side": f["side"],
                "amount": f["qty"], "price": f["price"], "fee": f["fee"], "fee_currency": f["fee_currency"],
                "realized_pnl": f["realized_pnl"],
            })  # fmt: skip
        out.close()
        trips = CsvSink(staged.path(_roundtrips(trades)), TRIP_FIELDS)
        for t in store.round_trips():
            trips.row({k: t[k] for k in TRIP_FIELDS})
        trips.close()


def _print_summary(summary: Mapping[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {value}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "health":
            return health.check(args.heartbeat)
        if args.command == "check-config":
            return check_config(args.config, args.data)
        cfg = load_config(args.config)
        if args.command in ("status", "halt", "resume", "export"):
            return _store_command(cfg, args)
        if args.command in ("backup", "restore"):
            return _backup_command(cfg, args)
        data = args.data or cfg.run.data
        inputs = {"config": args.config} if args.config else {}
        if data not in (EMBEDDED, EXCHANGE):
            inputs["candle data"] = Path(data)
        if args.command == "backtest":
            outputs = {"--trades": args.trades, "--trades' round trips": _roundtrips(args.trades).resolve()}
            _refuse_overwriting_inputs(inputs, outputs | ({"--plot": args.plot} if args.plot else {}))
            _refuse_unwritable_file(args.trades, "--trades")
            if args.plot is not None:
                _refuse_unwritable_file(args.plot, "--plot")
                _refuse_unknown_plot_format(args.plot)
            summary = backtest(cfg, data, args.trades, args.plot, sys.stderr.isatty())
            _print_summary(summary, args.json)
            return 0
        from gridbot.ops.service import STATE_FILES, run_service  # noqa: PLC0415  backtests need not load it
        from gridbot.ops.store import StoreError  # noqa: PLC0415

        state_dir = cfg.run.state_dir
        _refuse_overwriting_inputs(inputs, {f"run.state_dir's {n}": state_dir / n for n in STATE_FILES})
        _refuse_unwritable(state_dir, f"{args.config or 'config'}: run.state_dir")
        if taken := [n for n in STATE_FILES if (state_dir / n).is_dir()]:  # readable: written in just now
            raise OutputError(
                f"{args.config or 'config'}: run.state_dir {state_dir}: {taken[0]} is a directory"
            )

        try:
            if cfg.mode == "live" or data == EXCHANGE:
                from gridbot.live.trader import run_trader  # noqa: PLC0415  loads ccxt

                return run_trader(cfg, args.max_cycles)
            return run_service(cfg, data, args.max_cycles)
        except StoreError as exc:
            print(f"gridbot: {exc}", file=sys.stderr)
            return 1
    except (ConfigError, CandleError, GridError, OutputError) as exc:
        print(f"gridbot: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"gridbot: {exc.name} is not installed (pip install 'pifleet-gridbot[plot]')", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `gridbot backtest | head`: the reader is gone, as a shell tool stay quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's exit flush would complain
        return 141
    except OSError as exc:  # a disk that fills or fails mid-run: say so, without a traceback
        print(f"gridbot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a backtest stopped with Ctrl-C (the run loop handles SIGINT itself)
        print("\ngridbot: interrupted (a backtest leaves its previous outputs as they were)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
