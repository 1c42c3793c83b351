"""Incremental indicator update per candle vs TA-Lib recomputing a 500-candle window, side by side."""

import timeit

import numpy as np
import talib

from gridbot.core import indicators as ind
from gridbot.core.synthetic import generate

WINDOW = 500
N = 14


def main() -> None:
    c = generate(WINDOW + 1000)
    h, lo, cl = c.high, c.low, c.close
    rsi_s = ind.rsi(cl[:WINDOW], N)[1]
    atr_s = ind.atr(h[:WINDOW], lo[:WINDOW], cl[:WINDOW], N)[1]
    adx_s = ind.adx(h[:WINDOW], lo[:WINDOW], cl[:WINDOW], N).state
    ema_s = ind.ema(cl[:WINDOW], 50)[1]
    x, hh, ll = float(cl[WINDOW]), float(h[WINDOW]), float(lo[WINDOW])
    wc, wh, wl = cl[1 : WINDOW + 1], h[1 : WINDOW + 1], lo[1 : WINDOW + 1]
    cases = [
        ("RSI(14)", lambda: ind.rsi_step(rsi_s, x), lambda: talib.RSI(wc, N)),
        ("ATR(14)", lambda: ind.atr_step(atr_s, hh, ll, x), lambda: talib.ATR(wh, wl, wc, N)),
        ("ADX(14)", lambda: ind.adx_step(adx_s, hh, ll, x), lambda: talib.ADX(wh, wl, wc, N)),
        ("EMA(50)", lambda: ind.ema_step(ema_s, x), lambda: talib.EMA(wc, 50)),
    ]
    for name, ours, theirs in cases:
        reps = 20_000
        t_ours = min(timeit.repeat(ours, number=reps, repeat=5)) / reps * 1e6
        t_talib = min(timeit.repeat(theirs, number=reps, repeat=5)) / reps * 1e6
        print(
            f"indicator {name}: incremental step {t_ours:.2f} us  vs  TA-Lib recompute of {WINDOW} candles "
            f"{t_talib:.2f} us  (ratio {t_ours / t_talib:.2f}x, goal <= 2x)"
        )
    # O(1): the step costs the same whatever the history length.
    long_s = ind.rsi(generate(50_000).close, N)[1]
    t_long = min(timeit.repeat(lambda: ind.rsi_step(long_s, x), number=20_000, repeat=5)) / 20_000 * 1e6
    print(f"indicator RSI(14) step after 50,000 candles: {t_long:.2f} us (O(1): same as after {WINDOW})")
    assert np.isfinite(t_long)


if __name__ == "__main__":
    main()
