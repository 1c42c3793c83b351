"""The order the live book hands its trades to the engine in: the engine books each fill as it comes, so a
sell booked before the buy that funded it would be more than the books hold (the engine refuses that)."""

from decimal import Decimal

from fakevenue import RULES

from gridbot.live.book import LiveBook
from gridbot.live.venue import Trade

TF = 300_000  # 5-minute candles
CANDLE = 1_700_000_100_000 // TF * TF  # the candle being processed


def book_with(*orders: tuple[str, str, int]) -> tuple[LiveBook, dict[str, str]]:
    """A book holding one resting order per (side, price, level); their client ids by side and price."""
    book = LiveBook(RULES, "gridbot", TF, 1, "k3x9zq", lambda _t: Decimal(0))
    ids = {}
    for side, price, level in orders:
        placed = book.place_limit(side, float(price), 0.1, level)
        assert placed is not None
        ids[f"{side} {price}"] = next(c for c, o in book.orders.items() if o.order is placed)
    return book, ids


def feed(book: LiveBook, cid: str, side: str, price: str, time_ms: int, n: int) -> None:
    trade = Trade(str(n), str(n), cid, side, Decimal(price), Decimal("0.1"), Decimal(0), "", time_ms)
    assert book.feed(trade, {})


def booked(book: LiveBook) -> list[tuple[str, float]]:
    return [(f.order.side, f.order.price) for f in book.fills(0.0, 0.0, CANDLE)]


def test_a_candles_own_trades_come_in_the_paper_exchanges_order():
    book, ids = book_with(("buy", "99", 0), ("buy", "98", 1), ("sell", "101", 2), ("sell", "102", 3))
    for n, (key, at) in enumerate({"buy 98": 10, "sell 102": 20, "buy 99": 30, "sell 101": 40}.items()):
        side, price = key.split()
        feed(book, ids[key], side, price, CANDLE + at, n)
    assert booked(book) == [("sell", 101.0), ("sell", 102.0), ("buy", 99.0), ("buy", 98.0)]


def test_trades_of_earlier_candles_seen_late_come_first_in_the_exchanges_time_order():
    """A buy of two candles ago (its order declared lost, then adopted) and a sell of one candle ago (seen
    late): booked as the exchange made them, before this candle's sell that the old buy funded."""
    book, ids = book_with(("buy", "99", 0), ("sell", "100", 1), ("sell", "101", 2))
    feed(book, ids["sell 101"], "sell", "101", CANDLE + 5, 1)  # this candle's
    feed(book, ids["sell 100"], "sell", "100", CANDLE - TF + 7, 2)  # one candle ago
    feed(book, ids["buy 99"], "buy", "99", CANDLE - 2 * TF + 3, 3)  # two candles ago
    assert booked(book) == [("buy", 99.0), ("sell", 100.0), ("sell", 101.0)]
    assert book.waiting() == set()


def test_an_order_found_on_the_exchange_stands_for_the_engines_same_decision_once():
    """A restored bot replaying the candles since its backup meets the fills the bot before it met, and
    decides their counter-orders again: the one that bot placed, found on the exchange, is taken over (no
    second order, no action to send), once; another size at that level is a new order."""
    book = LiveBook(RULES, "gridbot", TF, 1, "k3x9zq", lambda _t: Decimal(0))
    standing = book.found("gridbot-4s-9-old001", "sell", Decimal("101"), Decimal("0.1"), 4, CANDLE)
    again = book.place_limit("sell", 101.0, 0.1, 4)
    assert again is standing.order
    assert book.actions == []
    assert list(book.orders) == ["gridbot-4s-9-old001"]
    other = book.place_limit("sell", 101.0, 0.2, 4)
    twice = book.place_limit("sell", 101.0, 0.1, 4)
    assert [(a, o.order) for a, o in book.actions] == [("place", other), ("place", twice)]
    assert standing.order not in (other, twice), "a found order stands for one decision only"


def test_a_found_exit_sale_stands_for_the_engines_exit_and_its_trades_wait_for_it():
    """A restored bot's exit sale sent by the bot before it: its trades wait (the trade cursor stays before
    them) until the engine, replaying, sells at market; then they are booked and no second sale goes out."""
    book = LiveBook(RULES, "gridbot", TF, 1, "p0w7ab", lambda _t: Decimal(0))
    found = book.found_exit("gridbot-x-9-k3x9zq", Decimal("0.3"), CANDLE + TF + 1_000)
    sale = Trade(
        "77", "5", "gridbot-x-9-k3x9zq", "sell", Decimal(59000), Decimal("0.3"), Decimal(0), "", CANDLE + TF
    )
    assert book.feed(sale, {})
    assert book.waiting() == {"77"}
    assert book.orphans == []
    assert book.release_found_exits(CANDLE) == []  # the engine has not passed the sale's candle yet
    assert book.sell_at_market(0.3, 59000.0, 0.001, CANDLE) is None
    assert book.orphans == [(found, sale)]
    assert book.actions == [("found exit", found)], "no second sale: the found one is recorded finished"


def test_a_found_exit_sale_the_replay_does_not_decide_is_booked_once_its_candle_is_passed():
    book = LiveBook(RULES, "gridbot", TF, 1, "p0w7ab", lambda _t: Decimal(0))
    found = book.found_exit("gridbot-x-9-k3x9zq", Decimal("0.3"), CANDLE + TF + 1_000)
    sale = Trade(
        "77", "5", "gridbot-x-9-k3x9zq", "sell", Decimal(59000), Decimal("0.3"), Decimal(0), "", CANDLE + TF
    )
    assert book.feed(sale, {})
    assert book.release_found_exits(CANDLE + TF) == [found]
    assert book.orphans == [(found, sale)]
    assert book.actions == [("found exit", found)]
    assert book.sell_at_market(0.1, 59000.0, 0.001, CANDLE + 2 * TF) is None  # a later exit is its own sale
    assert [kind for kind, _ in book.actions] == ["found exit", "market"]
