"""Self-monitoring: ``/metrics`` and the HTTP metrics every request updates.

Every component registers its metrics on the one ``CollectorRegistry`` the process hands
out, so ``/metrics`` is a single exposition of that registry: process, HTTP, query, scrape,
TSDB, rules and alerting metrics together, under Prometheus's names where they exist.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from guardia.web.plain import ASGIApp, Message, Receive, Scope, Send

# Prometheus's own buckets for prometheus_http_request_duration_seconds.
HTTP_BUCKETS = (0.1, 0.2, 0.4, 1, 3, 8, 20, 60, 120)


def register_process_collectors(registry: CollectorRegistry) -> None:
    """process_* (CPU, memory, fds, start time), python_gc_*, python_info."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "prometheus_http_requests_total",
            "Counter of HTTP requests.",
            ["code", "handler"],
            registry=registry,
        )
        self.duration = Histogram(
            "prometheus_http_request_duration_seconds",
            "Histogram of latencies for HTTP requests.",
            ["handler"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        )

    def observe(self, handler: str, status: int, seconds: float) -> None:
        """One finished request: counted by code and handler, its latency by handler."""
        self.requests.labels(str(status), handler).inc()
        self.duration.labels(handler).observe(seconds)


class QueryMetrics:
    """``QueryObserver`` feeding query self-metrics (in flight, duration, failures by type)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.in_flight = Gauge(
            "prometheus_engine_queries", "The current number of queries being executed or waiting.",
            registry=registry,
        )
        self.duration = Histogram(
            "guardia_api_query_duration_seconds",
            "Wall time of PromQL queries served by the HTTP API, including waiting for a worker.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=registry,
        )
        self.failed = Counter(
            "guardia_api_query_failures_total", "PromQL queries that failed, by API error type.",
            ["type"], registry=registry,
        )

    def started(self) -> None:
        self.in_flight.inc()

    def finished(self, seconds: float, error_type: str | None) -> None:
        self.in_flight.dec()
        self.duration.observe(seconds)
        if error_type is not None:
            self.failed.labels(error_type).inc()


class HttpMetricsMiddleware:
    """Counts every request by handler (the route template, not the raw path) and code."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics, handler_names: dict[int, str]) -> None:
        self.app = app
        self.metrics = metrics
        self.names = handler_names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            endpoint: Any = scope.get("endpoint")
            handler = self.names.get(id(endpoint), "other") if endpoint is not None else "other"
            self.metrics.observe(handler, status[0], time.perf_counter() - started)


def metrics_endpoint(registry: CollectorRegistry) -> Any:
    """``/metrics`` of full mode: prometheus_client's ``generate_latest`` (an agent writes it
    with :mod:`guardia.web.metrics_text`, see :mod:`guardia.web.agent`)."""
    from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
    from starlette.requests import Request
    from starlette.responses import Response

    async def handle(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return handle
