"""The HTTP surface of ``guardia serve --agent``: health, readiness, reload, ``/metrics`` and
whatever forwarding subsystems serve (``/probe``, heartbeat pushes).  An agent keeps no
samples, so the query API answers as Prometheus's agent does: 422, ``errorType: unavailable``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from guardia.web.protocols import Reloader
from guardia.web.selfmetrics import metrics_endpoint

UNAVAILABLE = "unavailable in agent mode: this guardia only forwards samples (query the central store)"


def create_agent_app(registry: CollectorRegistry, reloader: Reloader, is_ready: Callable[[], bool],
                     extra_routes: Sequence[BaseRoute] = ()) -> ASGIApp:
    async def healthy(request: Request) -> Response:
        return PlainTextResponse("Guardia Agent is Healthy.\n")

    async def ready(request: Request) -> Response:
        if is_ready():
            return PlainTextResponse("Guardia Agent is Ready.\n")
        return PlainTextResponse("Service Unavailable\n", status_code=503)

    async def reload(request: Request) -> Response:
        try:
            await reloader.reload()
        except ValueError as e:
            return PlainTextResponse(f"failed to reload config: {e}\n", status_code=500)
        return PlainTextResponse("")

    async def unavailable(request: Request) -> Response:
        return JSONResponse({"status": "error", "errorType": "unavailable", "error": UNAVAILABLE},
                            status_code=422)

    routes: list[BaseRoute] = [
        Route("/-/healthy", healthy, methods=["GET", "HEAD"]),
        Route("/-/ready", ready, methods=["GET", "HEAD"]),
        Route("/-/reload", reload, methods=["POST", "PUT"]),
        Route("/metrics", metrics_endpoint(registry, own_writer=True), methods=["GET"]),
        *extra_routes,
        Route("/api/v1/{rest:path}", unavailable, methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes)
