"""Metrics for the apps guardia monitors: ``from guardia.instrument import instrument``.

Depends on prometheus_client only (``pip install 'guardia[instrument]'``); nothing of the server
is imported, so an app pays for this package alone. Importing it first thing also chooses, once,
whether this process is one worker of several (uvicorn ``--workers``, gunicorn) and if so sets
up prometheus_client's multiprocess mode: see ``guardia.instrument.workers``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry

from guardia.instrument import workers
from guardia.instrument.asgi import PrometheusMiddleware
from guardia.instrument.exposition import Exposition
from guardia.instrument.http_metrics import (
    UNMATCHED,
    WEB_API_BUCKETS,
    HttpMetrics,
    InstrumentError,
    Naming,
    Settings,
)
from guardia.instrument.routes import route_template, websocket_routes
from guardia.instrument.websocket import WebSocketMetrics

__all__ = [
    "UNMATCHED",
    "WEB_API_BUCKETS",
    "Exposition",
    "HttpMetrics",
    "InstrumentError",
    "PrometheusMiddleware",
    "Settings",
    "WebSocketMetrics",
    "instrument",
    "multiprocess_dir",
    "route_template",
]

workers.current_dir()  # before the app's own metrics are made: see workers.enable

App = TypeVar("App")


def multiprocess_dir() -> Path | None:
    """The directory this process's workers share, or None when it is a lone process."""
    return workers.current_dir()


def instrument(
    app: App,
    *,
    naming: Naming = "instrumentator",
    buckets: Sequence[float] = WEB_API_BUCKETS,
    group_status: bool = True,
    namespace: str = "",
    metrics_path: str = "/metrics",
    excluded_handlers: Sequence[str] = (),
    websocket_prefix: str | None = "websocket_",
    websocket_labels: Mapping[str, str] | None = None,
    registry: CollectorRegistry | None = None,
) -> Any:
    """Add HTTP (and WebSocket) metrics and a ``metrics_path`` route to an ASGI app.

    Starlette and FastAPI apps get the middleware added in place and are returned; any other ASGI
    callable is returned wrapped. ``websocket_prefix=None`` leaves WebSockets unmeasured.
    """
    settings = Settings(naming=naming, buckets=tuple(buckets), group_status=group_status,
                        namespace=namespace, metrics_path=metrics_path,
                        excluded_handlers=frozenset(excluded_handlers))
    reg = REGISTRY if registry is None else registry
    http = HttpMetrics(settings, reg)
    ws = (WebSocketMetrics(websocket_prefix, websocket_labels, reg)
          if websocket_prefix is not None else None)
    if ws is not None:
        for template in websocket_routes(getattr(app, "routes", ())):
            ws.declare(template)
    exposition = Exposition(workers.current_dir(), reg)
    add = getattr(app, "add_middleware", None)
    if callable(add):
        add(PrometheusMiddleware, http=http, exposition=exposition, websocket=ws)
        app.state.guardia_instrument = (http, ws)  # type: ignore[attr-defined]
        return app
    return PrometheusMiddleware(app, http, exposition, ws)  # type: ignore[arg-type]
