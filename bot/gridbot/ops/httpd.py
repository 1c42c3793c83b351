"""The bot's HTTP endpoints on a daemon thread: /metrics (Prometheus exposition of the bot's registry),
/healthz (the loop's heartbeat is fresh), /readyz (markets loaded and reconciled) and /status (JSON).

Stdlib http.server: one small thread, no framework; each handler answers from in-memory state only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gridbot.config.model import BotConfig, ConfigError
from gridbot.ops.health import judge
from gridbot.ops.metrics import Metrics

Ready = Callable[[], tuple[bool, str]]
Status = Callable[[], dict[str, Any]]


class HttpServer:
    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.port: int = server.server_address[1]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_http(
    port: int,
    metrics: Metrics,
    ready: Ready,
    status: Status,
    *,
    healthy: Ready | None = None,
    bind: str = "0.0.0.0",
) -> HttpServer:
    """Serve on bind:port (0 = an ephemeral port, see .port). `healthy` defaults to always-alive: the answer
    itself proves the process serves; the loop passes its heartbeat check."""

    def alive() -> tuple[bool, str]:
        return True, "serving"

    live = healthy or alive

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _probe(self, check: Ready) -> None:
            try:
                ok, reason = check()
            except Exception as exc:  # a failing check is an unready bot, not a dead server
                ok, reason = False, f"check failed: {exc}"
            self._send(200 if ok else 503, f"{reason}\n".encode(), "text/plain; charset=utf-8")

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._probe(live)
            elif path == "/readyz":
                self._probe(ready)
            elif path == "/status":
                try:
                    body, code = json.dumps(status(), default=str).encode(), 200
                except Exception as exc:
                    body, code = json.dumps({"error": str(exc)}).encode(), 500
                self._send(code, body, "application/json")
            else:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")

        def log_message(self, format: str, *args: Any) -> None:
            """Scrapes every few seconds would flood the bot's log."""

    server = ThreadingHTTPServer((bind, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="gridbot-http", daemon=True)
    thread.start()
    return HttpServer(server, thread)


def serve_bot(
    cfg: BotConfig, metrics: Metrics, status: Status, started: Callable[[], bool]
) -> HttpServer | None:
    """A run loop's endpoints (None when run.http_port is null): alive while its heartbeat is fresh, ready
    once `started()` (a halted bot is ready: the process is fine, trading is off; /readyz says why)."""
    metrics.timeframe.set(cfg.run.timeframe_ms / 1000)
    if cfg.run.http_port is None:
        return None

    def ready() -> tuple[bool, str]:
        if not started():
            return False, "starting: markets and the first reconcile"
        halted = status().get("halted")
        return True, f"halted: {halted}" if halted else "trading"

    try:
        return start_http(
            cfg.run.http_port, metrics, ready, status, healthy=lambda: judge(cfg.run.heartbeat_file)
        )
    except OSError as exc:  # a port taken on the host (not in a container): say which field
        raise ConfigError(f"run.http_port {cfg.run.http_port}: {exc.strerror or exc}") from None
