"""A bot's client order ids: `<bot>-<level><b|s>-<seq>-<tag>` for a grid order, `<bot>-x-<seq>-<tag>` for an
exit's sale (`exits`). Deterministic, so a create whose answer was lost is looked up by the id it was sent
with; read back, they say which of an account's orders are this bot's (`ownership`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from gridbot.core.portfolio import Side

# Binance's newClientOrderId charset is [.A-Z:/a-z0-9_-], at most 36 characters.
MAX_CLIENT_ID = 36
# A state directory's own tag, the last part of each id: a reset (a new state directory) starts its sequence
# at 1 again, and Binance keeps client ids unique among open orders only, so a lookup by a reused id could
# find the old order. 6 characters of [a-z0-9]: two resets share a tag with odds of 1 in 2 billion.
EPOCH_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
EPOCH_LEN = 6


class ClientIdError(ValueError):
    """A client order id the exchange would refuse: never sent (an id cut short could name another order)."""


def new_epoch() -> str:
    return "".join(secrets.choice(EPOCH_CHARS) for _ in range(EPOCH_LEN))


def client_id(bot_id: str, level: int, side: Side, seq: int, epoch: str) -> str:
    """The bot, the level, the side, the placement sequence number and the state directory's tag. A real
    check, not an `assert` (gone under `python -O`): an id past the exchange's limit is an error, never
    sent."""
    cid = f"{bot_id}-{level}{side[0]}-{seq}-{epoch}"
    if len(cid) > MAX_CLIENT_ID:
        raise ClientIdError(
            f"client order id {cid!r} is {len(cid)} characters, the exchange takes at most {MAX_CLIENT_ID} "
            f"(run.bot_id {bot_id!r}, level {level}, sequence {seq})"
        )
    return cid


@dataclass(frozen=True, slots=True)
class ClientId:
    level: int
    side: Side
    seq: int
    epoch: str  # "" for an id made before ids had one


def split_client_id(cid: str) -> tuple[str, ClientId | None, bool]:
    """(prefix, the grid order's parts or None, whether it is an exit sale's id) of a client id in this
    project's shape, whoever's: `<bot>-<level><b|s>-<seq>[-<tag>]` or `<bot>-x-<seq>[-<tag>]` (`exits`)."""
    head, _, rest = cid.partition("-")
    what, _, tail = rest.partition("-")
    seq, _, epoch = tail.partition("-")
    if not seq.isdigit() or (epoch and (len(epoch) != EPOCH_LEN or any(c not in EPOCH_CHARS for c in epoch))):
        return head, None, False
    if what == "x":
        return head, ClientId(-1, "sell", int(seq), epoch), True
    if len(what) < 2 or what[-1] not in "bs" or not what[:-1].isdigit():
        return head, None, False
    return head, ClientId(int(what[:-1]), "buy" if what[-1] == "b" else "sell", int(seq), epoch), False


def client_id_parts(bot_id: str, cid: str) -> ClientId | None:
    """The parts of one of this bot's grid order ids (also of the older `bot-3b-17`, without a tag); None
    for an exit sale's and anyone else's."""
    head, parts, is_exit = split_client_id(cid)
    return parts if head == bot_id and not is_exit else None


def parse_client_id(bot_id: str, cid: str) -> tuple[int, Side] | None:
    """(level, side) of one of this bot's client ids; None for anyone else's."""
    parts = client_id_parts(bot_id, cid)
    return None if parts is None else (parts.level, parts.side)
