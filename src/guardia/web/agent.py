"""The HTTP surface of ``guardia serve --agent``: health, readiness, reload, ``/metrics`` and
whatever forwarding subsystems serve (``/probe``, heartbeat pushes).  An agent keeps no
samples, so the query API answers as Prometheus's agent does: 422, ``errorType: unavailable``.

Plain ASGI routes (:mod:`guardia.web.plain_router`), not Starlette: an agent answers a few
requests a minute, and Starlette with what it imports was about 4 MiB of each agent (#24)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry

from guardia.web.metrics_text import CONTENT_TYPE, text_exposition
from guardia.web.plain import PlainRequest, PlainResponse, json_answer, text
from guardia.web.plain_router import Route, Router
from guardia.web.protocols import Reloader

UNAVAILABLE = "unavailable in agent mode: this guardia only forwards samples (query the central store)"


def agent_routes(registry: CollectorRegistry, reloader: Reloader, is_ready: Callable[[], bool],
                 extra_routes: Sequence[Route] = ()) -> list[Route]:
    async def healthy(request: PlainRequest) -> PlainResponse:
        return text("Guardia Agent is Healthy.\n")

    async def ready(request: PlainRequest) -> PlainResponse:
        if is_ready():
            return text("Guardia Agent is Ready.\n")
        return text("Service Unavailable\n", 503)

    async def reload(request: PlainRequest) -> PlainResponse:
        try:
            await reloader.reload()
        except ValueError as e:
            return text(f"failed to reload config: {e}\n", 500)
        return text("")

    async def metrics(request: PlainRequest) -> PlainResponse:
        # guardia.web.metrics_text: prometheus_client's exposition module (with its HTTP
        # servers, urllib.request and email) is never imported in an agent
        return PlainResponse(text_exposition(registry), content_type=CONTENT_TYPE)

    async def unavailable(request: PlainRequest) -> PlainResponse:
        return json_answer({"status": "error", "errorType": "unavailable", "error": UNAVAILABLE}, 422)

    return [
        Route("/-/healthy", healthy, ("GET", "HEAD")),
        Route("/-/ready", ready, ("GET", "HEAD")),
        Route("/-/reload", reload, ("POST", "PUT")),
        Route("/metrics", metrics, ("GET",)),
        *extra_routes,
        Route("/api/v1/{rest:path}", unavailable, ("GET", "POST")),
    ]


def create_agent_app(registry: CollectorRegistry, reloader: Reloader, is_ready: Callable[[], bool],
                     extra_routes: Sequence[Route] = ()) -> Router:
    return Router(agent_routes(registry, reloader, is_ready, extra_routes))
