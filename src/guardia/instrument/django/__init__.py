"""Django: a middleware and a URL include.

In settings.py::

    MIDDLEWARE = ["guardia.instrument.django.PrometheusMiddleware", *MIDDLEWARE]
    GUARDIA_INSTRUMENT = {"naming": "django"}   # optional: Settings' fields

and in urls.py ``path("", include("guardia.instrument.django.urls"))`` (serves ``/metrics``).

The handler label is the URL pattern (``/items/<int:pk>/``) in the instrumentator naming and the
view name (django-prometheus's ``view`` label) in the django naming; a request no pattern matched
is ``none``. Put the middleware first so the time includes the other middlewares.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from guardia.instrument import multiprocess_dir
from guardia.instrument.exposition import Exposition
from guardia.instrument.http_metrics import UNMATCHED, HttpMetrics, InstrumentError, Settings

_STATE: dict[str, Any] = {}


def _settings() -> Settings:
    from django.conf import settings as django_settings

    given = getattr(django_settings, "GUARDIA_INSTRUMENT", None) or {}
    if not isinstance(given, dict):
        raise InstrumentError("settings.GUARDIA_INSTRUMENT: must be a dict of guardia.instrument settings")
    known = set(Settings.__dataclass_fields__)
    unknown = sorted(set(given) - known)
    if unknown:
        raise InstrumentError(
            f"settings.GUARDIA_INSTRUMENT: unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    values = dict(given)
    if "excluded_handlers" in values:
        values["excluded_handlers"] = frozenset(values["excluded_handlers"])
    return Settings(**values)


def metrics() -> tuple[HttpMetrics, Exposition]:
    """The process's one set of metrics (Django builds middleware once per process)."""
    if "http" not in _STATE:
        from prometheus_client import REGISTRY

        _STATE["http"] = HttpMetrics(_settings(), REGISTRY)
        _STATE["exposition"] = Exposition(multiprocess_dir(), REGISTRY)
    return _STATE["http"], _STATE["exposition"]


def handler_of(request: Any, naming: str) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED
    if naming == "django":
        return str(match.view_name or "<unnamed view>")
    route = getattr(match, "route", None)
    return "/" + route if route else str(match.view_name or UNMATCHED)


class PrometheusMiddleware:
    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self.http, _ = metrics()
        self.naming = self.http.settings.naming
        self.excluded = self.http.settings.excluded_handlers

    def __call__(self, request: Any) -> Any:
        http = self.http
        http.inprogress.inc()
        start = time.perf_counter()
        status = 500
        response = None
        try:
            response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            elapsed = time.perf_counter() - start
            http.inprogress.dec()
            handler = handler_of(request, self.naming)
            if handler not in self.excluded:
                size = 0
                if response is not None and not getattr(response, "streaming", False):
                    size = len(response.content)
                try:
                    req_size = int(request.META.get("CONTENT_LENGTH") or 0)
                except ValueError:
                    req_size = 0
                transport = "https" if request.is_secure() else "http"
                http.observe(handler, request.method, status, elapsed, req_size, size, transport)

    def process_exception(self, request: Any, exception: BaseException) -> None:
        handler = handler_of(request, self.naming)
        if handler not in self.excluded:
            self.http.exception(handler, exception)
