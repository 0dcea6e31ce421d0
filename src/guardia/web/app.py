"""The Starlette application: every HTTP route guardia serves, wired to narrow dependencies.

``create_app`` takes an ``AppDeps`` of protocols (a queryable store, a PromQL engine, target,
rule and status retrievers, a reloader) so it can be built in tests on ``MemoryStorage`` and in
production by ``guardia.server``.  Routes live under ``route_prefix`` when
``--web.external-url`` has a path, as with Prometheus behind a reverse proxy.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from guardia.storage.exemplars import ExemplarStore
from guardia.storage.interface import Storage
from guardia.storage.remote.otlp_receive import OtlpReceiver
from guardia.storage.remote.otlp_translate import OtlpSettings
from guardia.web import api_v1
from guardia.web.api_v1 import ApiDeps
from guardia.web.federate import federate_endpoint
from guardia.web.home import home_routes
from guardia.web.no_alertmanager import no_alertmanager_routes
from guardia.web.otlp import PATH as OTLP_PATH
from guardia.web.otlp import otlp_endpoint
from guardia.web.protocols import Reloader
from guardia.web.remote_write import RemoteWriteReceiver
from guardia.web.selfmetrics import HttpMetrics, HttpMetricsMiddleware, QueryMetrics, metrics_endpoint

log = logging.getLogger("guardia.web")


@dataclass
class AppDeps:
    api: ApiDeps
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    write_storage: Storage | None = None
    reloader: Reloader | None = None
    is_ready: Callable[[], bool] = lambda: True
    external_labels: Callable[[], Mapping[str, str]] = dict
    extra_routes: Sequence[BaseRoute] = ()
    route_prefix: str = ""
    alertmanager_configured: bool = False
    # the config's ``otlp:`` section as the OTLP receiver reads it, per request (reloads apply)
    otlp_settings: Callable[[], OtlpSettings] = OtlpSettings
    # where exemplars received by remote write and OTLP go (None: dropped)
    exemplars: ExemplarStore | None = None
    # --enable-feature=created-timestamp-zero-ingestion (remote write 2.0's created timestamps)
    ct_zero_ingestion: bool = False


# Imported on first use by what the first requests run, while someone waits for a page:
# ``np.unique`` (label values of a dashboard's variables, the index) imports numpy.ma on
# its first call, 0.03 s on a quiet machine and 0.25 s on a loaded one; anyio its asyncio
# backend on the first ``to_thread``.  The app imports them when it is made instead.
WARM_IMPORTS = ("numpy.ma", "anyio._backends._asyncio")


def create_app(deps: AppDeps) -> ASGIApp:
    for name in WARM_IMPORTS:
        importlib.import_module(name)
    http_metrics = HttpMetrics(deps.registry)
    if deps.api.query_observer is None:
        deps.api.query_observer = QueryMetrics(deps.registry)

    async def healthy(request: Request) -> Response:
        return PlainTextResponse("Guardia Server is Healthy.\n")

    async def ready(request: Request) -> Response:
        if deps.is_ready():
            return PlainTextResponse("Guardia Server is Ready.\n")
        return PlainTextResponse("Service Unavailable\n", status_code=503)

    async def reload(request: Request) -> Response:
        if deps.reloader is None:
            return PlainTextResponse("reloading is not available\n", status_code=503)
        try:
            await deps.reloader.reload()
        except ValueError as e:
            return PlainTextResponse(f"failed to reload config: {e}\n", status_code=500)
        return PlainTextResponse("")

    routes: list[BaseRoute] = [
        Route("/-/healthy", healthy, methods=["GET", "HEAD"], name="/-/healthy"),
        Route("/-/ready", ready, methods=["GET", "HEAD"], name="/-/ready"),
        Route("/-/reload", reload, methods=["POST", "PUT"], name="/-/reload"),
        Route("/metrics", metrics_endpoint(deps.registry), methods=["GET"], name="/metrics"),
        Route(
            "/federate",
            federate_endpoint(deps.api.storage, deps.api.lookback_delta_ms, deps.external_labels),  # type: ignore[arg-type]
            methods=["GET"],
            name="/federate",
        ),
        *api_v1.routes(deps.api),
        *deps.extra_routes,
    ]
    receiver: RemoteWriteReceiver | None = None
    if deps.write_storage is not None:
        receiver = RemoteWriteReceiver(deps.write_storage, deps.registry)
        receiver.exemplars = deps.exemplars
        receiver.ct_zero_ingestion = deps.ct_zero_ingestion
        routes.append(Route("/api/v1/write", receiver, methods=["POST"], name="/api/v1/write"))
        otlp = OtlpReceiver(deps.write_storage, deps.registry, deps.exemplars)
        deps.api.pushed_metadata = lambda: otlp.metadata
        routes.append(Route(OTLP_PATH, otlp_endpoint(otlp, deps.otlp_settings), methods=["POST"],  # type: ignore[arg-type]
                            name=OTLP_PATH))
    routes.extend(home_routes(deps.api, deps.route_prefix, deps.alertmanager_configured))
    if not deps.alertmanager_configured:
        routes.extend(no_alertmanager_routes())

    names: dict[int, str] = {}
    _collect_names(routes, names)
    if deps.route_prefix:
        routes = [Mount(deps.route_prefix, routes=routes)]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(HttpMetricsMiddleware, metrics=http_metrics, handler_names=names)],
    )
    if receiver is None:
        return app
    return _RemoteWriteFirst(app, receiver, deps.route_prefix + "/api/v1/write", http_metrics)


class _RemoteWriteFirst:
    """Hands ``POST /api/v1/write`` straight to the receiver, ahead of Starlette's routing
    and middleware; everything else (other methods on that path included) goes to ``app``.

    Remote write is the one endpoint called hundreds of times a second with a fixed job;
    the Starlette stack costs ~0.1 ms a request there, 5-10% of ingesting a 2,000-sample
    batch.  The request is counted in the HTTP metrics all the same.
    """

    def __init__(self, app: ASGIApp, receiver: RemoteWriteReceiver, path: str, metrics: HttpMetrics) -> None:
        self.app = app
        self.receiver = receiver
        self.path = path
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        try:
            status = await self.receiver.serve(scope, receive, send)
        finally:
            self.metrics.observe("/api/v1/write", status, time.perf_counter() - started)


def _collect_names(routes: Sequence[BaseRoute], out: dict[int, Any]) -> None:
    for r in routes:
        if isinstance(r, Route):
            out[id(r.endpoint)] = r.path
        elif isinstance(r, Mount):
            _collect_names(r.routes, out)
