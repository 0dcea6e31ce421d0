"""A built-in demo target: a pretend web shop whose metrics change over time.

``guardia serve`` without ``--config`` serves it on a second local port and scrapes it, so a
fresh install has realistic data to query (request counters by path and status code, a
latency histogram, in-flight requests) with nothing else running.  Traffic is simulated
lazily: each scrape advances the simulation by the time elapsed since the previous one.
"""

from __future__ import annotations

import math
import random
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

# (method, path, requests per second at peak, share of 5xx, median latency seconds)
_ENDPOINTS = (
    ("GET", "/", 12.0, 0.001, 0.02),
    ("GET", "/api/products", 8.0, 0.005, 0.06),
    ("POST", "/api/orders", 1.5, 0.02, 0.25),
    ("GET", "/api/orders/{id}", 3.0, 0.003, 0.04),
    ("POST", "/login", 0.7, 0.01, 0.15),
)


class DemoShop:
    def __init__(self, seed: int = 7) -> None:
        self.registry = CollectorRegistry()
        self.rng = random.Random(seed)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests handled.",
            ["method", "path", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to handle an HTTP request.",
            ["method", "path"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "http_requests_in_flight", "Requests being handled now.", registry=self.registry
        )
        self.orders = Counter("shop_orders_total", "Orders placed.", ["payment"], registry=self.registry)
        self.queue = Gauge(
            "shop_email_queue_length", "Order e-mails waiting to be sent.", registry=self.registry
        )
        self._last = time.time()

    def advance(self, now: float | None = None) -> None:
        """Simulate the traffic of the seconds since the last call (at most ten minutes)."""
        now = time.time() if now is None else now
        elapsed = min(max(now - self._last, 0.0), 600.0)
        self._last = now
        # a daily-ish wave plus noise, so rate() graphs are not flat
        load = 0.6 + 0.4 * math.sin(now / 900.0) + self.rng.uniform(-0.1, 0.1)
        for method, path, rps, err, median in _ENDPOINTS:
            n = int(self.rng.gauss(rps * load * elapsed, math.sqrt(max(rps * elapsed, 1.0))))
            if n <= 0:
                continue
            errors = sum(1 for _ in range(min(n, 200)) if self.rng.random() < err * (3 if load > 0.9 else 1))
            self.requests.labels(method, path, "500").inc(errors)
            self.requests.labels(method, path, "200").inc(n - errors)
            for _ in range(min(n, 50)):
                self.latency.labels(method, path).observe(self.rng.lognormvariate(math.log(median), 0.6))
            if path == "/api/orders":
                self.orders.labels(self.rng.choice(("card", "card", "paypal"))).inc(n - errors)
        self.in_flight.set(max(0, round(self.rng.gauss(4 * load, 2))))
        self.queue.set(max(0, round(self.rng.gauss(3, 3))))


def create_demo_app(shop: DemoShop | None = None) -> Starlette:
    s = shop if shop is not None else DemoShop()

    async def metrics(request: Request) -> Response:
        s.advance()
        return Response(generate_latest(s.registry), media_type=CONTENT_TYPE_LATEST)

    async def index(request: Request) -> Response:
        return PlainTextResponse("guardia demo shop: metrics at /metrics\n")

    return Starlette(routes=[Route("/metrics", metrics), Route("/", index)])
