"""The live harness: a gridbot-exchange process whose clock the test steps (`--speed 0` + Admin.step), real
`gridbot run` processes trading against it on 127.0.0.1, and what the tests judge them by (the exchange's
records against the bot's store, an uninterrupted backtest as the reference). Each process listens on its
own ephemeral port and each bot lives in its own directory, so tests may run in parallel. The `exchange` and
`bots` fixtures (conftest.py) make them and kill what is left at a test's end."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import deque
from decimal import Decimal
from pathlib import Path

import pytest
from gridbot_exchange.testing import Admin, start

from gridbot.config.model import parse_config
from gridbot.core.engine import GridEngine
from gridbot.ops.candle_files import load_embedded

KEY, SECRET = "bot-1", "secret-1"
SETTINGS = {"grid": {"width_pct": 2, "levels": 6}, "regrid": {"cooldown": "1h"},
            "filters": {"trend": {"mode": "off"}}}  # fmt: skip


class Exchange:
    def __init__(self, *args: str) -> None:
        # the request-weight limit off: a 20 ms cycle asks ~250 times more often than a bot's 5 s one (the
        # other limits of Binance's stay on; a test passing its own --rate-limits replaces this one)
        self.proc, self.base = start("--speed", "0", "--account", f"{KEY}:{SECRET}", "--balance", "USDT=1000",
                                     "--rate-limits", "weight=0", *args)  # fmt: skip
        self.admin = Admin(self.base)

    def orders(self) -> list[dict]:
        return self.admin.call("GET", f"orders?key={KEY}")  # type: ignore[return-value]

    def trades(self) -> list[dict]:
        return self.admin.call("GET", f"trades?key={KEY}")  # type: ignore[return-value]

    def close(self) -> None:
        self.proc.kill()
        self.proc.communicate(timeout=10)


class Bot:
    def __init__(self, tmp_path, base: str, secret: str = SECRET, **extra: object) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.dir = tmp_path
        self.db = tmp_path / "data" / "gridbot.db"
        (tmp_path / "cred").write_text(f"GRIDBOT_API_KEY={KEY}\nGRIDBOT_API_SECRET={secret}\n")
        run = {"data": "exchange", "cycle_seconds": 0.02, "state_dir": str(tmp_path / "data"),
               "heartbeat_file": str(tmp_path / "hb"), "http_port": None, **extra.pop("run", {})}  # fmt: skip
        exchange = extra.pop("exchange", None) or {
            "api_url": base,
            "credentials_file": str(tmp_path / "cred"),
            "throttle": False,
        }
        cfg = {"mode": "live", "exchange": exchange,
               "run": run, **SETTINGS, **extra}  # fmt: skip
        self.cfg = tmp_path / "bot.yml"
        self.cfg.write_text(json.dumps(cfg))  # JSON is YAML
        self.proc: subprocess.Popen | None = None
        self.log = tmp_path / "bot.log"  # the run's log: its stderr (its stdout, empty: bot.out)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gridbot.cli", "run", "-c", str(self.cfg)], cwd=self.dir,
            stdout=(self.dir / "bot.out").open("a"), stderr=self.log.open("a"),
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def term(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        # within the stop grace period the fleet gives a bot (gridbot_stop_grace_period: 30 s): a cycle in
        # flight on a runner loaded by the VM fleet beside the unit tests took longer than 10 s once
        return self.proc.wait(timeout=30)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`gridbot ARGS -c` its config, as an operator types it beside the running bot (halt, resume)."""
        argv = [sys.executable, "-m", "gridbot.cli", *args, "-c", str(self.cfg)]
        return subprocess.run(argv, capture_output=True, text=True, check=False)

    def backup(self) -> Path:
        """`gridbot backup` of the running bot's store, as its timer takes one: the copy's path."""
        dest = self.dir / "b"
        made = subprocess.run([sys.executable, "-m", "gridbot.cli", "backup", "-c", str(self.cfg), "--dest",
                               str(dest)], capture_output=True, text=True, check=False)  # fmt: skip
        assert made.returncode == 0, made.stderr
        (copy,) = dest.glob("gridbot-*.db")
        return copy

    def restore(self, copy: Path) -> None:
        """`gridbot restore` of a copy, the bot stopped (a Pi replaced)."""
        argv = [sys.executable, "-m", "gridbot.cli", "restore", str(copy), "-c", str(self.cfg)]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr

    def query(self, sql: str) -> list[tuple]:
        if not self.db.exists():
            return []
        con = sqlite3.connect(self.db, timeout=10)
        try:
            return con.execute(sql).fetchall()
        except sqlite3.OperationalError:  # not yet created
            return []
        finally:
            con.close()

    def status(self) -> dict:
        rows = self.query("SELECT status FROM snapshot")
        return json.loads(rows[0][0]) if rows else {}

    def settled(self, candles: int) -> bool:
        s = self.status()
        busy = self.query("SELECT count(*) FROM orders WHERE status IN ('intent', 'unknown', 'cancel')")
        return s.get("candles", 0) >= candles and busy == [(0,)] and s.get("pending_orders") == 0

    def wait(self, candles: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.settled(candles):
            assert self.proc is None or self.proc.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"bot not at candle {candles}: {self.status()}"
            time.sleep(0.01)


def drive(ex: Exchange, bot: Bot, candles: int, on_step=None, seen: int = 0) -> None:
    """Step the exchange's clock candle by candle, each once the bot has decided on the previous one
    (`seen`: candles the bot had taken before)."""
    for k in range(candles):
        ex.admin.step(candles=1)
        if on_step is not None:
            on_step(k)
        bot.wait(seen + k + 1)


def drive_until_halted(ex: Exchange, bot: Bot, limit: int, why: str) -> int:
    """Step candle by candle until the bot halts, at most `limit` candles; returns how many it took."""
    k = 0
    while not bot.status().get("halted"):
        ex.admin.step(candles=1)
        k += 1
        assert k < limit, why
        deadline = time.monotonic() + 20
        while not bot.settled(k) and not bot.status().get("halted"):
            assert bot.proc is not None
            assert bot.proc.poll() is None, bot.log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"bot not at candle {k}: {bot.status()}"
            time.sleep(0.01)
    return k


def reference(n: int, start: int = 0, data=None, **overrides) -> tuple[list[dict], GridEngine]:
    """An uninterrupted paper engine over the same candles: what `gridbot backtest` decides."""
    rows: list[dict] = []
    engine = GridEngine(parse_config({**SETTINGS, **overrides}), ledger=lambda row, _fill: rows.append(row))
    candles = data if data is not None else load_embedded()
    engine.run_chunk(candles.slice(start, start + n))
    return rows, engine


def fills_of(bot: Bot) -> list[tuple]:
    return bot.query(
        "SELECT side, price, qty, fee, trade_id FROM fills ORDER BY time_ms, CAST(trade_id AS INT)"
    )


def judge_against_the_exchange(ex: Exchange, bot: Bot) -> None:
    """Zero duplicate client ids, no order the bot does not know, every exchange fill recorded once,
    balances and realized PnL as the exchange's own trades say."""
    dup = ex.admin.call("GET", "duplicates")
    assert dup["count"] == 0, dup  # type: ignore[index]
    known = {r[0] for r in bot.query("SELECT client_id FROM orders")}
    assert {o["clientOrderId"] for o in ex.orders()} <= known
    trades = ex.trades()
    recorded = [r[4] for r in fills_of(bot)]
    assert sorted(recorded) == sorted(str(t["id"]) for t in trades)
    assert len(recorded) == len(set(recorded))
    # balances: the exchange's ledger against the bot's books
    bal = ex.admin.call("GET", "balances")["accounts"][KEY]  # type: ignore[index]
    s = bot.status()
    held = Decimal(str(bal["BTC"]["free"])) + Decimal(str(bal["BTC"]["locked"]))
    quote = Decimal(str(bal["USDT"]["free"])) + Decimal(str(bal["USDT"]["locked"]))
    assert float(held) == pytest.approx(s["base_held"], abs=1e-8)
    # realized PnL recomputed from the exchange's trades: FIFO lots, a buy's fee in base, in the order the bot
    # booked them (the trades' own but for a fill the exchange showed late: docs/bot.md#accounting)
    booked = {r[0]: k for k, r in enumerate(bot.query("SELECT trade_id FROM fills ORDER BY rowid"))}
    lots: deque[list[float]] = deque()
    realized = 0.0
    for t in sorted(trades, key=lambda t: booked[str(t["id"])]):
        qty, price, fee = float(t["qty"]), float(t["price"]), float(t["commission"])
        if t["isBuyer"]:
            lots.append([qty - fee, qty * price / (qty - fee)])
            continue
        cost, left = 0.0, qty
        while left > 1e-12 and lots:
            take = min(left, lots[0][0])
            cost += take * lots[0][1]
            lots[0][0] -= take
            left -= take
            if lots[0][0] <= 1e-12:
                lots.popleft()
        realized += qty * price - fee - cost
    assert s["realized_pnl"] == pytest.approx(realized, abs=0.011)
    assert s["end_equity"] == pytest.approx(float(quote + held * Decimal(str(s_last(ex)))), abs=0.011)


def s_last(ex: Exchange) -> float:
    return float(ex.admin.call("GET", "state")["last_price"])  # type: ignore[index]
