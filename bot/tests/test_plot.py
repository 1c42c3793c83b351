"""The backtest plot shows what a trader reads: moving grid, fills, log axis over a decade, buy and hold."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from gridbot.config.model import parse_config
from gridbot.core.candles import Candles
from gridbot.core.engine import GridEngine
from gridbot.ops.plot import figure, plot_equity


def _engine(prices):
    n = len(prices)
    t = 1_600_000_000_000 + 86_400_000 * np.arange(n, dtype=np.int64)
    c = Candles(t, prices, prices * 1.03, prices * 0.97, prices, np.ones(n))
    engine = GridEngine(parse_config({"filters": {"trend": {"mode": "off"}}, "regrid": {"cooldown": "1w"}}))
    engine.run_chunk(c)
    return engine


@pytest.mark.parametrize(("span", "scale"), [(30.0, "log"), (1.5, "linear")])
def test_plot_layers_and_axis(tmp_path, span, scale):
    prices = 100 * np.exp(np.log(span) * np.linspace(0, 1, 600) + 0.05 * np.sin(np.arange(600) / 3))
    engine = _engine(prices)
    fig = figure(engine)
    top, bottom = fig.axes
    labels = top.get_legend_handles_labels()[1]
    assert {"close", "grid range", "resting buy orders", "resting sell orders"} <= set(labels)
    assert any(label.startswith("buy fills (") for label in labels)
    assert any(label.startswith("sell fills (") for label in labels)
    assert top.get_yscale() == scale
    assert bottom.get_legend_handles_labels()[1] == ["gridbot equity", "buy and hold"]
    assert len(engine.grid_changes) == engine.stats.regrids + 1 > 1  # every grid, not only the last
    out = tmp_path / "p.png"
    plot_equity(engine, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_only_prices_where_an_order_rested_are_drawn_from_its_placing_to_its_end(monkeypatch):
    """Each drawn line is an order: its price, from when it was placed (the exchange's record, not the
    engine's) until it filled or was cancelled; a grid whose budget sits in the coin draws none below."""
    from matplotlib.dates import num2date  # noqa: PLC0415

    from gridbot.core.paper import PaperExchange  # noqa: PLC0415

    placed = []
    real = PaperExchange.place_limit

    def spy(self, side, price, qty, level, opened_ms=0):
        placed.append((side, price, opened_ms))
        return real(self, side, price, qty, level, opened_ms)

    monkeypatch.setattr(PaperExchange, "place_limit", spy)
    # up, then down through the grid and up again: buys fill and sells rest above
    prices = 100 * np.exp(0.2 * np.sin(np.linspace(0, 9, 400)))
    engine = _engine(prices)
    top = figure(engine).axes[0]
    drawn = []
    for lines in top.collections:
        label = lines.get_label()
        if label.startswith("resting "):
            side = label.split()[1]
            for (t0, y0), (_t1, y1) in lines.get_segments():
                assert y0 == y1
                drawn.append((side, float(y0), int(num2date(t0).timestamp() * 1000)))
    assert sorted(drawn) == sorted(placed)
    assert {side for side, _, _ in placed} == {"buy", "sell"}


def test_order_spans_say_when_they_no_longer_hold_every_order():
    """Bounded for a bot running for months; once one is dropped the plot draws none rather than some."""
    from gridbot.core.order_spans import MAX_SPANS, OrderSpans  # noqa: PLC0415
    from gridbot.core.paper import Order  # noqa: PLC0415

    spans = OrderSpans()
    spans.ended([Order(i, "buy", 100.0, 1.0, 0, opened_ms=i) for i in range(MAX_SPANS)], MAX_SPANS)
    assert spans.complete
    assert len(spans.until([Order(0, "sell", 101.0, 1.0, 1, opened_ms=5)], 9)) == MAX_SPANS + 1
    spans.ended([Order(MAX_SPANS, "sell", 101.0, 1.0, 1, opened_ms=7)], 8)
    assert not spans.complete
    assert len(spans.spans) == MAX_SPANS
