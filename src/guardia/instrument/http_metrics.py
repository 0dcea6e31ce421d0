"""The HTTP metrics a web app exposes, in the naming of the library its dashboards were built for.

Two namings are offered because teams arrive with dashboards and alert rules already written:
``"instrumentator"`` (prometheus-fastapi-instrumentator's defaults, the default here: the seeds'
rules query ``http_requests_total`` and ``http_request_duration_seconds``) and ``"django"``
(django-prometheus's ``django_http_*`` families). Either way the handler label is a route
template or view name chosen by the caller, never a raw path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

Naming = Literal["instrumentator", "django"]
NAMINGS: tuple[str, ...] = ("instrumentator", "django")

# Web APIs answer in milliseconds to a few seconds; the edges at 0.5 s and 2 s are the usual
# latency SLO thresholds (the GRUPO_GAD rules alert on p95 > 0.5 s and p99 > 2 s), so
# histogram_quantile interpolates least where it matters most.
WEB_API_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
# A fine-grained, label-free histogram as the instrumentator's default set has one.
_HIGHR_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5,
    5.0, 7.5, 10.0, 30.0, 60.0,
)
_DJANGO_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 25.0, 50.0, 75.0,
)
_BODY_BUCKETS: tuple[float, ...] = (0, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)

UNMATCHED = "none"


class InstrumentError(ValueError):
    """A setting of guardia.instrument that cannot work; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    """What ``instrument()`` and the Django middleware accept (validated once, here)."""

    naming: Naming = "instrumentator"
    buckets: Sequence[float] = WEB_API_BUCKETS
    group_status: bool = True  # "2xx" as the instrumentator does; False keeps "200"
    namespace: str = ""
    metrics_path: str = "/metrics"
    excluded_handlers: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.naming not in NAMINGS:
            raise InstrumentError(
                f"naming={self.naming!r}: use one of {', '.join(NAMINGS)} "
                "(the library whose dashboards and rules you already have)"
            )
        b = list(self.buckets)
        if not b or any(not isinstance(x, int | float) for x in b):
            raise InstrumentError(f"buckets={self.buckets!r}: give a non-empty list of seconds")
        if sorted(set(b)) != b or b[0] <= 0:
            raise InstrumentError(
                f"buckets={self.buckets!r}: upper bounds must be positive and strictly increasing"
            )
        if not self.metrics_path.startswith("/"):
            raise InstrumentError(f"metrics_path={self.metrics_path!r}: must start with '/'")


def status_label(status: int, grouped: bool) -> str:
    return f"{status // 100}xx" if grouped else str(status)


