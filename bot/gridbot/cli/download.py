"""`gridbot download`: an exchange's candles into a CSV for --data, resumable."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gridbot.cli.common import failed
from gridbot.config.model import BotConfig, ConfigError
from gridbot.ops.outputs import refuse_unwritable_file
from gridbot.ops.timerange import parse_timerange


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser("download", help="fetch an exchange's candles into a CSV for --data (resumable)")
    d.add_argument("-c", "--config", type=Path, help="config with exchange.id / api_url / sandbox to use")
    d.add_argument("--symbol", required=True, help="market, like BTC/USDT")
    d.add_argument("--timeframe", required=True, help="candle interval the exchange serves, like 5m or 1h")
    d.add_argument("--out", type=Path, required=True, help="CSV to write, or to continue when it exists")
    when = d.add_mutually_exclusive_group()
    when.add_argument("--since", help="first candle: YYYY-MM-DD[THH:MM] UTC or ms (default: all history)")
    when.add_argument("--timerange", help="START-END as YYYYMMDD (UTC), either side optional, as backtest's")


def download(args: argparse.Namespace, cfg: BotConfig) -> int:
    from gridbot.live import download as dl  # noqa: PLC0415  loads ccxt
    from gridbot.live.ccxt_venue import CcxtVenue  # noqa: PLC0415
    from gridbot.live.venue import VenueError  # noqa: PLC0415

    try:
        since, until = parse_timerange(args.timerange) if args.timerange else (None, None)
        since = dl.parse_since(args.since) if args.since else since or 0
        dl.check_symbol(args.symbol)
    except dl.DownloadError as exc:
        raise ConfigError(str(exc)) from None
    asked = f"--since {args.since}" if args.since else f"--timerange {args.timerange}" * bool(args.timerange)
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
            # up to the newest closed candle by the exchange's clock: a replaying exchange's now is not ours
            newest = max((report.now_ms or int(time.time() * 1000)) - step_ms, report.last_ms)
            part = (report.last_ms - report.first_ms) / max(newest - report.first_ms, 1)
            width = 40
            sys.stderr.write(f"\r[{'#' * int(width * part):.<{width}}] {dl.iso(report.last_ms)}  "
                             f"{report.written} candles")  # fmt: skip
            sys.stderr.flush()

    try:
        report = dl.download(venue, args.timeframe, args.out, since, progress, until)
    except dl.StartError as exc:
        raise ConfigError(f"{asked or 'download'}: {exc}") from None
    except dl.DownloadError as exc:
        raise ConfigError(str(exc)) from None
    except VenueError as exc:
        return failed(f"download stopped after {done.written} candles ({resume}): {exc}", 1)
    except KeyboardInterrupt:
        return failed(f"\ninterrupted after {done.written} candles ({resume})", 130)
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
