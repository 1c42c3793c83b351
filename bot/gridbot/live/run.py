"""`gridbot run` on an exchange: the venue built from the config, the store, the HTTP endpoints and the
trader's loop wired together; a bot whose keys the exchange refuses waits halted, heartbeating, never a
crash loop."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from gridbot import __version__
from gridbot.config.model import BotConfig, ConfigError
from gridbot.contract import KEY_REFUSED_HALT
from gridbot.core.engine import GridEngine
from gridbot.live.live_trader import LiveTrader
from gridbot.live.paper_trader import PaperTrader
from gridbot.live.quiet import IpQuiet, QuietFile
from gridbot.live.resilience import RetryPolicy
from gridbot.live.trader import Trader, heartbeat_of
from gridbot.live.venue import AuthFailedError, RateLimitedError, Venue, VenueError
from gridbot.ops.health import Heartbeat, StoppingError
from gridbot.ops.httpd import serve_bot
from gridbot.ops.metrics import Metrics
from gridbot.ops.service import status_of
from gridbot.ops.signals import stop_on_signals
from gridbot.ops.store import Store

log = logging.getLogger(__name__)


def make_venue(cfg: BotConfig, metrics: Metrics, heartbeat: Heartbeat | None = None) -> Venue:
    from gridbot.live.ccxt_venue import CcxtVenue  # noqa: PLC0415  loads ccxt
    from gridbot.live.credentials import read_credentials  # noqa: PLC0415

    quiet = QuietFile(cfg.run.state_dir)
    waiting = quiet.left(time.time())
    if waiting > 0:
        log.info(
            f"the exchange's last Retry-After ({quiet.path}) is not over: not asking it for {waiting:.1f} s"
        )
    shared = cfg.exchange.ip_quiet_dir
    if shared is not None and not (shared.is_dir() and os.access(shared, os.W_OK | os.X_OK)):
        log.warning(f"exchange.ip_quiet_dir: {shared} is not a directory this bot can write: the Retry-After "
                    "it is given is not shared with the bots behind its IP")  # fmt: skip
    ip_quiet = IpQuiet(shared, cfg.run.bot_id) if shared is not None else None
    key = secret = None
    if cfg.mode == "live":
        try:
            key, secret = read_credentials(cfg.credentials_file)
        except ValueError as exc:
            raise ConfigError(f"exchange.credentials_file: {exc}") from None
    try:  # the heartbeat is the adapter's clock: its waits (backoff, breaker, Retry-After) beat
        return CcxtVenue(cfg.exchange.id, cfg.market.symbol, api_url=cfg.exchange.api_url,
                         sandbox=cfg.exchange.sandbox, api_key=key, secret=secret,
                         timeout_s=cfg.exchange.timeout_s, metrics=metrics,
                         throttle=cfg.exchange.throttle, breaker_cooldown_s=cfg.exchange.breaker_cooldown_s,
                         weight_budget=cfg.exchange.weight_budget_1m,
                         retry=RetryPolicy(budget_s=cfg.exchange.retry_budget_s),
                         quiet=quiet, ip_quiet=ip_quiet,
                         clock=heartbeat or heartbeat_of(cfg))  # fmt: skip
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def run_trader(cfg: BotConfig, max_cycles: int | None = None) -> int:
    from gridbot.ops.service import running_store  # noqa: PLC0415

    metrics = Metrics()
    metrics.trades_on(cfg.exchange.id, cfg.exchange.api_url, cfg.exchange.sandbox)
    heartbeat = heartbeat_of(cfg)
    holder: list[Trader[Any]] = []
    halted: list[dict[str, Any]] = [{}]  # the status of a bot halted before it could start trading
    server = serve_bot(cfg, metrics, lambda: holder[0].status() if holder else halted[0],
                       lambda: (bool(holder) and holder[0].ready) or bool(halted[0]))  # fmt: skip
    try:
        with running_store(cfg) as store:
            venue = make_venue(cfg, metrics, heartbeat)
            stop = threading.Event()
            heartbeat.stop = stop  # the adapter's waits end on SIGTERM
            stop_on_signals(stop)
            trader = None
            while trader is None:
                try:
                    mode = LiveTrader if cfg.mode == "live" else PaperTrader
                    trader = mode(cfg, venue, store, metrics, heartbeat=heartbeat)
                except AuthFailedError as exc:  # halted with the reason, shown; never a crash loop
                    with store.cycle():
                        store.set_halt(f"{KEY_REFUSED_HALT}: {exc}")
                        store.note_key_refused()
                        halted[0] = _halted_status(cfg, store, metrics)
                    log.error(f"trading halted: {KEY_REFUSED_HALT}: {exc}")
                    return _idle(cfg, stop, heartbeat)
                except StoppingError:
                    return 0
                except VenueError as exc:
                    log.warning(f"exchange not ready ({type(exc).__name__}: {exc}); retrying")
                    heartbeat.beat(0)
                    pause = min(30.0, cfg.run.cycle_seconds * 5)
                    if isinstance(exc, RateLimitedError):  # told when to ask again: not a moment before
                        pause = max(pause, exc.retry_after)
                    if heartbeat.wait(stop, pause):
                        return 0
            trader.stop = stop
            holder.append(trader)
            return trader.run(max_cycles)
    finally:
        if server is not None:
            server.close()


def _halted_status(cfg: BotConfig, store: Store, metrics: Metrics) -> dict[str, Any]:
    """Halted before a Trader could start: the status of the saved books (a fresh bot's if none) with the
    halt, saved as the snapshot's status (`gridbot status`), shown on /status and in the metrics."""
    engine = GridEngine(cfg)
    saved = store.snapshot()
    cycle = 0
    if saved is not None:
        engine.restore(saved[2])
        cycle = saved[1]
    s = status_of(engine, cycle, cfg, store)
    s.update(version=__version__, exchange=cfg.exchange.id, last_candle_ms=engine.stats.last_ms,
             pending_orders=0, equity=s["end_equity"], api_errors=0, last_fill_age_s=None,
             breaker="closed")  # fmt: skip
    store.save_snapshot(cfg.market.symbol, cycle, engine.snapshot(), s)
    halt = store.halt_state()
    metrics.show(engine, halt.reason if halt else "halted")
    return s


def _idle(cfg: BotConfig, stop: threading.Event, heartbeat: Heartbeat) -> int:
    """Halted before trading could start: heartbeat, wait for SIGTERM (the operator fixes and restarts)."""
    while not stop.is_set():
        heartbeat.beat(0)
        heartbeat.wait(stop, cfg.run.cycle_seconds)
    return 0
