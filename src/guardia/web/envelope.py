"""The JSON envelope of the Prometheus API: ``status``, ``data``, ``errorType``, ``error``.

Clients (Grafana, promtool, client libraries) branch on ``errorType`` and on the HTTP status,
so both follow Prometheus's table exactly.  Encoding goes through orjson: a range query
answer can hold millions of points and the standard ``json`` module would dominate its cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from starlette.responses import Response

# Prometheus web/api/v1: errorType -> HTTP status.
_STATUS_BY_TYPE = {
    "bad_data": 400,
    "execution": 422,
    "timeout": 503,
    "canceled": 499,
    "internal": 500,
    "not_found": 404,
    "not_acceptable": 406,
    "unavailable": 503,
}


class ApiError(Exception):
    """An error a handler reports in the envelope; ``status`` overrides the table if given."""

    def __init__(self, error_type: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status if status is not None else _STATUS_BY_TYPE.get(error_type, 500)


def bad_data(message: str) -> ApiError:
    return ApiError("bad_data", message)


def json_response(body: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
    )


def success(
    data: Any, warnings: Sequence[str] = (), infos: Sequence[str] = ()
) -> Response:
    body: dict[str, Any] = {"status": "success", "data": data}
    if warnings:
        body["warnings"] = list(warnings)
    if infos:
        body["infos"] = list(infos)
    return json_response(body)


def success_raw(data_json: bytes, warnings: Sequence[str] = (), infos: Sequence[str] = ()) -> Response:
    """``success`` with ``data`` already encoded (query results, see ``format.result_json``)."""
    parts = [b'{"status":"success","data":', data_json]
    if warnings:
        parts += [b',"warnings":', orjson.dumps(list(warnings))]
    if infos:
        parts += [b',"infos":', orjson.dumps(list(infos))]
    parts.append(b"}")
    return Response(b"".join(parts), status_code=200, media_type="application/json")


def error_response(err: ApiError, data: Any = None) -> Response:
    body: dict[str, Any] = {"status": "error", "errorType": err.error_type, "error": err.message}
    if data is not None:
        body["data"] = data
    return json_response(body, err.status)
