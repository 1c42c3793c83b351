"""HTTP on loopback with the standard library's threading server: it adds no dependency and gives the
handler the socket itself, which the "accept the order, then drop the connection" fault needs."""

from __future__ import annotations

import json
import socket
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from gridbot_exchange import admin, ratelimits, routes
from gridbot_exchange.errors import ApiError
from gridbot_exchange.venue import Venue

MAX_BODY = 65_536
API = "/api/v3/"
ADMIN = "/admin/"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle + delayed ACK add 40 ms per answer.
    disable_nagle_algorithm = True
    server: ExchangeServer

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def _send(
        self, status: int, payload: object, headers: dict[str, str] | None = None, raw: bool = False
    ) -> None:
        headers = {**self._limit_headers, **(headers or {})}
        text = payload if raw and isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if raw else "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, val in (headers or {}).items():
            self.send_header(k, val)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        """Close the socket without an answer: the client sees the connection reset."""
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _body(self) -> str:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ApiError(400, -1101, "Too many parameters sent for this endpoint.")
        try:
            return self.rfile.read(length).decode() if length else ""
        except UnicodeDecodeError:
            raise ApiError(400, -1100, "Illegal characters found in a parameter.") from None

    def _handle(self) -> None:
        url = urlsplit(self.path)
        venue = self.server.venue
        self._limit_headers: dict[str, str] = {}
        try:
            body = self._body()
            if url.path.startswith(ADMIN):
                self._admin(url.path[len(ADMIN) :], dict(parse_qsl(url.query)), body)
                return
            if not url.path.startswith(API):
                raise ApiError(404, -1000, f"Unknown path {url.path}")
            route = url.path[len(API) :]
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            params.update(parse_qsl(body, keep_blank_values=True))
            w = ratelimits.weight(self.command, route, params)
            self._limit_headers = venue.limits.admit(self.client_address[0], w)
            fx = venue.faults.effects(self.command, url.path)
            if fx.latency_s:
                time.sleep(fx.latency_s)
            if fx.hang_s:
                time.sleep(fx.hang_s)
                self._drop()
                return
            if fx.maintenance:
                self._send(503, {"code": 1, "msg": "System is under maintenance."})
                return
            if fx.status in (418, 429):
                msg = (
                    "Way too many requests; IP banned."
                    if fx.status == 418
                    else "Too many requests; current limit is 6000 request weight per 1 MINUTE."
                )
                self._send(fx.status, {"code": -1003, "msg": msg}, {"Retry-After": str(fx.retry_after)})
                return
            if fx.status:
                self._send(fx.status, "Service Unavailable", raw=True)
                return
            result, headers = routes.dispatch(
                venue, self.command, route, params, self.headers.get("X-MBX-APIKEY"), url.query, body
            )
            if (self.command, route) in ratelimits.ZERO_ON_SUCCESS:
                self._limit_headers = venue.limits.refund(self.client_address[0], w)
            if fx.drop:
                self._drop()
                return
            self._send(200, result, headers)
        except ApiError as e:
            self._send(e.status, e.body(), e.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            traceback.print_exc(file=sys.stderr)
            self._send(500, {"code": -1000, "msg": "An unknown error occurred while processing the request."})

    def _admin(self, route: str, query: dict[str, str], body: str) -> None:
        fn = admin.ROUTES.get((self.command, route))
        if fn is None:
            raise ApiError(404, -1000, f"Unknown admin path /admin/{route}")
        try:
            data = json.loads(body) if body else {}
        except json.JSONDecodeError as e:
            raise ApiError(400, -1102, f"admin body is not JSON: {e}") from None
        if not isinstance(data, dict):
            raise ApiError(400, -1102, "admin body must be a JSON object")
        self._send(200, fn(self.server.venue, query, data))


class ExchangeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], venue: Venue, verbose: bool = False) -> None:
        super().__init__(address, Handler)
        self.venue = venue
        self.verbose = verbose
