"""The Retry-After kept across restarts (live/quiet.py): what a new process makes of the file, whatever the
clock or the disk did in between."""

import pytest

from gridbot.live.quiet import MAX_WAIT_S, QuietFile


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


def test_a_shared_file_keeps_the_longer_wait_whoever_writes_last(tmp_path):
    """Bots behind one IP write one file: a shorter Retry-After given to one after a longer one given to
    another does not shorten the IP's wait."""
    one, other = QuietFile(tmp_path), QuietFile(tmp_path)
    one.write(1030.0, 1000.0)
    other.write(1005.0, 1001.0)
    assert one.left(1002.0) == pytest.approx(28.0)
    other.write(1040.0, 1003.0)
    assert one.left(1004.0) == pytest.approx(36.0)
    assert [p.name for p in tmp_path.iterdir()] == [one.path.name], "no writer's temporary file is left"
