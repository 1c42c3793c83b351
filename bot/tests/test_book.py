"""Client order ids: deterministic, ours by prefix, and never longer than the exchange takes (36)."""

import subprocess
import sys

import pytest

from gridbot.live.book import MAX_CLIENT_ID, ClientIdError, client_id, parse_client_id

LONGEST_BOT = "B" * 12  # run.bot_id's limit
LEVEL = 499  # grid.levels is at most 500


def test_an_id_at_the_limit_is_made_and_read_back():
    seq = 10**18 - 1  # 18 digits: 12 + len("-499s-") + 18 = 36
    cid = client_id(LONGEST_BOT, LEVEL, "sell", seq)
    assert len(cid) == MAX_CLIENT_ID == 36
    assert parse_client_id(LONGEST_BOT, cid) == (LEVEL, "sell")
    assert client_id("gridbot", 0, "buy", 1) == "gridbot-0b-1"


@pytest.mark.parametrize(("bot", "seq"), [(LONGEST_BOT, 10**18), ("B" * 30, 1)])
def test_an_id_past_the_limit_is_an_error_that_names_it(bot, seq):
    with pytest.raises(ClientIdError, match=r"is 3\d characters, the exchange takes at most 36"):
        client_id(bot, LEVEL, "buy", seq)


def test_the_limit_holds_under_python_with_asserts_stripped():
    """Not an `assert`: `python -O` (asserts stripped) refuses the id all the same."""
    code = f"from gridbot.live.book import client_id; client_id({LONGEST_BOT!r}, {LEVEL}, 'buy', 10**18)"
    out = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 1
    cid = f"{LONGEST_BOT}-{LEVEL}b-{10**18}"
    assert f"ClientIdError: client order id {cid!r} is 37 characters" in out.stderr
