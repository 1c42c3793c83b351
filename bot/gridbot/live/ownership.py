"""Which orders on the exchange are this bot's: its id prefix AND a state directory tag of its own lineage.

Two bots on one exchange account that share a `run.bot_id` (the default on every host, one API key in the
fleet's group variables) would each take the other's orders for its own if the prefix alone decided. The
last part of a client id is the tag of the state directory that placed it (`client_ids.new_epoch`), so an
order is ours only when its (prefix, tag) pair is one this store placed under: its current tag, every pair
found among the orders it holds, and the tags it had before a restore (`backup._new_id_epoch` keeps them in
`id_lineage`). The bot before a replacement placed its orders after the backup under the backup's tag, which
the restored store still holds: they stay ours. Another bot's orders, under its own tag, never are.

An order with our prefix and a tag outside the lineage means another bot on this account uses our id (or a
state directory was reset with its orders left resting): `gridbot run` refuses to start on it, naming them,
instead of trading beside orders it cannot tell apart (`namesakes`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from gridbot.live.client_ids import ClientId, split_client_id
from gridbot.ops.store import LINEAGE_CURSOR, Store


def _pair(cid: str) -> tuple[str, str] | None:
    head, parts, _ = split_client_id(cid)
    return None if parts is None else (head, parts.epoch)


@dataclass(frozen=True, slots=True)
class Ownership:
    epoch: str  # this state directory's tag, the one its new ids carry
    lineage: frozenset[tuple[str, str]]  # (bot id, tag) pairs this store placed orders under

    @classmethod
    def of(cls, store: Store, bot_id: str, epoch: str) -> Ownership:
        pairs = {(bot_id, epoch)}
        pairs.update(p for p in map(_pair, store.client_ids()) if p is not None)
        for entry in json.loads(store.cursor(LINEAGE_CURSOR) or "[]"):
            head, _, tag = str(entry).rpartition("-")
            pairs.add((head, tag))
        return cls(epoch, frozenset(pairs))

    def parts(self, cid: str) -> ClientId | None:
        """The grid order's parts of one of our client ids; None for an exit's or anyone else's."""
        head, parts, is_exit = split_client_id(cid)
        if parts is None or is_exit or (head, parts.epoch) not in self.lineage:
            return None
        return parts

    def is_exit(self, cid: str) -> bool:
        head, parts, is_exit = split_client_id(cid)
        return is_exit and parts is not None and (head, parts.epoch) in self.lineage

    def ours(self, cid: str) -> bool:
        return self.parts(cid) is not None or self.is_exit(cid)

    def namesakes(self, cids: Iterable[str]) -> list[str]:
        """Client ids under one of our prefixes, their tag not of our lineage: another bot's under our id."""
        prefixes = {head for head, _ in self.lineage}
        found = []
        for cid in cids:
            head, parts, _ = split_client_id(cid)
            if parts is not None and head in prefixes and (head, parts.epoch) not in self.lineage:
                found.append(cid)
        return found
