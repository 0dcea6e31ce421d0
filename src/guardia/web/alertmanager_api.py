"""Alertmanager API v2 at Alertmanager's paths, so amtool and Grafana work unchanged.

Handlers translate HTTP to calls on ``guardia.alerting.Alertmanager`` and back; the JSON shapes
(Alertmanager's OpenAPI spec) are built by ``web.alertmanager_v2``.  Errors are JSON strings
with 400/404/500, as the Go server returns them.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from guardia.alerting import Alertmanager, AlertValidationError
from guardia.alerting.silence import SilenceError, SilenceNotFound
from guardia.model.am_matchers import parse_am_matchers
from guardia.model.matchers import Matcher, MatcherError
from guardia.web.alertmanager_v2 import (
    alert_groups,
    alertmanager_status,
    alerts_from_postable,
    gettable_alerts,
    gettable_silence,
    parse_api_silence,
    pending_notifications,
)


class _BadRequest(Exception):
    pass


def _error(status: int, message: str) -> Response:
    return JSONResponse(message, status_code=status)


def _bool(request: Request, name: str, default: bool = True) -> bool:
    v = request.query_params.get(name)
    if v is None:
        return default
    if v.lower() in ("true", "1"):
        return True
    if v.lower() in ("false", "0"):
        return False
    raise _BadRequest(f"{name} in query must be of type boolean: {v!r}")


def _filter(request: Request) -> list[Matcher]:
    out: list[Matcher] = []
    for f in request.query_params.getlist("filter"):
        try:
            out.extend(parse_am_matchers(f))
        except MatcherError as e:
            raise _BadRequest(str(e)) from None
    return out


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except ValueError as e:
        raise _BadRequest(f"parsing body failed: {e}") from None


def routes(am: Alertmanager) -> list[Route]:
    """The API v2 routes for one Alertmanager; the web app mounts them at its root."""

    async def get_alerts(request: Request) -> Response:
        try:
            alerts = am.alerts(
                matchers=_filter(request), active=_bool(request, "active"),
                silenced=_bool(request, "silenced"), inhibited=_bool(request, "inhibited"),
                unprocessed=_bool(request, "unprocessed"), receiver=request.query_params.get("receiver"),
            )
        except _BadRequest as e:
            return _error(400, str(e))
        return JSONResponse(gettable_alerts(alerts))

    async def post_alerts(request: Request) -> Response:
        try:
            body = await _json_body(request)
            if not isinstance(body, list):
                raise _BadRequest("body must be a JSON array of alerts")
            await am.put(alerts_from_postable(body, am))
        except (_BadRequest, AlertValidationError) as e:
            return _error(400, str(e))
        return Response(status_code=200)

    async def get_groups(request: Request) -> Response:
        try:
            groups = am.groups(
                matchers=_filter(request), active=_bool(request, "active"),
                silenced=_bool(request, "silenced"), inhibited=_bool(request, "inhibited"),
                receiver=request.query_params.get("receiver"),
            )
        except _BadRequest as e:
            return _error(400, str(e))
        return JSONResponse(alert_groups(groups))

    async def get_silences(request: Request) -> Response:
        try:
            now = am.clock()
            return JSONResponse([gettable_silence(s, now) for s in am.silence_list(_filter(request))])
        except _BadRequest as e:
            return _error(400, str(e))

    async def post_silences(request: Request) -> Response:
        try:
            kwargs = parse_api_silence(await _json_body(request))
            sid = am.silences.set(**kwargs)
        except SilenceNotFound as e:
            return _error(404, f"silence not found: {e.args[0]}")
        except (_BadRequest, SilenceError) as e:
            return _error(400, str(e))
        return JSONResponse({"silenceID": sid})

    async def get_silence(request: Request) -> Response:
        sid = request.path_params["id"]
        try:
            s = am.silences.get(sid)
        except SilenceNotFound:
            return _error(404, f"silence not found: {sid}")
        return JSONResponse(gettable_silence(s, am.clock()))

    async def delete_silence(request: Request) -> Response:
        sid = request.path_params["id"]
        try:
            am.silences.expire(sid)
        except SilenceNotFound:
            return _error(404, f"silence not found: {sid}")
        except SilenceError as e:
            return _error(500, str(e))
        return Response(status_code=200)

    async def get_status(request: Request) -> Response:
        return JSONResponse(alertmanager_status(am))

    async def get_receivers(request: Request) -> Response:
        return JSONResponse([{"name": n} for n in am.receiver_names()])

    async def get_pending(request: Request) -> Response:
        return JSONResponse(pending_notifications(am.pending_notifications(), am.clock()))

    return [
        Route("/api/v2/alerts", get_alerts, methods=["GET"]),
        Route("/api/v2/alerts", post_alerts, methods=["POST"]),
        Route("/api/v2/alerts/groups", get_groups, methods=["GET"]),
        Route("/api/v2/silences", get_silences, methods=["GET"]),
        Route("/api/v2/silences", post_silences, methods=["POST"]),
        Route("/api/v2/silence/{id}", get_silence, methods=["GET"]),
        Route("/api/v2/silence/{id}", delete_silence, methods=["DELETE"]),
        Route("/api/v2/status", get_status, methods=["GET"]),
        Route("/api/v2/receivers", get_receivers, methods=["GET"]),
        Route("/api/v2/notifications/pending", get_pending, methods=["GET"]),
    ]
