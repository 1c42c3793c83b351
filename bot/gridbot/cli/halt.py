"""`gridbot halt` and `gridbot resume`: through the store, which a running bot reads every cycle."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the store (sqlite3) loads only for the commands that open it
    from gridbot.ops.store import Store


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hl = sub.add_parser("halt", help="stop trading (a running bot within a cycle; survives restarts)")
    hl.add_argument("-c", "--config", type=Path)
    hl.add_argument("--cancel", action="store_true", help="also cancel the resting orders")
    hl.add_argument("--reason", default="manual halt (gridbot halt)")

    rs = sub.add_parser("resume", help="lift a halt (manual or a kill switch's)")
    rs.add_argument("-c", "--config", type=Path)


def halt_command(store: Store, args: argparse.Namespace) -> int:
    if args.command == "halt":
        with store.cycle():
            store.set_halt(args.reason, args.cancel)
        print(f"gridbot: halted ({args.reason}){'; resting orders will be cancelled' * args.cancel}")
    else:
        with store.cycle():
            was = store.halt_state()
            store.clear_halt()
        print(f"gridbot: resumed{f' (was halted: {was.reason})' if was else ' (was not halted)'}")
    return 0
