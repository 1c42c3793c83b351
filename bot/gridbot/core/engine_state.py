"""The engine's results (the summary) and its restarts (snapshot, restore). Pure: JSON-friendly data only."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from gridbot.core.filters import Indicators
from gridbot.core.grid import min_step_ratio
from gridbot.core.grid_plan import check_grid
from gridbot.core.paper import Fill, OrderBook
from gridbot.core.portfolio import Lot, Portfolio
from gridbot.core.settings import Json, StrategySettings
from gridbot.core.stats import Stats


class EngineState(Protocol):
    """The engine's state that a summary reads and a snapshot carries (`gridbot.core.engine.GridEngine`)."""

    cfg: StrategySettings
    t: int
    portfolio: Portfolio
    levels: NDArray[np.float64] | None
    qty: NDArray[np.float64] | None
    buys_open: bool
    cooldown_until_ms: int
    grid_config: Json | None
    replan: bool
    started: bool
    halted: str
    halted_ms: int
    resumable: bool
    equity_base: float
    stats: Stats
    ind: Indicators

    # read-only: an engine's book is typed by its fills, and any book's orders are read alike
    @property
    def exchange(self) -> OrderBook[Fill]: ...


COST_BASIS = "fifo lots, fees included"


def grid_settings(cfg: StrategySettings) -> Json:
    """The settings a grid is built from (its bounds or width, levels, spacing, budget, ATR spacing): a
    restart on a config whose settings differ re-plans the grid."""
    g, a = cfg.grid, cfg.grid.atr_spacing
    return {
        "levels": g.levels, "spacing": g.spacing, "lower": g.lower, "upper": g.upper,
        "width_pct": g.width_pct, "budget_quote": g.budget_quote,
        "atr_spacing": {"enabled": a.enabled, "period": a.period, "multiplier": a.multiplier},
    }  # fmt: skip


def settings_sha256(settings: Json) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def grid_in_force(e: EngineState) -> Json | None:
    """The resting grid as status shows it: levels, bounds, smallest step, budget, and the settings it came
    from (their sha256; `replan`: the running config asks for another grid, placed at the next candle)."""
    if e.levels is None:
        return None
    settings = e.grid_config or {}
    return {
        "levels": len(e.levels),
        "lower": float(e.levels[0]),
        "upper": float(e.levels[-1]),
        "step_pct": round(min_step_ratio(e.levels) * 100, 4),
        "budget_quote": settings.get("budget_quote"),
        "settings_sha256": settings_sha256(settings) if settings else None,
        "replan": e.replan,
    }


def _legacy_settings(e: EngineState) -> Json | None:
    """A snapshot from before grids recorded their settings: the current config's when its levels are what
    that config builds (the count, and fixed bounds' very levels), else None (re-planned)."""
    assert e.levels is not None
    g = e.cfg.grid
    if len(e.levels) != g.levels:
        return None
    if g.lower is not None and g.upper is not None:
        try:
            same = bool(np.array_equal(check_grid(e.cfg, g.lower, g.upper), e.levels))
        except ValueError:
            same = False
        if not same:
            return None
    return grid_settings(e.cfg)


def summary(e: EngineState) -> dict[str, float | int | str]:
    """Realized (closed FIFO lots) + unrealized (lots still held, at the last close) = end - start equity."""
    p, s = e.portfolio, e.stats
    mark = s.last_close
    equity = p.equity(mark)
    return {
        "symbol": e.cfg.market.symbol,
        "candles": s.candles,
        "start": _iso(s.first_ms),
        "end": _iso(s.last_ms),
        "start_equity": round(p.start_equity, 2),
        "end_equity": round(equity, 2),
        "return_pct": round((equity / p.start_equity - 1) * 100, 4),
        "max_drawdown_pct": round(s.max_drawdown * 100, 4),
        "cost_basis": COST_BASIS,
        "realized_pnl": round(p.realized, 2),
        "unrealized_pnl": round(p.unrealized(mark), 2),
        "fees": round(p.fees, 2),
        "round_trips": s.round_trips,
        **_trader_view(e, equity),
        "time_in_market_pct": round(s.in_market / max(s.candles, 1) * 100, 2),
        "regrids": s.regrids,
        "grids_skipped": s.grids_skipped,
        "halted": e.halted,
        "halted_at": _iso(e.halted_ms) if e.halted else "",
        "open_orders": len(e.exchange.open_orders()),
        "base_held": round(p.base, 8),
        **_outside(p),
    }


DAY_MS = 86_400_000


