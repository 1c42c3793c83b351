"""Client order ids: ours by prefix, unique across state resets, never longer than the exchange takes (36)."""

import re
import subprocess
import sys
from decimal import Decimal

import pytest
from fakevenue import RULES
from hypothesis import given
from hypothesis import strategies as st

from gridbot.live.book import LiveBook
from gridbot.live.client_ids import (
    EPOCH_LEN,
    MAX_CLIENT_ID,
    ClientId,
    ClientIdError,
    client_id,
    client_id_parts,
    new_epoch,
    parse_client_id,
)

LONGEST_BOT = "B" * 12  # run.bot_id's limit
LEVEL = 499  # grid.levels is at most 500
BINANCE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")  # newClientOrderId's pattern


def test_an_id_at_the_limit_is_made_and_read_back():
    seq = 10**11 - 1  # 11 digits: 12 + len("-499s-") + 11 + len("-") + 6 = 36
    cid = client_id(LONGEST_BOT, LEVEL, "sell", seq, "zz09az")
    assert len(cid) == MAX_CLIENT_ID == 36
    assert parse_client_id(LONGEST_BOT, cid) == (LEVEL, "sell")
    assert client_id_parts(LONGEST_BOT, cid) == ClientId(LEVEL, "sell", seq, "zz09az")
    assert client_id("gridbot", 0, "buy", 1, "k3x9zq") == "gridbot-0b-1-k3x9zq"


def test_ids_made_before_the_tag_are_still_read_and_others_are_not_ours():
    assert client_id_parts("gridbot", "gridbot-3b-17") == ClientId(3, "buy", 17, "")
    for other in ("gridbot-3b-17-ABCDEF", "gridbot-3b-17-k3x9", "gridbot-3x-17", "other-3b-17-k3x9zq",
                  "gridbot-3b-x-k3x9zq", "gridbot-b-1"):  # fmt: skip
        assert client_id_parts("gridbot", other) is None, other


@given(st.integers(0, LEVEL), st.sampled_from(["buy", "sell"]), st.integers(1, 10**11 - 1))
def test_every_id_is_binances_and_reads_back(level, side, seq):
    epoch = new_epoch()
    cid = client_id(LONGEST_BOT, level, side, seq, epoch)
    assert BINANCE.match(cid)
    assert client_id_parts(LONGEST_BOT, cid) == ClientId(level, side, seq, epoch)


def test_an_exits_sale_carries_the_tag_so_a_restored_store_never_sends_an_id_again():
    """A store restored from a backup counts its sequence from the backup's, under a new tag: the sale it
    makes at a sequence the bot before it already used is not that sale's id (a lookup would find it)."""
    ids = []
    for epoch in ("k3x9zq", "p0w7ab"):  # the bot before the restore, and the restored one, at one sequence
        book = LiveBook(RULES, LONGEST_BOT, 300_000, 10**11 - 1, epoch, lambda _t: Decimal(0))
        book.sell_at_market(0.5, 50_000.0, 0.001, 0)
        ((kind, live),) = book.actions
        assert kind == "market"
        ids.append(live.client_id)
    assert ids == [f"{LONGEST_BOT}-x-{10**11 - 1}-k3x9zq", f"{LONGEST_BOT}-x-{10**11 - 1}-p0w7ab"]
    for cid in ids:
        assert BINANCE.match(cid)
        assert parse_client_id(LONGEST_BOT, cid) is None  # no grid level: never adopted by the book


def test_two_state_directories_tag_their_ids_apart():
    tags = {new_epoch() for _ in range(1000)}
    assert len(tags) == 1000
    assert {len(t) for t in tags} == {EPOCH_LEN}


@pytest.mark.parametrize(("bot", "seq"), [(LONGEST_BOT, 10**11), ("B" * 30, 1)])
def test_an_id_past_the_limit_is_an_error_that_names_it(bot, seq):
    with pytest.raises(ClientIdError, match=r"is [34]\d characters, the exchange takes at most 36"):
        client_id(bot, LEVEL, "buy", seq, "k3x9zq")


def test_the_limit_holds_under_python_with_asserts_stripped():
    """Not an `assert`: `python -O` (asserts stripped) refuses the id all the same."""
    code = (
        "from gridbot.live.client_ids import client_id; "
        f"client_id({LONGEST_BOT!r}, {LEVEL}, 'buy', 10**11, 'k3x9zq')"
    )
    out = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 1
    cid = f"{LONGEST_BOT}-{LEVEL}b-{10**11}-k3x9zq"
    assert f"ClientIdError: client order id {cid!r} is 37 characters" in out.stderr
