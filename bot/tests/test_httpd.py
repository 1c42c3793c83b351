"""The HTTP endpoints, served by a real server on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.error

import pytest
from endpoints import get

from gridbot.config.model import BotConfig
from gridbot.ops.httpd import serve_bot, start_http
from gridbot.ops.metrics import Metrics


@pytest.fixture
def served():
    m = Metrics()
    state = {"ready": (False, "markets not loaded"), "alive": (True, "heartbeat 1.0s old")}
    srv = start_http(
        0,
        m,
        lambda: state["ready"],
        lambda: {"mode": "live", "halted": False},
        healthy=lambda: state["alive"],
        bind="127.0.0.1",
    )
    yield srv, m, state
    srv.close()


def test_metrics_serves_the_registry(served):
    srv, m, _ = served
    m.equity.set(1234.5)
    m.fills.labels(side="buy").inc(3)
    code, body = get(srv.port, "/metrics")
    assert code == 200
    assert "gridbot_equity_quote 1234.5" in body
    assert 'gridbot_fills_total{side="buy"} 3.0' in body


def test_readyz_follows_ready_with_reason(served):
    srv, _, state = served
    assert get(srv.port, "/readyz") == (503, "markets not loaded\n")
    state["ready"] = (True, "reconciled")
    assert get(srv.port, "/readyz") == (200, "reconciled\n")


def test_healthz_follows_the_heartbeat(served):
    srv, _, state = served
    assert get(srv.port, "/healthz")[0] == 200
    state["alive"] = (False, "heartbeat 99.0s old")
    assert get(srv.port, "/healthz") == (503, "heartbeat 99.0s old\n")


def test_status_json_and_unknown_path(served):
    srv, _, _ = served
    code, body = get(srv.port, "/status")
    assert code == 200
    assert json.loads(body) == {"mode": "live", "halted": False}
    assert get(srv.port, "/nope")[0] == 404


def test_close_frees_the_port(served):
    srv, _, _ = served
    port = srv.port
    srv.close()
    with pytest.raises(urllib.error.URLError, match="Connection refused"):
        get(port, "/healthz")


def test_the_timeframe_is_published_for_the_candle_alert():
    m = Metrics()
    assert serve_bot(BotConfig(run={"timeframe": "1h", "http_port": None}), m, dict, lambda: False) is None
    assert m.registry.get_sample_value("gridbot_timeframe_seconds") == 3600.0
