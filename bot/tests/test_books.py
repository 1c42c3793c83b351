"""The bot's books against the exchange's, whatever the exchange does: real `gridbot run` processes against
the local exchange (the harness of test_trader.py), judged from the exchange's admin API."""

from gridbot_exchange.testing import Admin
from test_trader import Bot, Exchange, drive
from test_trader import bots as bots  # noqa: PLC0414  (the fixtures, shared)
from test_trader import exchange as exchange  # noqa: PLC0414

from gridbot.config.model import load_config
from gridbot.live import trader
from gridbot.ops.metrics import Metrics


def cancel_everything(bot: Bot) -> int:
    """The operator takes the bot's orders off the exchange (its own ccxt client): how many."""
    cfg = load_config(bot.cfg)
    venue = trader.make_venue(cfg, Metrics())
    venue.load_market(cfg.market.symbol)
    open_now = venue.open_orders()
    for o in open_now:
        venue.cancel(o.client_id)
    return len(open_now)


def test_client_ids_stay_unique_after_the_state_is_reset(tmp_path, exchange, bots):
    """The operator stops the bot, cancels its orders and starts it afresh on an empty state directory: the
    new sequence starts at 1 again, and no client id is used twice on the exchange."""
    ex: Exchange = exchange()
    first: Bot = bots(tmp_path / "before", ex.base)
    first.start()
    drive(ex, first, 10)
    assert first.term() == 0
    assert cancel_everything(first) > 0
    again: Bot = bots(tmp_path / "after", ex.base)
    again.start()
    drive(ex, again, 10)
    placed = [o["clientOrderId"] for o in ex.orders()]
    assert len(placed) >= 6
    dup = Admin(ex.base).call("GET", "duplicates")
    assert dup["count"] == 0, dup  # type: ignore[index]
    assert again.term() == 0
