"""The bot's state from outside: status, export (through the store), backup and restore."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from gridbot.cli.common import failed
from gridbot.cli.halt import halt_command
from gridbot.config.model import BotConfig
from gridbot.ops import health
from gridbot.ops.csvsink import export_store
from gridbot.ops.outputs import OutputError


def add_status_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("status", help="print the running bot's last saved status (JSON)")
    s.add_argument("-c", "--config", type=Path, help="the bot's config (for its state directory)")
    g = sub.add_parser(
        "gate",
        help="a rollout's verdict on a bot started at --since (JSON): 0 trading, 1 not trading (why), "
        "3 not ready yet",
    )
    g.add_argument("-c", "--config", type=Path, help="the bot's config (for its state directory)")
    g.add_argument("--since", required=True, help="when it started: an epoch or ISO 8601 (State.StartedAt)")
    g.add_argument("--max-api-errors", type=int, default=3, help="API errors within the hour that fail it")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def store_command(cfg: BotConfig, args: argparse.Namespace) -> int:
    """status, halt, resume and export: through the store, which a running bot reads every cycle."""
    from gridbot.ops.store import DB_FILE, Store, StoreError  # noqa: PLC0415

    path = cfg.run.state_dir / DB_FILE
    if args.command == "gate" and not path.exists():  # a bot whose store is not made yet is starting
        return _gate(None, None, None, args)
    if args.command in ("status", "export") and not path.exists():
        return failed(f"no status saved yet in {path}", 1)
    try:
        store = Store.open_in(cfg.run.state_dir)
    except StoreError as exc:
        return failed(str(exc), 1)
    try:
        if args.command == "status":
            # The image has no shell or cat: this is how an operator (and status.yml) reads a running bot.
            saved = store.snapshot()
            if saved is None:
                return failed(f"no status saved yet in {path}", 1)
            status = saved[3]
            halt = store.halt_state()
            if halt is not None:  # a halt asked for since the bot's last cycle shows at once
                status["halted"] = status.get("halted") or halt.reason
            # Added beside `saved` (an epoch, which halt.yml compares): whether a bot beats now, and when.
            running, _ = health.judge(cfg.run.heartbeat_file)
            status["running"] = running
            if isinstance(saved_s := status.get("saved"), int | float):
                status["saved_at"] = datetime.fromtimestamp(saved_s, UTC).isoformat(timespec="seconds")
            print(json.dumps(status, indent=2))
        elif args.command == "gate":
            saved, halt = store.snapshot(), store.halt_state()
            halted = (halt.reason, halt.since) if halt else None
            return _gate(saved.status if saved else None, halted, store.key_refused_at(), args)
        elif args.command in ("halt", "resume"):
            return halt_command(cfg, store, args)
        else:
            export_store(store, args.trades)
        return 0
    finally:
        store.close()


def _gate(
    status: dict[str, object] | None,
    halt: tuple[str, float] | None,
    key_refused_at: float | None,
    args: argparse.Namespace,
) -> int:
    from gridbot.ops.gate import judge, parse_since  # noqa: PLC0415

    try:
        since = parse_since(args.since)
    except ValueError as exc:
        return failed(str(exc), 2)
    if args.max_api_errors < 1:
        return failed(f"--max-api-errors must be 1 or more; got {args.max_api_errors}", 2)
    verdict = judge(status, halt, since, args.max_api_errors, key_refused_at)
    print(json.dumps(verdict.as_json()))
    return verdict.code


def backup_command(cfg: BotConfig, args: argparse.Namespace) -> int:
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
        return failed(str(exc), 1)
