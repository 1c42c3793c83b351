"""The Retry-After kept across restarts (live/quiet.py): what a new process makes of the file, whatever the
clock or the disk did in between."""

import pytest

from gridbot.live.quiet import MAX_WAIT_S, IpQuiet, QuietFile


def test_the_wait_left_counts_from_now_and_ends(tmp_path):
    q = QuietFile(tmp_path)
    assert q.left(1000.0) == 0.0  # no file: nothing to wait for
    q.write(1010.0, 1000.0)
    assert q.left(1004.0) == pytest.approx(6.0)
    assert q.left(1010.0) == 0.0
    assert q.left(2000.0) == 0.0


def test_a_clock_that_went_back_waits_the_wait_as_given_not_the_skew(tmp_path):
    """A Pi without a clock battery boots an hour behind until NTP: the new process waits the 10 s it was
    told, not 10 s plus an hour."""
    q = QuietFile(tmp_path)
    q.write(1010.0, 1000.0)
    assert q.left(1000.0 - 3600) == pytest.approx(10.0)


@pytest.mark.parametrize("text", ["", "garbage", "1e400 1", "nan 1", "5 10", "1010", "1 2 3"])
def test_an_unreadable_file_is_no_wait(tmp_path, text):
    q = QuietFile(tmp_path)
    q.path.write_text(text)
    assert q.left(0.0) == 0.0


def test_no_wait_is_longer_than_binances_longest_ban(tmp_path):
    q = QuietFile(tmp_path)
    q.write(1e12, 0.0)
    assert q.left(1.0) == MAX_WAIT_S


def test_a_write_into_a_missing_directory_costs_the_guard_not_the_cycle(tmp_path):
    q = QuietFile(tmp_path / "gone")
    q.write(10.0, 0.0)  # no exception
    assert q.left(0.0) == 0.0


def test_bots_behind_one_ip_each_write_their_own_and_heed_each_others_once(tmp_path):
    """Two bots rate limited at once keep both waits (a file each: neither overwrites the other's); a bot
    heeds a neighbour's wait once, never its own, and a stale one not at all."""
    a, b, c = (IpQuiet(tmp_path, bot) for bot in ("pi5", "pi5-wide", "pi5-narrow"))
    a.write(1120.0, 1000.0)  # a 418's two minutes
    b.write(1005.0, 1000.0)  # a 429's five seconds, at the same moment
    assert c.news(1001.0) == pytest.approx(119.0)
    assert c.news(1002.0) == 0.0, "heeded once: its breaker holds it from then on"
    assert a.news(1001.0) == pytest.approx(4.0), "only the neighbour's, not its own"
    b.write(1050.0, 1010.0)
    assert c.news(1010.0) == pytest.approx(40.0), "a new wait is news"
    # a clock stepped back after a wait was heeded does not make it start over
    assert c.news(1010.0 - 3600) == 0.0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "rate_limited_until.pi5", "rate_limited_until.pi5-wide"]  # fmt: skip
    assert IpQuiet(tmp_path / "gone", "pi5").news(0.0) == 0.0
