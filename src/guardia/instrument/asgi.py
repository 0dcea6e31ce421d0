"""ASGI middleware for FastAPI, Starlette or any ASGI app: HTTP and WebSocket metrics, ``/metrics``.

A plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``: it adds one wrapper around
``send`` and no task or stream per request, which keeps its cost to a few microseconds.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from guardia.instrument.exposition import Exposition
from guardia.instrument.http_metrics import HttpMetrics
from guardia.instrument.routes import route_template
from guardia.instrument.websocket import WebSocketMetrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _content_length(scope: Scope) -> int:
    for k, v in scope.get("headers", ()):
        if k == b"content-length":
            try:
                return int(v)
            except ValueError:
                return 0
    return 0


class PrometheusMiddleware:
    def __init__(
        self, app: ASGIApp, http: HttpMetrics, exposition: Exposition,
        websocket: WebSocketMetrics | None = None,
    ) -> None:
        self.app = app
        self.http = http
        self.exposition = exposition
        self.websocket = websocket
        self.metrics_path = http.settings.metrics_path
        self.excluded = http.settings.excluded_handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket" and self.websocket is not None:
            await self.websocket.handle(self.app, scope, receive, send)
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == self.metrics_path:
            await self._serve_metrics(scope, send)
            return
        await self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        http = self.http
        status = 500
        sent = 0

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            t = message["type"]
            if t == "http.response.body":
                sent += len(message.get("body", b""))
            elif t == "http.response.start":
                status = message["status"]
            await send(message)

        root_path = scope.get("root_path", "")
        http.inprogress.inc()
        start = time.perf_counter()
        try:
            await self.app(scope, receive, counting_send)
        except BaseException as exc:
            status = 500
            handler = route_template(scope, root_path)
            if handler not in self.excluded:
                http.exception(handler, exc)
            raise
        finally:
            elapsed = time.perf_counter() - start
            http.inprogress.dec()
            handler = route_template(scope, root_path)
            if handler not in self.excluded:
                http.observe(handler, scope["method"], status, elapsed, _content_length(scope), sent)

    async def _serve_metrics(self, scope: Scope, send: Send) -> None:
        start = time.perf_counter()
        accept = ""
        for k, v in scope.get("headers", ()):
            if k == b"accept":
                accept = v.decode("latin-1")
        body, content_type = self.exposition.render(accept)
        await send({
            "type": "http.response.start", "status": 200,
            "headers": [(b"content-type", content_type.encode()),
                        (b"content-length", str(len(body)).encode())],
        })
        await send({"type": "http.response.body", "body": body})
        if self.metrics_path not in self.excluded:
            self.http.observe(self.metrics_path, scope["method"], 200, time.perf_counter() - start,
                              0, len(body))
