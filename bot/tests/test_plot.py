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
    assert {"close", "grid range", "grid levels"} <= set(labels)
    assert any(label.startswith("buy fills (") for label in labels)
    assert any(label.startswith("sell fills (") for label in labels)
    assert top.get_yscale() == scale
    assert bottom.get_legend_handles_labels()[1] == ["gridbot equity", "buy and hold"]
    assert len(engine.grid_changes) == engine.stats.regrids + 1 > 1  # every grid, not only the last
    out = tmp_path / "p.png"
    plot_equity(engine, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
