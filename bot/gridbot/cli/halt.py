"""`gridbot halt` and `gridbot resume`: through the store, which a running bot reads every cycle."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the store (sqlite3) loads only for the commands that open it
    from gridbot.config.model import BotConfig
    from gridbot.ops.store import Store


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hl = sub.add_parser("halt", help="stop trading (a running bot within a cycle; survives restarts)")
    hl.add_argument("-c", "--config", type=Path)
    hl.add_argument("--cancel", action="store_true", help="also cancel the resting orders")
    hl.add_argument("--reason", default="manual halt (gridbot halt)")

    rs = sub.add_parser("resume", help="lift a halt (manual or a kill switch's)")
    rs.add_argument("-c", "--config", type=Path)


def halt_command(cfg: BotConfig, store: Store, args: argparse.Namespace) -> int:
    """What the halt or the resume will do, said plainly: a stopped bot carries it out when it starts."""
    running = _running(cfg.run.state_dir)
    when = (
        "within a cycle"
        if running
        else "when it starts (it is not running: until then they stay on the exchange)"
    )
    if args.command == "halt":
        with store.cycle():
            store.set_halt(args.reason, args.cancel)
        cancel = args.cancel or cfg.risk.cancel_on_halt
        print(f"gridbot: halted ({args.reason}){f'; its resting orders are cancelled {when}' * cancel}")
        return 0
    with store.cycle():
        was, owed = store.resume(cfg.risk.cancel_on_halt)
    said = f" (was halted: {was.reason})" if was else " (was not halted)"
    # the halt's cancel, not carried out yet, is not dropped: the bot cancels, then places its grid afresh
    owed_said = f"; the halt asked to cancel its resting orders: cancelled {when}, then the grid placed again"
    print(f"gridbot: resumed{said}{owed_said * owed}")
    return 0


def _running(state_dir: Path) -> bool:
    """Whether a `gridbot run` holds the state (its run lock)."""
    from gridbot.ops.runlock import RunLock  # noqa: PLC0415
    from gridbot.ops.store import StoreError  # noqa: PLC0415

    try:
        RunLock(state_dir, "gridbot halt").release()
    except StoreError:
        return True
    return False
