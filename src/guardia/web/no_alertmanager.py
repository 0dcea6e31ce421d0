"""``/api/v2/*`` when the configuration has no Alertmanager: say so instead of answering 404.

A plain prometheus.yml runs no Alertmanager (it needs an ``alertmanager:`` section in a
guardia.yml), and a 404 from ``amtool`` or Grafana looks like a wrong URL. ``/api/v2/status``
answers in its usual shape with the reason as the config text; every other path is a 503 whose
message says what to add.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from guardia import __version__

MESSAGE = ("no Alertmanager is configured in this guardia: add an alertmanager: section to guardia.yml "
           "(inline, or {file: alertmanager.yml}); see docs/configuration.md")


def no_alertmanager_routes() -> list[Route]:
    started = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    async def status(request: Request) -> Response:
        return JSONResponse({
            "cluster": {"status": "disabled", "peers": [], "name": ""},
            "versionInfo": {"version": f"{__version__}-guardia", "revision": "", "branch": "",
                            "buildUser": "", "buildDate": "", "goVersion": "python"},
            "config": {"original": f"# {MESSAGE}\n"},
            "uptime": started,
        })

    async def unavailable(request: Request) -> Response:
        return JSONResponse(MESSAGE, status_code=503)

    return [Route("/api/v2/status", status, methods=["GET"]),
            Route("/api/v2/{rest:path}", unavailable, methods=["GET", "POST", "DELETE", "PUT"])]
