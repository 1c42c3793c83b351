"""The process's log (`gridbot.ops.logs`): one line per event naming the bot and the host, whichever logger
made it, at the levels the command line asked for (`-v`, `--log-level`)."""

import logging

import pytest

from gridbot.ops import logs

EVENTS = {  # message: (logger, level)
    "trader debug": ("gridbot.live.trader", logging.DEBUG),
    "trader info": ("gridbot.live.trader", logging.INFO),
    "calls debug": ("gridbot.live.ccxt_calls", logging.DEBUG),
    "urllib3 debug": ("urllib3", logging.DEBUG),
    "urllib3 warning": ("urllib3", logging.WARNING),
}


@pytest.fixture(autouse=True)
def _as_a_command_starts():
    yield
    logs.configure()  # what the next `gridbot` command in this process starts from


def test_an_event_is_one_line_whatever_its_text_holds(capsys):
    logs.configure()
    logs.name_bot("pi5a")
    logging.getLogger("gridbot.live.trader").error('exchange error: {\n  "code": -1013\n}')
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("ERROR bot=pi5a host=")
    assert line.endswith(' gridbot.live.trader: exchange error: {\\n  "code": -1013\\n}')


@pytest.mark.parametrize(
    ("verbose", "levels", "shown"),
    [
        (0, [], ["trader info", "urllib3 warning"]),
        (1, [], ["trader debug", "trader info", "calls debug", "urllib3 warning"]),
        (2, [], list(EVENTS)),
        (0, ["gridbot.live.ccxt_calls=debug"], ["trader info", "calls debug", "urllib3 warning"]),
        (0, ["warning"], ["urllib3 warning"]),
        (1, ["urllib3=error", "gridbot.live=info"], ["trader info"]),
    ],
)
def test_the_levels_asked_for_show_those_events_and_no_others(capsys, verbose, levels, shown):
    logs.configure(verbose, [logs.parse_level(text) for text in levels])
    for message, (name, level) in EVENTS.items():
        logging.getLogger(name).log(level, message)
    assert [line.split(": ", 1)[1] for line in capsys.readouterr().err.splitlines()] == shown


def test_a_command_starts_from_the_defaults_whatever_the_one_before_asked(capsys):
    logs.configure(2, [logs.parse_level("gridbot.live.ccxt_calls=debug")])
    logs.name_bot("pi5a")
    logs.configure()
    logging.getLogger("gridbot.live.ccxt_calls").debug("not shown")
    logging.getLogger("urllib3").info("not shown")
    logging.getLogger("gridbot.live.trader").info("shown")
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("INFO bot=- ")


@pytest.mark.parametrize("text", ["loud", "gridbot.live=", "=info", "trace"])
def test_a_level_it_does_not_know_is_refused_naming_the_choices(text):
    with pytest.raises(ValueError, match="debug, info, warning, error, critical"):
        logs.parse_level(text)