class HttpMetrics:
    """One set of HTTP families in one registry, with the single call the hot path makes."""

    def __init__(self, settings: Settings, registry: CollectorRegistry | None) -> None:
        self.settings = settings
        ns = settings.namespace
        reg = registry
        # Gauges of several workers are summed over the live ones (multiprocess mode only).
        self.inprogress = Gauge(
            "http_requests_inprogress" if settings.naming == "instrumentator"
            else "django_http_requests_inprogress",
            "Requests being handled now.",
            namespace=ns, registry=reg, multiprocess_mode="livesum",
        )
        self.exceptions: Counter
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram, Summary, Summary]] = {}
        if settings.naming == "instrumentator":
            self._init_instrumentator(ns, reg)
        else:
            self._init_django(ns, reg)

    def _init_instrumentator(self, ns: str, reg: CollectorRegistry | None) -> None:
        s = self.settings
        self.requests = Counter(
            "http_requests_total", "Requests by handler (route template), method and status.",
            ("handler", "method", "status"), namespace=ns, registry=reg,
        )
        self.duration = Histogram(
            "http_request_duration_seconds", "Time to answer a request, by handler and method.",
            ("handler", "method"), namespace=ns, registry=reg, buckets=tuple(s.buckets),
        )
        self.duration_highr = Histogram(
            "http_request_duration_highr_seconds",
            "Time to answer a request, all handlers, with many buckets.",
            namespace=ns, registry=reg, buckets=_HIGHR_BUCKETS,
        )
        self.request_size = Summary(
            "http_request_size_bytes", "Request body sizes (Content-Length) by handler.",
            ("handler",), namespace=ns, registry=reg,
        )
        self.response_size = Summary(
            "http_response_size_bytes", "Response body sizes by handler.",
            ("handler",), namespace=ns, registry=reg,
        )
        self.exceptions = Counter(
            "http_exceptions_total", "Exceptions raised by handlers, by handler and type.",
            ("handler", "type"), namespace=ns, registry=reg,
        )

    def _init_django(self, ns: str, reg: CollectorRegistry | None) -> None:
        s = self.settings
        buckets = tuple(s.buckets) if tuple(s.buckets) != WEB_API_BUCKETS else _DJANGO_BUCKETS
        self.d_before = Counter(
            "django_http_requests_before_middlewares", "Requests received.",
            namespace=ns, registry=reg,
        )
        self.d_by_method = Counter(
            "django_http_requests_total_by_method", "Requests by method.", ("method",),
            namespace=ns, registry=reg,
        )
        self.d_by_transport = Counter(
            "django_http_requests_total_by_transport", "Requests by transport (http, https).",
            ("transport",), namespace=ns, registry=reg,
        )
        self.d_by_view = Counter(
            "django_http_requests_total_by_view_transport_method",
            "Requests by view, transport and method.", ("view", "transport", "method"),
            namespace=ns, registry=reg,
        )
        self.d_status = Counter(
            "django_http_responses_total_by_status", "Responses by status.", ("status",),
            namespace=ns, registry=reg,
        )
        self.d_status_view = Counter(
            "django_http_responses_total_by_status_view_method",
            "Responses by status, view and method.", ("status", "view", "method"),
            namespace=ns, registry=reg,
        )
        self.d_latency = Histogram(
            "django_http_requests_latency_seconds_by_view_method",
            "Time to answer a request, by view and method.", ("view", "method"),
            namespace=ns, registry=reg, buckets=buckets,
        )
        self.d_req_body = Histogram(
            "django_http_requests_body_total_bytes", "Request body sizes.",
            namespace=ns, registry=reg, buckets=_BODY_BUCKETS,
        )
        self.d_resp_body = Histogram(
            "django_http_responses_body_total_bytes", "Response body sizes.",
            namespace=ns, registry=reg, buckets=_BODY_BUCKETS,
        )
        self.exceptions = Counter(
            "django_http_exceptions_total_by_type", "Exceptions by type.", ("type",),
            namespace=ns, registry=reg,
        )
        self.d_exc_view = Counter(
            "django_http_exceptions_total_by_view", "Exceptions by view.", ("view",),
            namespace=ns, registry=reg,
        )

    def observe(
        self, handler: str, method: str, status: int, seconds: float,
        request_bytes: int, response_bytes: int, transport: str = "http",
    ) -> None:
        """Record one finished request (the only call a request makes besides in-progress)."""
        if self.settings.naming == "instrumentator":
            # The labelled children of one (handler, method, status) are looked up once: a dict
            # hit instead of four label resolutions per request. Bounded: handlers are templates.
            key = (handler, method, status)
            kids = self._children.get(key)
            if kids is None:
                kids = self._children[key] = (
                    self.requests.labels(handler, method, status_label(status, self.settings.group_status)),
                    self.duration.labels(handler, method),
                    self.request_size.labels(handler),
                    self.response_size.labels(handler),
                )
            kids[0].inc()
            kids[1].observe(seconds)
            self.duration_highr.observe(seconds)
            kids[2].observe(request_bytes)
            kids[3].observe(response_bytes)
            return
        self.d_before.inc()
        self.d_by_method.labels(method).inc()
        self.d_by_transport.labels(transport).inc()
        self.d_by_view.labels(handler, transport, method).inc()
        st = status_label(status, False)
        self.d_status.labels(st).inc()
        self.d_status_view.labels(st, handler, method).inc()
        self.d_latency.labels(handler, method).observe(seconds)
        self.d_req_body.observe(request_bytes)
        self.d_resp_body.observe(response_bytes)

    def exception(self, handler: str, exc: BaseException) -> None:
        name = type(exc).__name__
        if self.settings.naming == "instrumentator":
            self.exceptions.labels(handler, name).inc()
        else:
            self.exceptions.labels(name).inc()
            self.d_exc_view.labels(handler).inc()
