"""Grafana's HTTP API paths for dashboards, so tools that push dashboards to Grafana (CI
jobs, grafanalib, grizzly, terraform's grafana provider for dashboards) can push to guardia:
``POST /api/dashboards/db``, ``GET``/``DELETE /api/dashboards/uid/{uid}``, ``GET /api/search``.
Shapes and status codes follow Grafana's."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from guardia.web.ui.dashboards.model import DashboardError
from guardia.web.ui.dashboards.store import DashboardStore, SaveError, StoredDashboard


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts or 0, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def dashboard_json(s: StoredDashboard) -> dict[str, Any]:
    d = dict(s.dashboard.raw)
    d.update({"id": s.id, "uid": s.uid, "version": s.dashboard.version, "title": s.dashboard.title})
    return d


def meta_json(s: StoredDashboard, prefix: str = "") -> dict[str, Any]:
    return {
        "type": "db", "canSave": not s.provisioned, "canEdit": True, "canAdmin": False, "canStar": False,
        "canDelete": not s.provisioned, "slug": s.slug, "url": prefix + s.url,
        "expires": "0001-01-01T00:00:00Z", "created": _iso(s.created), "updated": _iso(s.updated),
        "updatedBy": "guardia", "createdBy": "guardia",
        "version": s.dashboard.version, "hasAcl": False, "isFolder": False, "folderId": 0,
        "folderUid": s.folder, "folderTitle": s.folder or "General", "folderUrl": "",
        "provisioned": s.provisioned, "provisionedExternalId": s.path if s.provisioned else "",
    }


def search_hit(s: StoredDashboard, prefix: str = "") -> dict[str, Any]:
    return {
        "id": s.id, "uid": s.uid, "title": s.dashboard.title, "uri": f"db/{s.slug}", "url": prefix + s.url,
        "slug": "", "type": "dash-db", "tags": list(s.dashboard.tags), "isStarred": False, "sortMeta": 0,
        **({"folderUid": s.folder, "folderTitle": s.folder} if s.folder else {}),
    }


def _message(http_status: int, message: str, **extra: Any) -> Response:
    return JSONResponse({"message": message, **extra}, status_code=http_status)


def routes(store: DashboardStore, prefix: str = "") -> list[Route]:
    async def post_db(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError as e:
            return _message(400, f"bad request data: {e}")
        if not isinstance(body, dict) or not isinstance(body.get("dashboard"), dict):
            return _message(400, 'bad request data: the body must be {"dashboard": {...}, "overwrite": bool}')
        folder = str(body.get("folderUid") or body.get("folderUID") or "")
        try:
            saved = await asyncio.to_thread(
                store.save, body["dashboard"], overwrite=bool(body.get("overwrite")), folder=folder,
                message=str(body.get("message") or ""),
            )
        except SaveError as e:
            return _message(e.http_status, e.message, status=e.status)
        except DashboardError as e:
            return _message(400, f"invalid dashboard: {e}", status="invalid-dashboard", problems=e.problems)
        return JSONResponse({
            "id": saved.id, "uid": saved.uid, "url": prefix + saved.url, "status": "success",
            "version": saved.dashboard.version, "slug": saved.slug,
        })

    async def get_uid(request: Request) -> Response:
        s = store.get(request.path_params["uid"])
        if s is None:
            return _message(404, "Dashboard not found")
        return JSONResponse({"dashboard": dashboard_json(s), "meta": meta_json(s, prefix)})

    async def delete_uid(request: Request) -> Response:
        try:
            s = await asyncio.to_thread(store.delete, request.path_params["uid"])
        except SaveError as e:
            return _message(e.http_status, e.message)
        return JSONResponse({"title": s.dashboard.title, "message": f"Dashboard {s.dashboard.title} deleted",
                             "id": s.id})

    async def search(request: Request) -> Response:
        q = request.query_params
        kind = q.get("type", "")
        if kind == "dash-folder":
            folders = sorted({s.folder for s in store.all() if s.folder})
            return JSONResponse([
                {"id": i + 1, "uid": f, "title": f, "uri": f"db/{f}", "type": "dash-folder",
                 "url": f"{prefix}/dashboards?folder={f}", "tags": [], "isStarred": False, "sortMeta": 0}
                for i, f in enumerate(folders)
            ])
        hits = store.search(q.get("query", ""), q.getlist("tag"),
                            [*q.getlist("dashboardUIDs"), *q.getlist("dashboardUID")])
        folder_uids = set(q.getlist("folderUIDs"))
        if folder_uids:
            hits = [s for s in hits if s.folder in folder_uids]
        try:
            limit = int(q.get("limit", "1000"))
        except ValueError:
            return _message(400, "limit must be an integer")
        return JSONResponse([search_hit(s, prefix) for s in hits[:max(0, limit)]])

    return [
        Route("/api/dashboards/db", post_db, methods=["POST"]),
        Route("/api/dashboards/uid/{uid}", get_uid, methods=["GET"]),
        Route("/api/dashboards/uid/{uid}", delete_uid, methods=["DELETE"]),
        Route("/api/search", search, methods=["GET"]),
    ]
