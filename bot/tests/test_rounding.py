"""The core's float rounding and the exchange's exact rules cannot disagree (`core.grid`'s docstring): a price
and a quantity the core rounded leave through the shell's door (`book.to_wire`) unchanged, on the exchange's
tick and lot step; and on every notional, the core's verdict is the exchange's, judged as the local exchange
judges an order (`price * qty < min_notional`, in Decimal) on what the shell sends."""

from decimal import Decimal

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gridbot.core.grid import below_min_notional, exact, floor_to_step, meets_min_notional, round_to_tick
from gridbot.live.book import to_wire
from gridbot.live.venue import MarketRules

# An exchange's tick sizes and lot steps: 1, 2, 2.5 or 5 at a power of ten, 1 down to 1e-8 (Binance's range).
STEPS = st.builds(
    lambda m, k: (Decimal(m) * 10).scaleb(-k - 1), st.sampled_from([10, 20, 25, 50]), st.integers(0, 8)
)
PRICES = st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False)
QTYS = st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False)


def rules(tick: Decimal, step: Decimal, min_notional: Decimal = Decimal(0)) -> MarketRules:
    return MarketRules("B/Q", "B", "Q", tick, step, min_notional, Decimal(0), Decimal(0))


def rounded(price: float, qty: float, tick: Decimal, step: Decimal) -> tuple[float, float]:
    """What the core places: its price on its tick, its quantity floored to its lot step."""
    p = float(round_to_tick(np.array([price]), float(tick))[0])
    q = float(floor_to_step(np.array([qty]), float(step))[0])
    return p, q


def exchange_accepts(price: Decimal, qty: Decimal, min_notional: Decimal) -> bool:
    """The local exchange's NOTIONAL filter (`gridbot_exchange.matching`): refused below the minimum."""
    return not price * qty < min_notional


@given(tick=STEPS, step=STEPS, coarser=st.integers(1, 10), price=PRICES, qty=QTYS)
@settings(max_examples=1500)
def test_what_the_core_rounded_reaches_the_exchange_unchanged_on_its_tick_and_step(
    tick, step, coarser, price, qty
):
    """The config's tick and step are multiples of the exchange's (`live.preflight.check_rules`)."""
    p, q = rounded(price, qty, tick * coarser, step * coarser)
    wire_p, wire_q = to_wire(p, q, rules(tick, step))
    assert wire_p == exact(p), (p, tick * coarser)
    assert wire_q == exact(q), (q, step * coarser)
    assert wire_p % tick == 0
    assert wire_q % step == 0


@given(tick=STEPS, step=STEPS, price=PRICES, qty=QTYS, data=st.data())
@settings(max_examples=1500)
@example(tick=Decimal(1), step=Decimal("0.1"), price=3.0, qty=64.6, data=None).via("3.0 x 64.6 in float64")
def test_the_core_and_the_exchange_agree_on_every_minimum_notional(tick, step, price, qty, data):
    """At the minimum exactly, a unit of the product either side of it, and anywhere else: where float64
    alone put 3.0 x 64.6 (193.8 exactly) at 193.79999999999998, refusing what the exchange takes. Every
    minimum a config can state (15 significant digits: `core.grid.exact`)."""
    p, q = rounded(price, qty, tick, step)
    if q <= 0:
        return
    wire_p, wire_q = to_wire(p, q, rules(tick, step))
    product = wire_p * wire_q
    unit = (tick * step).normalize()
    candidates = [product, product - unit, product + unit]
    if data is not None:
        candidates.append(data.draw(st.decimals(0, 10_000, places=4), label="min_notional"))
    # A minimum the config can state: 15 significant digits, as a float64 holds them (`exact`)
    for mn in [m for m in candidates if m >= 0 and exact(float(m)) == m]:
        assert meets_min_notional(p, q, float(mn)) == exchange_accepts(wire_p, wire_q, mn), (p, q, mn)


@given(tick=STEPS, step=STEPS, prices=st.lists(PRICES, min_size=1, max_size=20), qty=QTYS)
@settings(max_examples=500)
def test_a_grid_sized_at_once_is_judged_as_each_order_alone(tick, step, prices, qty):
    levels = round_to_tick(np.array(prices), float(tick))
    qtys = floor_to_step(np.full(len(levels), qty), float(step))
    for min_notional in {float(exact(a) * exact(b)) for a, b in zip(levels, qtys, strict=True)}:
        below = below_min_notional(levels, qtys, min_notional)
        pairs = zip(levels, qtys, strict=True)
        alone = [not meets_min_notional(float(a), float(b), min_notional) for a, b in pairs]
        assert below.tolist() == alone
