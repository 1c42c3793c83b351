"""The grid engine: strategy decisions, order placement and accounting over a stream of candles.

`run_chunk` is the only entry point. It computes the filters for the chunk (indicators continue from the
previous chunk's state), then jumps from event to event: a candle where a resting order fills, where the
buy filter flips, or where the price leaves the grid after the regrid cooldown. Candles in between change
nothing but the equity mark, which is accounted for in bulk. Fed one candle at a time (the live loop), the
same code takes the same decisions, so a backtest and a run agree to the fill.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from gridbot import indicators as ind
from gridbot.candles import Candles
from gridbot.config import BotConfig
from gridbot.grid import atr_bounds, build_levels, centred_bounds, floor_to_step, min_step_ratio, size_orders
from gridbot.paper import Fill, Order, PaperExchange
from gridbot.portfolio import Portfolio, RoundTrip, apply_fill

LedgerSink = Callable[[dict[str, object]], None]
ArchiveSink = Callable[[RoundTrip], None]
MAX_CURVE_POINTS = 4096


def buy_filter(
    cfg: BotConfig, ema: NDArray, ema_lagged: NDArray, adx: ind.AdxSeries | None, rsi: NDArray | None
) -> NDArray[np.bool_]:
    """True where new buys may rest on the book during the next candle. NaN (warming up) never blocks."""
    trend = cfg.filters.trend
    size = len(ema)
    allowed = np.ones(size, dtype=bool)
    if trend.mode != "off":
        down = np.ones(size, dtype=bool)
        if trend.mode in ("ema", "both"):
            with np.errstate(invalid="ignore"):
                down &= (ema / ema_lagged - 1.0) * 100.0 < -trend.max_down_slope_pct
        if trend.mode in ("adx", "both") and adx is not None:
            with np.errstate(invalid="ignore"):
                down &= (adx.adx > trend.adx_threshold) & (adx.minus_di > adx.plus_di)
        allowed &= ~down
    if rsi is not None:
        with np.errstate(invalid="ignore"):
            allowed &= ~(rsi > cfg.filters.rsi.buy_max)
    return allowed


@dataclass
class Stats:
    candles: int = 0
    in_market: int = 0
    regrids: int = 0
    round_trips: int = 0
    round_trip_profit: float = 0.0
    peak_equity: float = 0.0
    max_drawdown: float = 0.0  # fraction of the peak
    last_close: float = 0.0
    first_ms: int = 0
    last_ms: int = 0


@dataclass
class Indicators:
    ema: ind.EmaState | None = None
    ema_tail: list[float] = field(default_factory=list)
    adx: ind.AdxState | None = None
    rsi: ind.RsiState | None = None
    atr: ind.AtrState | None = None


class GridEngine:
    def __init__(
        self,
        cfg: BotConfig,
        exchange: PaperExchange | None = None,
        ledger: LedgerSink | None = None,
        archive: ArchiveSink | None = None,
    ) -> None:
        self.cfg = cfg
        self.market = cfg.market.market()
        self.exchange = exchange or PaperExchange(cfg.market.maker_fee)
        self.portfolio = Portfolio.funded(cfg.start_quote)
        self.history: deque[RoundTrip] = deque()
        self.ledger = ledger
        self.archive = archive
        self.levels: NDArray[np.float64] | None = None
        self.qty: NDArray[np.float64] | None = None
        self.buys_open = True
        self.cooldown_until = 0
        self.t = 0  # candles processed so far
        self.stats = Stats(peak_equity=cfg.start_quote)
        self.curve: list[tuple[int, float, float]] = []  # (time_ms, close, equity), decimated
        self._curve_every = 1
        f = cfg.filters
        self.ind = Indicators(
            ema=ind.ema_init(f.trend.ema_period) if f.trend.mode in ("ema", "both") else None,
            adx=ind.adx_init(f.trend.adx_period) if f.trend.mode in ("adx", "both") else None,
            rsi=ind.rsi_init(f.rsi.period) if f.rsi.enabled else None,
            atr=ind.atr_init(cfg.grid.atr_spacing.period) if cfg.grid.atr_spacing.enabled else None,
        )
        self._atr_chunk: NDArray[np.float64] | None = None

    # --- filters, computed only for the indicators the config uses ---------------------------------

    def _allowed(self, c: Candles) -> NDArray[np.bool_]:
        i, cfg = self.ind, self.cfg
        ema = lagged = np.full(len(c), np.nan)
        adx = rsi = None
        if i.ema is not None:
            ema, i.ema = ind.ema(c.close, i.ema.period, i.ema)
            k = cfg.filters.trend.slope_candles
            joined = np.concatenate([np.array(i.ema_tail, dtype=np.float64), ema])
            lagged = np.concatenate([np.full(k, np.nan), joined])[len(i.ema_tail) : len(i.ema_tail) + len(c)]
            i.ema_tail = joined[-k:].tolist()
        if i.adx is not None:
            adx = ind.adx(c.high, c.low, c.close, i.adx.period, i.adx)
            i.adx = adx.state
        if i.rsi is not None:
            rsi, i.rsi = ind.rsi(c.close, i.rsi.period, i.rsi)
        if i.atr is not None:
            self._atr_chunk, i.atr = ind.atr(c.high, c.low, c.close, i.atr.period, i.atr)
        if cfg.filters.trend.mode == "off" and rsi is None:
            return np.ones(len(c), dtype=bool)
        return buy_filter(cfg, ema, lagged, adx, rsi)

    # --- orders -------------------------------------------------------------------------------------

    def _reserved_quote(self) -> float:
        fee = 1 + self.cfg.market.maker_fee
        return sum(o.price * o.qty * fee for o in self.exchange.open_orders() if o.side == "buy")

    def _place_buys(self, close: float, time_ms: int) -> None:
        """Buys on every free level below the price (a level is taken by its buy or by the sell above it)."""
        if self.levels is None or self.qty is None or not self.buys_open:
            return
        taken = {o.level if o.side == "buy" else o.level - 1 for o in self.exchange.open_orders()}
        free_quote = self.portfolio.quote - self._reserved_quote()
        fee = 1 + self.cfg.market.maker_fee
        for i in range(len(self.levels) - 1):
            price, qty = float(self.levels[i]), float(self.qty[i])
            if price >= close or qty <= 0 or i in taken or price * qty * fee > free_quote:
                continue
            self.exchange.place_limit("buy", price, qty, i, opened_ms=time_ms)
            free_quote -= price * qty * fee

    def _place_inventory_sells(self, close: float, time_ms: int) -> None:
        """After a regrid, offer what is held on the levels above the price, one level's size each.

        A sell never goes below the average cost plus one grid step: a regrid re-centres the grid, it does
        not realise a loss on the inventory.
        """
        assert self.levels is not None
        assert self.qty is not None
        held, entry = self.portfolio.base, self.portfolio.avg_cost
        floor_price = float(np.ceil(entry * (1 + min_step_ratio(self.levels)) / self.market.tick_size))
        floor_price *= self.market.tick_size
        above = [j for j in range(1, len(self.levels)) if self.levels[j] > close]
        for n, j in enumerate(above):
            size = held if n == len(above) - 1 else min(held, float(self.qty[j - 1]) or held)
            size = float(floor_to_step(np.array(size), self.market.lot_step))
            if size <= 0:
                break
            price = round(max(float(self.levels[j]), floor_price), 10)
            self.exchange.place_limit("sell", price, size, j, entry, time_ms)
            held -= size

    def _grid_around(self, close: float, time_ms: int, index_in_chunk: int) -> None:
        g = self.cfg.grid
        if self.levels is None and g.lower is not None and g.upper is not None:
            lower, upper = g.lower, g.upper
        elif (
            g.atr_spacing.enabled
            and self._atr_chunk is not None
            and not np.isnan(self._atr_chunk[index_in_chunk])
        ):
            lower, upper = atr_bounds(
                close, float(self._atr_chunk[index_in_chunk]), g.levels, g.atr_spacing.multiplier
            )
        else:
            lower, upper = centred_bounds(close, g.width_pct)
        self.levels = build_levels(lower, upper, g.levels, g.spacing, self.market)
        budget = min(g.budget_quote, self.portfolio.quote - self._reserved_quote())
        self.qty = size_orders(self.levels, budget, self.market)
        self._place_inventory_sells(close, time_ms)
        self._place_buys(close, time_ms)

    # --- one event ----------------------------------------------------------------------------------

    def _on_fill(self, fill: Fill) -> None:
        o: Order = fill.order
        before = self.portfolio.realized
        self.portfolio = apply_fill(self.portfolio, o.side, o.price, o.qty, fill.fee)
        if self.ledger is not None:
            realized = self.portfolio.realized - before - fill.fee if o.side == "sell" else 0.0
            self.ledger({
                "date": datetime.fromtimestamp(fill.time_ms / 1000, UTC).isoformat(),
                "side": o.side, "amount": o.qty, "price": o.price, "fee": fill.fee,
                "fee_currency": self.cfg.market.symbol.split("/")[1], "realized_pnl": realized,
            })  # fmt: skip
        assert self.levels is not None
        assert self.qty is not None
        if o.side == "buy":
            if o.level + 1 < len(self.levels):
                self.exchange.place_limit(
                    "sell", float(self.levels[o.level + 1]), o.qty, o.level + 1, o.price, fill.time_ms
                )
            return
        trip = RoundTrip(
            o.opened_ms, fill.time_ms, o.qty, o.entry_price, o.price,
            o.entry_price * o.qty * self.cfg.market.maker_fee + fill.fee,
        )  # fmt: skip
        self._remember(trip)
        below = o.level - 1
        if self.buys_open and below >= 0:
            price, qty = float(self.levels[below]), float(self.qty[below])
            free = self.portfolio.quote - self._reserved_quote()
            if qty > 0 and price * qty * (1 + self.cfg.market.maker_fee) <= free:
                self.exchange.place_limit("buy", price, qty, below, opened_ms=fill.time_ms)

    def _remember(self, trip: RoundTrip) -> None:
        self.stats.round_trips += 1
        self.stats.round_trip_profit += trip.profit
        self.history.append(trip)
        if len(self.history) > self.cfg.history_cap:
            old = self.history.popleft()
            if self.archive is not None:
                self.archive(old)

    def _event(self, c: Candles, j: int, allowed: bool) -> None:
        time_ms, close = int(c.time_ms[j]), float(c.close[j])
        for fill in self.exchange.fills(float(c.high[j]), float(c.low[j]), time_ms):
            self._on_fill(fill)
        if allowed != self.buys_open:
            self.buys_open = allowed
            if allowed:
                self._place_buys(close, time_ms)
            else:
                self.exchange.cancel_side("buy")
        if self.levels is None:
            self._grid_around(close, time_ms, j)
        elif self._out_of_range(close) and self.cfg.regrid.enabled and self.t + j >= self.cooldown_until:
            self.exchange.cancel_all()
            self.stats.regrids += 1
            self.cooldown_until = self.t + j + self.cfg.regrid.cooldown_candles
            self._grid_around(close, time_ms, j)

    def _out_of_range(self, close: float) -> bool:
        assert self.levels is not None
        return bool(close > self.levels[-1] or close < self.levels[0])

    def _next_event(self, c: Candles, allowed: NDArray[np.bool_], pos: int) -> int:
        if self.levels is None:
            return pos
        bid, ask = self.exchange.best_bid(), self.exchange.best_ask()
        lower, upper = float(self.levels[0]), float(self.levels[-1])
        width, n = 64, len(c)
        while pos < n:
            end = min(n, pos + width)
            hit = (c.low[pos:end] <= bid) | (c.high[pos:end] >= ask) | (allowed[pos:end] != self.buys_open)
            if self.cfg.regrid.enabled:
                out = (c.close[pos:end] > upper) | (c.close[pos:end] < lower)
                out[: max(0, self.cooldown_until - (self.t + pos))] = False
                hit |= out
            k = int(np.argmax(hit))
            if hit[k]:
                return pos + k
            pos, width = end, min(width * 4, 65_536)
        return n

    # --- equity between events ----------------------------------------------------------------------

    def _mark(self, c: Candles, start: int, stop: int) -> None:
        if stop <= start:
            return
        p, s = self.portfolio, self.stats
        closes = c.close[start:stop]
        equity = p.quote + p.base * closes
        peaks = np.maximum.accumulate(np.maximum(equity, s.peak_equity))
        s.max_drawdown = max(s.max_drawdown, float(np.max(1.0 - equity / peaks)))
        s.peak_equity = float(peaks[-1])
        if p.base > 0:
            s.in_market += stop - start
        first = start + (-(self.t + start)) % self._curve_every  # sample on a fixed global stride
        for k in range(first, stop, self._curve_every):
            self.curve.append((int(c.time_ms[k]), float(closes[k - start]), float(equity[k - start])))
        if len(self.curve) >= MAX_CURVE_POINTS:
            self.curve = self.curve[::2]
            self._curve_every *= 2

    def run_chunk(self, c: Candles) -> None:
        n = len(c)
        if n == 0:
            return
        if self.stats.candles == 0:
            self.stats.first_ms = int(c.time_ms[0])
        allowed = self._allowed(c)
        pos = 0
        while pos < n:
            j = self._next_event(c, allowed, pos)
            self._mark(c, pos, j)
            if j == n:
                break
            self._event(c, j, bool(allowed[j]))
            self._mark(c, j, j + 1)
            pos = j + 1
        self.t += n
        self.stats.candles += n
        self.stats.last_close = float(c.close[-1])
        self.stats.last_ms = int(c.time_ms[-1])

    # --- results ------------------------------------------------------------------------------------

    def summary(self) -> dict[str, float | int | str]:
        p, s = self.portfolio, self.stats
        mark = s.last_close
        equity = p.equity(mark)
        return {
            "symbol": self.cfg.market.symbol,
            "candles": s.candles,
            "start": datetime.fromtimestamp(s.first_ms / 1000, UTC).isoformat(),
            "end": datetime.fromtimestamp(s.last_ms / 1000, UTC).isoformat(),
            "start_equity": round(p.start_equity, 2),
            "end_equity": round(equity, 2),
            "return_pct": round((equity / p.start_equity - 1) * 100, 4),
            "max_drawdown_pct": round(s.max_drawdown * 100, 4),
            "round_trips": s.round_trips,
            "round_trip_profit": round(s.round_trip_profit, 2),
            "realized_pnl": round(p.realized, 2),
            "unrealized_pnl": round(p.unrealized(mark), 2),
            "fees": round(p.fees, 2),
            "time_in_market_pct": round(s.in_market / max(s.candles, 1) * 100, 2),
            "regrids": s.regrids,
            "open_orders": len(self.exchange.open_orders()),
            "base_held": round(p.base, 8),
        }

    def snapshot(self) -> dict[str, object]:
        """Everything needed to continue after a restart, as JSON-friendly data."""
        return {
            "t": self.t,
            "portfolio": asdict(self.portfolio),
            "levels": None if self.levels is None else self.levels.tolist(),
            "qty": None if self.qty is None else self.qty.tolist(),
            "orders": [asdict(o) for o in self.exchange.open_orders()],
            "buys_open": self.buys_open,
            "cooldown_until": self.cooldown_until,
            "stats": asdict(self.stats),
            "indicators": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self.ind).items()},
        }

    def restore(self, snap: dict) -> None:
        self.t = int(snap["t"])
        self.portfolio = Portfolio(**snap["portfolio"])
        self.levels = None if snap["levels"] is None else np.array(snap["levels"], dtype=np.float64)
        self.qty = None if snap["qty"] is None else np.array(snap["qty"], dtype=np.float64)
        self.exchange.cancel_all()
        for o in snap["orders"]:
            self.exchange.place_limit(
                o["side"], o["price"], o["qty"], o["level"], o["entry_price"], o["opened_ms"]
            )
        self.buys_open = bool(snap["buys_open"])
        self.cooldown_until = int(snap["cooldown_until"])
        self.stats = Stats(**snap["stats"])
        saved = snap["indicators"]
        types = {"ema": ind.EmaState, "adx": ind.AdxState, "rsi": ind.RsiState, "atr": ind.AtrState}
        for name, cls in types.items():
            if getattr(self.ind, name) is not None and saved.get(name) is not None:
                setattr(self.ind, name, cls(*saved[name]))
        self.ind.ema_tail = list(saved.get("ema_tail", []))
