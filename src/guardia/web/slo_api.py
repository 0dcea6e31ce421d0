"""``/api/v1/slos``: every SLO with its objective, budget, burn rates and alert state.

Not a Prometheus endpoint (Prometheus has no SLOs), so its shape is guardia's own, in the
Prometheus envelope (``status``/``data``) so the same clients can read it.  The web package
sees SLOs only through ``SLORetriever``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from guardia.web.envelope import ApiError, json_response, success


class SLORetriever(Protocol):
    def list(self) -> Sequence[dict[str, Any]]: ...

    def get(self, name: str) -> dict[str, Any] | None: ...


def _error(e: ApiError) -> Response:
    return json_response({"status": "error", "errorType": e.error_type, "error": e.message}, e.status)


def routes(slos: SLORetriever) -> list[Route]:
    """Mounted by the web app under its route prefix, like the other API routes."""

    async def list_slos(request: Request) -> Response:
        service = request.query_params.get("service")
        data = [d for d in slos.list() if service is None or d["service"] == service]
        return success(data)

    async def get_slo(request: Request) -> Response:
        name = request.path_params["name"]
        d = slos.get(name)
        if d is None:
            known = ", ".join(f"{x['service']}/{x['name']}" for x in slos.list()) or "none"
            return _error(ApiError("not_found", f"no SLO named {name!r} (known: {known})"))
        return success(d)

    return [
        Route("/api/v1/slos", list_slos, methods=["GET"]),
        Route("/api/v1/slos/{name:path}", get_slo, methods=["GET"]),
    ]
