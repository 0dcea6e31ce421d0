"""``/api/v1/checks``: every check with its kind, schedule, thresholds and last result.

Not a Prometheus endpoint, so the shape is guardia's own inside the Prometheus envelope.  The
last message is here (not in a label, where every new message would be a new series).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from guardia.web.envelope import json_response, success


class CheckView(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def interval_ms(self) -> int: ...
    @property
    def timeout_ms(self) -> int: ...
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def thresholds(self) -> Mapping[str, object]: ...


class OutcomeView(Protocol):
    @property
    def ok(self) -> bool: ...
    @property
    def status(self) -> Any: ...
    @property
    def rows(self) -> tuple[tuple[tuple[tuple[str, str], ...], float], ...]: ...
    @property
    def message(self) -> str: ...
    @property
    def duration_s(self) -> float: ...


class CheckStateView(Protocol):
    @property
    def check(self) -> CheckView: ...
    @property
    def last(self) -> OutcomeView | None: ...
    @property
    def last_ms(self) -> int: ...
    @property
    def runs(self) -> int: ...
    @property
    def failures(self) -> int: ...


class ChecksRetriever(Protocol):
    @property
    def states(self) -> Mapping[str, CheckStateView]: ...


def _iso(ms: int) -> str | None:
    import datetime as dt

    if not ms:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


def check_json(st: CheckStateView) -> dict[str, Any]:
    c, last = st.check, st.last
    return {
        "name": c.name,
        "kind": c.kind,
        "intervalSeconds": c.interval_ms / 1000,
        "timeoutSeconds": c.timeout_ms / 1000,
        "labels": dict(c.labels),
        "thresholds": {k: str(v) for k, v in c.thresholds.items()},
        "runs": st.runs,
        "failures": st.failures,
        "lastRun": _iso(st.last_ms),
        "health": "unknown" if last is None else ("ok" if last.ok else "failed"),
        "status": None if last is None else last.status.name.lower(),
        "message": None if last is None else last.message,
        "durationSeconds": None if last is None else last.duration_s,
        "values": [] if last is None else [{"labels": dict(lb), "value": v} for lb, v in last.rows],
    }


def routes(checks: ChecksRetriever) -> list[Route]:
    async def list_checks(request: Request) -> Response:
        return success([check_json(st) for _, st in sorted(checks.states.items())])

    async def get_check(request: Request) -> Response:
        st = checks.states.get(request.path_params["name"])
        if st is None:
            return json_response({"status": "error", "errorType": "not_found",
                                  "error": f"no check named {request.path_params['name']!r}"}, 404)
        return success(check_json(st))

    return [Route("/api/v1/checks", list_checks), Route("/api/v1/checks/{name}", get_check)]
