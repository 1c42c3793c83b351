"""`gridbot run`, the long-running service, and `gridbot health`, its container healthcheck."""

from __future__ import annotations

import argparse
from pathlib import Path

from gridbot.cli.common import failed
from gridbot.config.model import EXCHANGE, BotConfig, ConfigError, load_config
from gridbot.contract import heartbeat_path
from gridbot.ops.outputs import OutputError, refuse_overwriting_inputs, refuse_unwritable


def add_health_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    h = sub.add_parser(
        "health", help="exit 0 while the run loop's heartbeat is fresh (container healthcheck)"
    )
    which = h.add_mutually_exclusive_group()
    which.add_argument("--heartbeat", type=Path, help="the heartbeat file (default: GRIDBOT_HEARTBEAT, or "
                       "the default state directory's)")  # fmt: skip
    which.add_argument("-c", "--config", type=Path, help="the bot's config: its run.heartbeat_file")


def heartbeat_of(args: argparse.Namespace) -> Path:
    """`gridbot health`'s heartbeat: --heartbeat, -c's run.heartbeat_file, or the default."""
    if args.config is not None:
        return load_config(args.config).run.heartbeat_file
    return args.heartbeat or Path(heartbeat_path())


def add_run_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("run", help="the long-running bot service (paper: replays candles forever)")
    r.add_argument("-c", "--config", type=Path)
    r.add_argument("--data", default=None, help="'embedded' or a CSV (default: config run.data)")
    r.add_argument("--max-cycles", type=int, default=None, help="stop after this many cycles (tests)")


def run_command(args: argparse.Namespace, cfg: BotConfig, data: str, inputs: dict[str, Path]) -> int:
    from gridbot.ops.service import STATE_FILES, run_service  # noqa: PLC0415  backtests need not load it
    from gridbot.ops.store import StoreError  # noqa: PLC0415

    if cfg.mode == "live":  # its credentials judged before the state directory is made
        from gridbot.live.credentials import read_credentials  # noqa: PLC0415

        try:
            read_credentials(cfg.credentials_file)
        except ValueError as exc:
            raise ConfigError(f"{args.config or 'config'}: exchange.credentials_file: {exc}") from None
    state_dir = cfg.run.state_dir
    refuse_overwriting_inputs(inputs, {f"run.state_dir's {n}": state_dir / n for n in STATE_FILES})
    refuse_unwritable(state_dir, f"{args.config or 'config'}: run.state_dir")
    if taken := [n for n in STATE_FILES if (state_dir / n).is_dir()]:  # readable: written in just now
        raise OutputError(f"{args.config or 'config'}: run.state_dir {state_dir}: {taken[0]} is a directory")

    try:
        if cfg.mode == "live" or data == EXCHANGE:
            from gridbot.live.run import run_trader  # noqa: PLC0415  loads ccxt

            return run_trader(cfg, args.max_cycles)
        return run_service(cfg, data, args.max_cycles)
    except StoreError as exc:
        return failed(str(exc), 1)
