"""``POST /api/v1/deployments``: a CI pipeline reports a deployment; guardia keeps it as series.

Body (JSON): ``service``, ``version``, ``status`` (success | failed | rolled_back), optional
``started``, ``finished`` (default: now), ``commit``, ``commit_time`` (RFC 3339 or unix
seconds).  Answers 200 with the recorded deployment, or 400 with the Prometheus error envelope
naming the field at fault.  The web package sees deployments only through ``DeploymentSink``.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from guardia.web.envelope import json_response, success


class RecordedDeployment(Protocol):
    @property
    def service(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def finished_ms(self) -> int: ...
    @property
    def commit(self) -> str: ...
    @property
    def lead_time_s(self) -> float | None: ...


class DeploymentSink(Protocol):
    def record(self, payload: Any) -> RecordedDeployment:
        """Store one deployment; ``ValueError`` with a message for the client when it is refused."""
        ...


def _bad(msg: str) -> Response:
    return json_response({"status": "error", "errorType": "bad_data", "error": msg}, 400)


def routes(sink: DeploymentSink) -> list[Route]:
    async def post(request: Request) -> Response:
        try:
            payload = orjson.loads(await request.body())
        except orjson.JSONDecodeError as e:
            return _bad(f"the body is not JSON: {e}")
        try:
            d = sink.record(payload)
        except ValueError as e:
            return _bad(str(e))
        return success({"service": d.service, "version": d.version, "status": d.status,
                        "finished": d.finished_ms / 1000, "commit": d.commit,
                        "leadTimeSeconds": d.lead_time_s})

    return [Route("/api/v1/deployments", post, methods=["POST"])]
