"""The process's log: `logging`, a logger per module, one line per event on stderr, configured once by the
`gridbot` command (`configure`). Standard output is kept for what a command answers (a status, a summary).

A line: `LEVEL bot=<run.bot_id> host=<hostname> <logger>: <message>`, e.g.

    ERROR bot=pi5a host=pi5-a gridbot.live.trader: trading halted: max drawdown: equity 790.12 is 21.0% ...

No time stamp: the journal (or Docker's log driver) stamps each line. The bot's loggers log from INFO,
everything else (ccxt's requests, urllib3) from WARNING; `-v` turns the bot's to DEBUG, `-vv` everything, and
`--log-level [LOGGER=]LEVEL` sets one logger and those below it, like `gridbot.live.ccxt_calls=debug` (each
request to the exchange).
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable, Sequence

from gridbot.core.candles import Candles
from gridbot.core.engine import AnyEngine, LedgerRow

LEVELS = ("debug", "info", "warning", "error", "critical")
BOT = "gridbot"  # the logger above every module's (`logging.getLogger(__name__)` in gridbot.*)
FORMAT = "%(levelname)s bot=%(bot)s host=%(host)s %(name)s: %(message)s"
# what `gridbot --help` says of the log
HELP = """\
Output (a status, a summary, a check's verdict) goes to stdout, the log to stderr: one line per event,
  LEVEL bot=RUN.BOT_ID host=HOSTNAME LOGGER: MESSAGE
The bot's loggers (gridbot.*) log from info, other libraries' from warning. -v: the bot's debug lines, -vv:
every library's too. --log-level LEVEL sets the bot's; --log-level LOGGER=LEVEL one logger and those below
it, e.g. --log-level gridbot.live.ccxt_calls=debug: each request to the exchange (repeatable, after -v)."""


def parse_level(text: str) -> tuple[str, int]:
    """`LEVEL` (the bot's loggers) or `LOGGER=LEVEL`: (logger name, level); ValueError naming the choices."""
    name, eq, level = text.rpartition("=")
    if level.lower() not in LEVELS or (eq and not name):
        raise ValueError(f"{text!r}: want LEVEL or LOGGER=LEVEL, LEVEL one of {', '.join(LEVELS)}")
    return name or BOT, logging.getLevelNamesMapping()[level.upper()]


class _Context(logging.Filter):
    """Puts the bot's id and the host on every record, whichever logger made it."""

    def __init__(self) -> None:
        super().__init__()
        self.bot = "-"  # until a config is read
        self.host = socket.gethostname()

    def filter(self, record: logging.LogRecord) -> bool:
        record.bot, record.host = self.bot, self.host
        return True


class _Line(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # One journal entry per event: the journal splits on newlines (an exchange's answer can hold some).
        return super().format(record).replace("\n", "\\n")


class _Stderr(logging.Handler):
    """Writes to sys.stderr as it is at each line, not as it was when configured: a caller that swaps it
    (pytest's capture, a redirect) gets the lines."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # logging's own contract: a line that cannot be written is reported, never raised
            self.handleError(record)


_context = _Context()
_tuned: list[str] = []  # the loggers the last `configure` gave a level


def configure(verbose: int = 0, levels: Sequence[tuple[str, int]] = ()) -> None:
    """The process's log, from the command line's `-v` count and `--log-level` values (applied after `-v`, in
    order). Called again (tests call the command in one process), it replaces what it set before."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(old)
    handler = _Stderr()
    handler.setFormatter(_Line(FORMAT))
    handler.addFilter(_context)
    root.addHandler(handler)
    _context.bot = "-"
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)
    for name in _tuned:
        logging.getLogger(name).setLevel(logging.NOTSET)
    _tuned[:] = [BOT, *(name for name, _ in levels)]
    logging.getLogger(BOT).setLevel(logging.DEBUG if verbose else logging.INFO)
    for name, level in levels:
        logging.getLogger(name).setLevel(level)


def name_bot(bot_id: str) -> None:
    """The bot's id on every line from now on (the config's `run.bot_id`, once read)."""
    _context.bot = bot_id


def fill_line(row: LedgerRow) -> str:
    """A booked fill as the run's log says it: what a trader watching `gridbot run` wants to see happen."""
    pnl = f", realized {row['realized_pnl']:+.2f}" if row["side"] == "sell" else ""
    return (f"{row['side']} {row['amount']:g} at {row['price']:g} filled "
            f"(fee {row['fee']:g} {row['fee_currency']}{pnl})")  # fmt: skip


def run_logged(engine: AnyEngine, chunk: Candles, log: logging.Logger) -> None:
    """`engine.run_chunk(chunk)`, and the grid it placed, if it placed one, as the run's log says it."""
    before = engine.grid_changes[-1] if engine.grid_changes else None
    engine.run_chunk(chunk)
    if engine.grid_changes and engine.grid_changes[-1] is not before:
        levels = engine.grid_changes[-1][1]
        log.info(f"grid placed around {engine.stats.last_close:g}: {len(levels)} levels "
                 f"{levels[0]:g}..{levels[-1]:g}")  # fmt: skip


def engine_log() -> Callable[[str], None]:
    """The engine's log sink (a skipped grid, a kill switch's halt, a re-plan: each worth a look), under the
    engine's module name: the pure core logs nothing itself (an import contract)."""
    return logging.getLogger("gridbot.core.engine").warning
