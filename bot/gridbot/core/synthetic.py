"""Deterministic synthetic BTC/USDT-like candles with market regimes.

The price is a geometric random walk whose drift and volatility switch between regimes (range,
trend up, trend down, volatility burst) held for random durations; a range regime mean-reverts to its
anchor. Intra-candle highs and lows come from the path's own sub-steps, so every candle is a valid OHLC
bar. The same seed always gives the same candles; the shipped dataset is generate(seed=20251121).
"""

from __future__ import annotations

import numpy as np

from gridbot.core.candles import Candles

# name: (drift per candle, volatility per candle, mean reversion strength)
REGIMES = {
    "range": (0.0, 0.0012, 0.004),
    "trend_up": (0.00012, 0.0014, 0.0),
    "trend_down": (-0.00012, 0.0016, 0.0),
    "burst": (0.0, 0.0045, 0.0),
}
# Regime mix and mean durations (in candles) of a 5-minute series: mostly ranging, as markets are.
WEIGHTS = {"range": 0.5, "trend_up": 0.2, "trend_down": 0.2, "burst": 0.1}
MEAN_DURATION = {"range": 2000, "trend_up": 1200, "trend_down": 1200, "burst": 150}
SUBSTEPS = 4


def generate(
    n: int, seed: int = 20251121, start_price: float = 60_000.0, start_ms: int = 1_735_689_600_000,
    timeframe_ms: int = 300_000,
) -> Candles:  # fmt: skip
    rng = np.random.default_rng(seed)
    names = list(REGIMES)
    probs = np.array([WEIGHTS[k] for k in names])
    drift = np.empty(n)
    vol = np.empty(n)
    revert = np.empty(n)
    i = 0
    while i < n:
        name = names[rng.choice(len(names), p=probs)]
        length = max(10, int(rng.exponential(MEAN_DURATION[name])))
        d, v, r = REGIMES[name]
        drift[i : i + length], vol[i : i + length], revert[i : i + length] = d, v, r
        i += length

    shocks = rng.standard_normal((n, SUBSTEPS)) * (vol / np.sqrt(SUBSTEPS))[:, None]
    log_p = np.empty(n + 1)
    log_p[0] = np.log(start_price)
    anchor = log_p[0]
    path = np.empty((n, SUBSTEPS))
    for t in range(n):
        if revert[t] == 0.0:
            anchor = log_p[t]
        pull = revert[t] * (anchor - log_p[t]) + drift[t]
        steps = log_p[t] + np.cumsum(shocks[t] + pull / SUBSTEPS)
        path[t] = steps
        log_p[t + 1] = steps[-1]

    prices = np.exp(path)
    open_ = np.exp(log_p[:-1])
    close = prices[:, -1]
    high = np.maximum(prices.max(axis=1), open_)
    low = np.minimum(prices.min(axis=1), open_)
    volume = np.round(rng.gamma(2.0, 5.0, n) * (1 + 50 * vol), 4)
    o, h, lo, c = (np.round(a, 2) for a in (open_, high, low, close))
    time_ms = start_ms + timeframe_ms * np.arange(n, dtype=np.int64)
    return Candles(time_ms, o, h, lo, c, volume)
