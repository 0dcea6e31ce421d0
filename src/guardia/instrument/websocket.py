"""WebSocket metrics: connections open now, connects, disconnects by close code, messages in and
out, and how long the app takes to handle each message it receives.

Names are ``PREFIX + suffix``; the suffixes are those GRUPO_GAD's own ``ggrt_*`` metrics use
(``active_connections``, ``connections_total``, ``messages_sent_total``,
``message_latency_seconds``, ``send_errors_total``, ``broadcasts_total``), so with
``prefix="ggrt_"`` their dashboards and rules keep working. Constant labels (their ``env``) are
given once and carried by every sample.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from guardia.instrument.http_metrics import UNMATCHED, InstrumentError
from guardia.instrument.routes import route_template

# GRUPO_GAD's buckets for message latency: local round trips to incidents of several seconds.
MESSAGE_BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# What a peer that vanished without a close frame is recorded as (RFC 6455 §7.1.5).
ABNORMAL_CLOSURE = 1006

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class WebSocketMetrics:
    def __init__(
        self, prefix: str = "websocket_", const_labels: Mapping[str, str] | None = None,
        registry: CollectorRegistry | None = None, buckets: tuple[float, ...] = MESSAGE_BUCKETS,
    ) -> None:
        if prefix and not prefix.replace("_", "a").isalnum():
            raise InstrumentError(f"websocket prefix={prefix!r}: use letters, digits and '_'")
        self.const = dict(const_labels or {})
        for k in self.const:
            if k in ("handler", "code") or not k.replace("_", "a").isalnum():
                raise InstrumentError(f"websocket const label {k!r}: not a usable label name")
        names = (*self.const, "handler")
        p = prefix
        self.active = Gauge(f"{p}active_connections", "WebSocket connections open now.", names,
                            registry=registry, multiprocess_mode="livesum")
        self.connects = Counter(f"{p}connections", "WebSocket connections accepted.", names,
                                registry=registry)
        self.disconnects = Counter(f"{p}disconnections", "WebSocket connections closed, by close code.",
                                   (*names, "code"), registry=registry)
        self.received = Counter(f"{p}messages_received", "WebSocket messages received.", names,
                                registry=registry)
        self.sent = Counter(f"{p}messages_sent", "WebSocket messages sent.", names, registry=registry)
        self.send_errors = Counter(f"{p}send_errors", "WebSocket sends that failed.", names,
                                   registry=registry)
        self.broadcasts = Counter(f"{p}broadcasts", "Broadcasts the app made (record_broadcast).",
                                  tuple(self.const), registry=registry)
        self.latency = Histogram(
            f"{p}message_latency_seconds",
            "Time from a message reaching the app to the app asking for the next one.",
            names, registry=registry, buckets=buckets,
        )

        if self.const:
            self.broadcasts.labels(**self.const)

    def declare(self, handler: str) -> None:
        """Create a route's series at zero before its first connection, so rules and panels over
        them find a series (an absent one reads as "no data", not as 0)."""
        labels = {**self.const, "handler": handler}
        for family in (self.active, self.connects, self.received, self.sent, self.send_errors,
                       self.latency):
            family.labels(**labels)

    def record_broadcast(self) -> None:
        """For the app's own fan-out code: one broadcast made."""
        if self.const:
            self.broadcasts.labels(**self.const).inc()
        else:
            self.broadcasts.inc()

    async def handle(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        root_path = scope.get("root_path", "")
        const = self.const
        labels: dict[str, str] = {}
        state = {"open": False}
        got_at: list[float] = []

        def close(code: int) -> None:
            if state["open"]:
                state["open"] = False
                self.active.labels(**labels).dec()
                self.disconnects.labels(**labels, code=str(code)).inc()

        async def receive_wrapper() -> Message:
            if got_at:
                self.latency.labels(**labels).observe(time.perf_counter() - got_at.pop())
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                if state["open"]:
                    self.received.labels(**labels).inc()
                    got_at.append(time.perf_counter())
            elif kind == "websocket.disconnect":
                close(int(message.get("code", 1005)))
            return message

        async def send_wrapper(message: Message) -> None:
            kind = message["type"]
            if kind == "websocket.send":
                try:
                    await send(message)
                except BaseException:
                    if state["open"]:
                        self.send_errors.labels(**labels).inc()
                    raise
                if state["open"]:
                    self.sent.labels(**labels).inc()
                return
            if kind == "websocket.accept":
                labels.update(const, handler=route_template(scope, root_path) or UNMATCHED)
                state["open"] = True
                self.active.labels(**labels).inc()
                self.connects.labels(**labels).inc()
            elif kind == "websocket.close":
                close(int(message.get("code", 1000)))
            await send(message)

        try:
            await app(scope, receive_wrapper, send_wrapper)
        finally:
            close(ABNORMAL_CLOSURE)
