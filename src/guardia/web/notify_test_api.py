"""``POST /api/v1/notify/test`` and ``GET /api/v1/notify/tests``: test a receiver through the
running guardia and read back what every test found.

``guardia notify test --url`` calls the first: the server sends the test alert with its running
Alertmanager config (the one that will page people, not a copy on someone's laptop) and
appends the outcomes to its data directory, where the audit and the readiness checklist read
them.  Sending is a change that reaches people, so it needs an editor and is in the audit log.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from guardia.alerting.notify_test import NotifyTestLog, NotTestable, run_test
from guardia.config.alertmanager import AlertmanagerConfig
from guardia.web.envelope import ApiError, json_response, success

RECORDS_LIMIT = 1000


def _error(e: ApiError) -> Response:
    return json_response({"status": "error", "errorType": e.error_type, "error": e.message}, e.status)


async def _receiver_of(request: Request) -> str:
    """``receiver`` from the JSON body, a form, or the query string."""
    name = request.query_params.get("receiver")
    if name:
        return name
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json") and raw:
        try:
            body = json.loads(raw)
        except ValueError as e:
            raise ApiError("bad_data", f"the body is not JSON: {e}") from None
        if isinstance(body, dict) and isinstance(body.get("receiver"), str):
            return str(body["receiver"])
    elif raw:
        form = await request.form()
        if isinstance(form.get("receiver"), str):
            return str(form["receiver"])
    raise ApiError("bad_data", 'give the receiver to test: {"receiver": "NAME"}')


def routes(config: Callable[[], AlertmanagerConfig | None], log: NotifyTestLog,
           external_url: str) -> list[Route]:
    async def test(request: Request) -> Response:
        try:
            name = await _receiver_of(request)
        except ApiError as e:
            return _error(e)
        cfg = config()
        if cfg is None:
            return _error(ApiError("bad_data", "this guardia has no Alertmanager configuration "
                                               "(alertmanager: in guardia.yml); nothing to test"))
        by = str(request.scope.get("guardia.user") or "api")
        try:
            run = await run_test(cfg, name, external_url, by=by)
        except NotTestable as e:
            return _error(ApiError("bad_data", str(e)))
        record_error = ""
        try:
            await asyncio.to_thread(log.append, run.outcomes)
        except OSError as e:
            record_error = f"{log.path}: {e.strerror or e}"
        return success({"receiver": name, "ok": run.ok, "outcomes": [o.to_dict() for o in run.outcomes],
                        "recordedIn": str(log.path), "recordError": record_error})

    async def records(request: Request) -> Response:
        got = await asyncio.to_thread(log.read)
        name = request.query_params.get("receiver")
        recs = [r for r in got.records if name is None or r.receiver == name]
        recs.sort(key=lambda r: r.time, reverse=True)
        return success({"records": [r.to_dict() for r in recs[:RECORDS_LIMIT]],
                        "problems": [asdict(p) for p in got.problems]})

    return [Route("/api/v1/notify/test", test, methods=["POST"]),
            Route("/api/v1/notify/tests", records, methods=["GET"])]