def _trader_view(e: EngineState, equity: float) -> dict[str, float | int | str]:
    """What a trader reads a result by: the return against holding the coin from the first candle's open
    (no fees), how often and how much the round trips won, how long the drawdown and the idleness lasted."""
    p, s = e.portfolio, e.stats
    hold = (s.last_close / s.first_open - 1) * 100 if s.first_open > 0 else 0.0
    ret = (equity / p.start_equity - 1) * 100
    idle_now = s.last_ms - (s.last_fill_ms or s.first_ms)  # the stretch still running at the end
    return {
        "buy_and_hold_pct": round(hold, 4),
        "excess_return_pct": round(ret - hold, 4),
        "win_rate_pct": round(s.wins / s.round_trips * 100, 2) if s.round_trips else 0.0,
        # gross profit over gross loss of the round trips; "inf" when none lost
        "profit_factor": round(s.gross_profit / s.gross_loss, 3) if s.gross_loss > 0 else "inf",
        "max_drawdown_days": round(s.max_drawdown_ms / DAY_MS, 2),
        "longest_idle_days": round(max(s.longest_idle_ms, idle_now) / DAY_MS, 2),
        "idle_since": _iso(s.last_fill_ms) if s.last_fill_ms else "",
    }


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _outside(p: Portfolio) -> dict[str, float | str]:
    """Fees paid in a third asset, when there were any: what they were valued at, and how."""
    if not p.fees_outside:
        return {}
    return {
        "fees_other_assets": round(p.fees_outside, 2),
        "fees_other_assets_valued": "in quote at the fee asset's close of the fill's candle, in fees and pnl",
    }


def snapshot(e: EngineState) -> dict[str, object]:
    """Everything needed to continue after a restart."""
    return {
        "t": e.t,
        "portfolio": asdict(e.portfolio),
        "levels": None if e.levels is None else e.levels.tolist(),
        "qty": None if e.qty is None else e.qty.tolist(),
        "orders": [asdict(o) for o in e.exchange.open_orders()],
        "buys_open": e.buys_open,
        "cooldown_until_ms": e.cooldown_until_ms,
        "grid_config": e.grid_config,
        "started": e.started,
        "halted": e.halted,
        "halted_ms": e.halted_ms,
        "resumable": e.resumable,
        "equity_base": e.equity_base,
        "stats": asdict(e.stats),
        "indicators": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(e.ind).items()},
    }


def _portfolio(saved: Json) -> Portfolio:
    fields = dict(saved)
    if "lots" not in fields:
        # A state from the average-cost version (realized gross of fees): what is held becomes one lot at its
        # average cost and every fee paid so far moves into realized, which keeps the identity exact.
        basis = fields.pop("cost_basis", 0.0)
        base = fields.get("base", 0.0)
        fields["lots"] = [{"qty": base, "price": basis / base, "fee": 0.0}] if base > 0 else []
        fields["realized"] = fields.get("realized", 0.0) - fields.get("fees", 0.0)
    fields["lots"] = tuple(Lot(**lot) for lot in fields["lots"])
    return Portfolio(**fields)


def restore(e: EngineState, snap: Json) -> None:
    e.t = int(snap["t"])
    e.portfolio = _portfolio(snap["portfolio"])
    e.levels = None if snap["levels"] is None else np.array(snap["levels"], dtype=np.float64)
    e.qty = None if snap["qty"] is None else np.array(snap["qty"], dtype=np.float64)
    e.exchange.cancel_all()
    for o in snap["orders"]:
        e.exchange.place_limit(o["side"], o["price"], o["qty"], o["level"], opened_ms=o["opened_ms"])
    e.buys_open = bool(snap["buys_open"])
    e.cooldown_until_ms = int(snap.get("cooldown_until_ms", 0))
    e.grid_config = snap.get("grid_config")
    if e.levels is not None and "grid_config" not in snap:
        e.grid_config = _legacy_settings(e)
    # built from other settings than the config's: re-planned at the next candle, cooldown or not
    e.replan = e.levels is not None and e.grid_config != grid_settings(e.cfg)
    if e.replan:
        e.cooldown_until_ms = 0
    e.started = bool(snap.get("started", True))
    e.halted = str(snap.get("halted", ""))
    e.halted_ms = int(snap.get("halted_ms", 0))
    e.resumable = bool(snap.get("resumable", False))
    e.equity_base = float(snap.get("equity_base", e.portfolio.start_equity))
    known = Stats.__dataclass_fields__
    stats: Stats = Stats(**{k: v for k, v in snap["stats"].items() if k in known})
    e.stats = stats
    e.ind.restore(snap["indicators"])
