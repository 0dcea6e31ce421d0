"""guardia's web UI: server-rendered pages (Jinja2) with a small front-end bundle (uPlot
charts, Prometheus's CodeMirror PromQL editor) built by esbuild into ``static/``.

``routes(sources)`` gives the Starlette routes to mount in the web app; the pages read only
through the protocols in ``guardia.web.ui.sources``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from guardia.web.ui import render
from guardia.web.ui.dashboards import grafana_api
from guardia.web.ui.pages import ALL
from guardia.web.ui.render import Page
from guardia.web.ui.sources import AlertmanagerView, StorageStats, UiSources

__all__ = ["AlertmanagerView", "Page", "StorageStats", "UiSources", "routes"]


def _endpoint(page: Page, ui: UiSources) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await page.handler(request, ui)

    endpoint.__name__ = f"ui{page.path.replace('/', '_')}"
    return endpoint


def routes(ui: UiSources, extra_pages: list[Page] | None = None) -> list[BaseRoute]:
    """Every page, the UI's JSON helpers and ``/static``; ``extra_pages`` join the nav."""
    pages = [*ALL, *(extra_pages or [])]
    render.NAV[:] = [(p.path, p.nav) for p in pages if p.nav]
    out: list[BaseRoute] = [
        Route(p.path, _endpoint(p, ui), methods=list(p.methods), name=p.path) for p in pages
    ]
    if ui.dashboards is not None:
        out.extend(grafana_api.routes(ui.dashboards, ui.route_prefix))
    out.append(Mount("/static", app=StaticFiles(directory=render.STATIC_DIR, check_dir=False), name="static"))
    return out
