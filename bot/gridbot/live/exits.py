"""Live exits (`exits.stop_loss`, `exits.take_profit`): the engine cancels its orders and asks for its own
inventory (its holdings, never the account's other coins) to be sold at market; the exchange executes it.

Exactly once across crashes: the sale is an intent in the store (its client id, `EXIT_LEVEL`) committed in
the cycle that decided it, with the engine's halt, before it is sent; the cancels go out first (they free the
coins resting sells hold). After a restart an unfinished sale is looked up by its client id: found, its
trades are booked as they come; not on the exchange past `run.unknown_order_deadline_s`, it is sent again
under a new client id, for what the engine still holds. Never twice: a market order fills at once, so a
second one under the same id would not be refused as a duplicate; a new one goes out only once the first is
known never to have arrived.

A store restored from a backup older than the sale never held it: its trades name it, it is looked up, and
the engine, replaying the candles since the backup, decides the same exit; the sale found stands for that
decision (`LiveBook.found_exit`), and its trades are booked then. Were it sent again, it would sell what the
account holds besides the bot's.
"""

from __future__ import annotations

EXIT_LEVEL = -1  # the store's level of an exit's market sale: no grid level, never adopted by the book


def exit_client_id(bot_id: str, seq: int, epoch: str) -> str:
    """`<bot>-x-<seq>-<tag>`: this bot's, but no grid order's (`client_ids.split_client_id`: no level).
    The state directory's tag, as on the grid's ids: a store restored from a backup counts its sequence from
    there under a new tag, and a sale it sends again must not reuse the id of one the bot before it sent (a
    market order is never open long enough for the exchange to refuse the id; a lookup by it would find the
    old sale)."""
    return f"{bot_id}-x-{seq}-{epoch}"
