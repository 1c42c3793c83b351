"""The order the live book hands its trades to the engine in: the engine books each fill as it comes, so a
sell booked before the buy that funded it would be more than the books hold (the engine refuses that)."""

from decimal import Decimal

from fakevenue import RULES

from gridbot.core.paper import Reach
from gridbot.live.book import LiveBook, LiveFill, LiveOrder
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
    return [(f.order.side, f.order.price) for f in book.fills(Reach(CANDLE, high=0.0, low=0.0))]


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
    assert book.open_orders() == [], "not the engine's until it decides it"
    again = book.place_limit("sell", 101.0, 0.1, 4)
    assert again is standing.order
    assert book.actions == [("adopt", standing)], "recorded as the engine's, nothing sent"
    assert list(book.orders) == ["gridbot-4s-9-old001"]
    book.actions.clear()
    other = book.place_limit("sell", 101.0, 0.2, 4)
    twice = book.place_limit("sell", 101.0, 0.1, 4)
    assert [(a, o.order) for a, o in book.actions] == [("place", other), ("place", twice)]
    assert standing.order not in (other, twice), "a found order stands for one decision only"


def found_sell() -> tuple[LiveBook, LiveOrder, Trade]:
    """A restored bot replaying: the bot before it sent a sell of 0.3 in the candle after CANDLE (decided on
    CANDLE), and 0.1 of it sold in that candle."""
    book = LiveBook(RULES, "gridbot", TF, 1, "p0w7ab", lambda _t: Decimal(0))
    found = book.found("gridbot-4s-9-old001", "sell", Decimal("101"), Decimal("0.3"), 4, CANDLE + TF + 1_000)
    part = Trade(
        "78", "6", found.client_id, "sell", Decimal(101), Decimal("0.1"), Decimal(0), "", CANDLE + TF + 9
    )
    assert book.feed(part, {})
    return book, found, part


def test_a_found_order_is_outside_the_engines_book_until_it_decides_it():
    """Before its candle the replay may regrid: the engine's cancels are not meant for the found order, and
    its level is free for the grid the engine decides then (were it the engine's, that grid would leave the
    level empty, and the order's later release a hole)."""
    book, found, part = found_sell()
    assert book.open_orders() == []
    assert book.best_ask() == float("inf")
    assert book.fills(Reach(CANDLE - TF, high=0.0, low=0.0)) == [], "its trade waits for its own candle"
    book.cancel_all()
    assert book.actions == []
    elsewhere = book.place_limit("sell", 103.0, 0.3, 4)  # the level, on another grid
    assert elsewhere is not None
    assert elsewhere is not found.order
    assert [kind for kind, _ in book.actions] == ["place"]
    assert book.waiting() == {"78"}
    assert book.release_found(CANDLE) == [], "the replay has not passed the candle it was sent in"
    assert book.release_found(CANDLE + TF) == [found]
    assert book.actions[1:] == [("cancel", found)], "the replay went another way: it is cancelled"
    assert book.orphans == [(found, part)], "and what it sold is booked all the same"
    assert book.place_limit("sell", 101.0, 0.3, 4) is not found.order


def test_a_found_partly_filled_order_is_taken_over_with_its_trades_counted_once():
    book, found, part = found_sell()
    assert book.place_limit("sell", 101.0, 0.3, 4, CANDLE) is found.order
    (fill,) = book.fills(Reach(CANDLE + TF, high=0.0, low=0.0))
    assert isinstance(fill, LiveFill)
    assert fill.trades == (part,)
    assert (fill.order.qty, fill.done) == (0.1, False)
    assert found.filled == Decimal("0.1")
    assert book.open_orders() == [found.order]
    assert found.order.qty == 0.2
    assert book.release_found(CANDLE + 2 * TF) == [], "the engine's own now"


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
    assert book.release_found(CANDLE) == []  # the engine has not passed the sale's candle yet
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
    assert book.release_found(CANDLE + TF) == [found]
    assert book.orphans == [(found, sale)]
    assert book.actions == [("found exit", found)]
    assert book.sell_at_market(0.1, 59000.0, 0.001, CANDLE + 2 * TF) is None  # a later exit is its own sale
    assert [kind for kind, _ in book.actions] == ["found exit", "market"]


def test_of_two_same_found_orders_each_stands_for_the_decision_it_was_sent_for():
    """A level's buy is the same after each round trip: the bot before sent one for the decision at CANDLE
    (it filled) and another for the one at CANDLE + 3 TF (resting). The replay's first decision takes the
    first, its second the second; an order sent before the candle decided is for an earlier decision."""
    book = LiveBook(RULES, "gridbot", TF, 1, "p0w7ab", lambda _t: Decimal(0))
    later = book.found("gridbot-2b-12-old001", "buy", Decimal("99"), Decimal("0.1"), 2, CANDLE + 4 * TF + 500)
    first = book.found("gridbot-2b-9-old001", "buy", Decimal("99"), Decimal("0.1"), 2, CANDLE + TF + 500)
    assert book.place_limit("buy", 99.0, 0.1, 2, CANDLE) is first.order
    assert book.place_limit("buy", 99.0, 0.1, 2, CANDLE + 4 * TF + 500) is not later.order
    assert book.place_limit("buy", 99.0, 0.1, 2, CANDLE + 3 * TF) is later.order
    assert [kind for kind, _ in book.actions] == ["adopt", "place", "adopt"]


def test_a_halts_cancel_reaches_the_found_orders():
    book, found, part = found_sell()
    book.cancel_all()
    assert book.actions == []
    book.cancel_found()
    assert book.actions == [("cancel", found)]
    assert book.orphans == [(found, part)]
    assert book.release_found(CANDLE + TF) == []
