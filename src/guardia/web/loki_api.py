"""Loki's HTTP API over the embedded log store: push, query, labels, series, stats, tail.

Shapes follow Loki so Grafana's Loki data source, logcli, Promtail and the Loki client
libraries work unchanged: push answers 204; queries answer ``{"status": "success", "data":
{"resultType": "streams"|"matrix"|"vector"|"scalar", "result": [...], "stats": {...}}}`` with
log timestamps as nanosecond strings and sample timestamps as seconds; errors are plain-text
bodies with status 400, as Loki sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from guardia.logs.errors import LimitError, LogsError, PushError
from guardia.logs.logql import (
    LogQLEngine,
    MatrixResult,
    Result,
    ScalarResult,
    StreamsResult,
    parse,
)
from guardia.logs.logql import ast as logql_ast
from guardia.logs.logql.format import format_expr
from guardia.logs.push import PushDecodeError, decode_push
from guardia.logs.store import LogStore
from guardia.web.envelope import ApiError, json_response
from guardia.web.format import fmt_value
from guardia.web.loki_delete import LokiDeleteApi
from guardia.web.loki_index import LokiIndexApi
from guardia.web.loki_otlp import OtlpLogsApi
from guardia.web.loki_params import NS, BadRequest, parse_step_ns, parse_time_ns
from guardia.web.params import Params, read_params

__all__ = ["NS", "LokiApi", "encode_result", "parse_step_ns", "parse_time_ns"]

log = logging.getLogger("guardia.web.loki")
MAX_PUSH_BYTES = 64 << 20


def _ts_text(ns: int) -> str:
    return str(ns)


def _sample_ts(ns: int) -> float | int:
    s = ns / NS
    return int(s) if ns % NS == 0 else round(s, 3)


def _stats(result: Result, started: float) -> dict[str, Any]:
    elapsed = max(time.perf_counter() - started, 1e-9)
    scanned = getattr(result, "bytes_scanned", 0)
    lines = result.lines if isinstance(result, StreamsResult) else 0
    return {
        "summary": {
            "bytesProcessedPerSecond": int(scanned / elapsed),
            "linesProcessedPerSecond": int(lines / elapsed),
            "totalBytesProcessed": scanned,
            "totalLinesProcessed": lines,
            "execTime": elapsed,
            "queueTime": 0,
            "subqueries": 0,
            "totalEntriesReturned": lines,
            "splits": 0,
            "shards": 0,
        },
        "querier": {"store": {"totalChunksRef": 0, "totalChunksDownloaded": 0}},
        "ingester": {"totalReached": 0, "totalChunksMatched": 0, "totalBatches": 0, "totalLinesSent": 0},
        "cache": {},
    }


def encode_result(result: Result, instant: bool) -> dict[str, Any]:
    if isinstance(result, StreamsResult):
        return {
            "resultType": "streams",
            "result": [
                {"stream": labels, "values": [[_ts_text(t), line] for t, line in values]}
                for labels, values in result.streams
            ],
        }
    if isinstance(result, ScalarResult):
        return {
            "resultType": "scalar",
            "result": [_sample_ts(int(result.steps[-1])), fmt_value(result.value)],
        }
    assert isinstance(result, MatrixResult)
    if instant:
        t = _sample_ts(int(result.steps[0]))
        return {
            "resultType": "vector",
            "result": [
                {"metric": dict(key), "value": [t, fmt_value(float(row[0]))]}
                for key, row in zip(result.labels, result.values, strict=True)
                if row[0] == row[0]
            ],
        }
    steps = [_sample_ts(int(s)) for s in result.steps.tolist()]
    series = []
    for key, row in zip(result.labels, result.values, strict=True):
        vals = row.tolist()
        points = [[steps[j], fmt_value(v)] for j, v in enumerate(vals) if v == v]
        if points:
            series.append({"metric": dict(key), "values": points})
    return {"resultType": "matrix", "result": series}


class LokiApi:
    """The endpoints, bound to one store and one engine."""

    def __init__(self, store: LogStore, engine: LogQLEngine | None = None, on_push: Any = None) -> None:
        self.store = store
        self.engine = engine or LogQLEngine(store)
        self.on_push = on_push
        self.deletes = LokiDeleteApi(store)

    async def _params(self, request: Request) -> Params:
        try:
            return await read_params(request)
        except ApiError as e:
            raise BadRequest(e.message) from None

    async def push(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_PUSH_BYTES:
            return PlainTextResponse(f"push body of {len(body)} bytes exceeds {MAX_PUSH_BYTES}\n", 413)
        try:
            streams = decode_push(
                body, request.headers.get("content-type", ""), request.headers.get("content-encoding", "")
            )
            self.store.push(streams)
        except PushError as e:
            log.warning("event=logs_push_partial accepted=%d problems=%r", e.accepted, e.problems)
            status = 429 if any("limit" in p for p in e.problems) and not e.accepted else 400
            return PlainTextResponse("\n".join(e.problems) + "\n", status)
        except (PushDecodeError, LimitError) as e:
            return PlainTextResponse(f"{e}\n", 400)
        return Response(status_code=204)

    async def query_range(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            p = await self._params(request)
            query = p.get("query") or ""
            now = time.time_ns()
            end = parse_time_ns(p.get("end"), now)
            start = parse_time_ns(p.get("start"), end - 3600 * NS)
            limit = int(p.get("limit") or "100")
            step = parse_step_ns(p.get("step"), start, end)
            direction = p.get("direction") or "backward"
            result = await asyncio.to_thread(
                self.engine.query_range, query, start, end, step, limit, direction
            )
        except (LogsError, BadRequest, ValueError) as e:
            return PlainTextResponse(f"{e}\n", 400)
        data = encode_result(result, instant=False)
        data["stats"] = _stats(result, started)
        return json_response({"status": "success", "data": data})

    async def query(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            p = await self._params(request)
            query = p.get("query") or ""
            t = parse_time_ns(p.get("time"), time.time_ns())
            limit = int(p.get("limit") or "100")
            direction = p.get("direction") or "backward"
            expr = parse(query)
            if isinstance(expr, logql_ast.LogSelector):
                # Loki answers an instant log query over the hour before `time`
                result = await asyncio.to_thread(
                    self.engine.query_range, expr, t - 3600 * NS, t, NS, limit, direction
                )
            else:
                result = await asyncio.to_thread(self.engine.query_instant, expr, t, limit, direction)
        except (LogsError, BadRequest, ValueError) as e:
            return PlainTextResponse(f"{e}\n", 400)
        data = encode_result(result, instant=True)
        data["stats"] = _stats(result, started)
        return json_response({"status": "success", "data": data})

    def _range(self, p: Params) -> tuple[int, int]:
        now = time.time_ns()
        end = parse_time_ns(p.get("end"), now)
        start = parse_time_ns(p.get("start"), end - 6 * 3600 * NS)
        return start, end

    async def labels(self, request: Request) -> Response:
        try:
            p = await self._params(request)
            start, end = self._range(p)
        except BadRequest as e:
            return PlainTextResponse(f"{e}\n", 400)
        return json_response({"status": "success", "data": self.store.label_names(start, end)})

    async def label_values(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            p = await self._params(request)
            start, end = self._range(p)
            matchers: tuple[Any, ...] = ()
            if p.get("query"):
                expr = parse(p.get("query") or "")
                if not isinstance(expr, logql_ast.LogSelector):
                    raise BadRequest('query must be a stream selector such as {job="app"}')
                matchers = expr.matchers
        except (LogsError, BadRequest) as e:
            return PlainTextResponse(f"{e}\n", 400)
        return json_response(
            {"status": "success", "data": self.store.label_values(name, start, end, matchers)}
        )

    async def series(self, request: Request) -> Response:
        try:
            p = await self._params(request)
        except BadRequest as e:
            return PlainTextResponse(f"{e}\n", 400)
        matches = p.getlist("match[]") or p.getlist("match")
        try:
            start, end = self._range(p)
            if not matches:
                raise BadRequest('at least one match[] selector is required, e.g. match[]={job="app"}')
            seen: dict[tuple[tuple[str, str], ...], None] = {}
            for m in matches:
                expr = parse(m)
                if not isinstance(expr, logql_ast.LogSelector):
                    raise BadRequest(f"match[] {m!r} must be a stream selector")
                for s in self.store.select(list(expr.matchers), start, end):
                    seen[tuple(s.labels)] = None
        except (LogsError, BadRequest) as e:
            return PlainTextResponse(f"{e}\n", 400)
        return json_response({"status": "success", "data": [dict(k) for k in seen]})

    async def index_stats(self, request: Request) -> Response:
        try:
            p = await self._params(request)
            start, end = self._range(p)
            expr = parse(p.get("query") or "")
            if not isinstance(expr, logql_ast.LogSelector):
                raise BadRequest("query must be a stream selector")
        except (LogsError, BadRequest) as e:
            return PlainTextResponse(f"{e}\n", 400)
        return json_response(self.store.stats(list(expr.matchers), start, end))

    async def format_query(self, request: Request) -> Response:
        try:
            p = await self._params(request)
            text = format_expr(parse(p.get("query") or ""))
        except (LogsError, BadRequest) as e:
            return PlainTextResponse(f"{e}\n", 400)
        return json_response({"status": "success", "data": text})

    async def buildinfo(self, request: Request) -> Response:
        from guardia import __version__

        return json_response(
            {
                "version": __version__,
                "revision": "",
                "branch": "",
                "buildUser": "",
                "buildDate": "",
                "goVersion": "",
            }
        )

    async def tail(self, ws: WebSocket) -> None:
        """Live tail: every second, the lines newer than the last sent, as Loki's tail frames."""
        await ws.accept()
        p = ws.query_params
        try:
            expr = parse(p.get("query") or "")
            if not isinstance(expr, logql_ast.LogSelector):
                raise BadRequest("tail needs a log query, not a metric query")
            limit = int(p.get("limit") or "100")
            delay = min(int(p.get("delay_for") or "0"), 5) * NS
            start = parse_time_ns(p.get("start"), time.time_ns() - 3600 * NS)
        except (LogsError, BadRequest, ValueError) as e:
            await ws.close(code=1008, reason=str(e)[:120])
            return
        last = start - 1
        closed = asyncio.Event()

        async def watch() -> None:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                while True:
                    msg = await ws.receive()
                    if msg["type"] == "websocket.disconnect":
                        break
            closed.set()

        watcher = asyncio.create_task(watch())
        try:
            while not closed.is_set():
                now = time.time_ns() - delay
                result = await asyncio.to_thread(
                    self.engine.query_range, expr, last + 1, now + 1, NS, limit, "forward"
                )
                assert isinstance(result, StreamsResult)
                if result.streams:
                    frame = {
                        "streams": [
                            {"stream": labels, "values": [[_ts_text(t), line] for t, line in values]}
                            for labels, values in result.streams
                        ],
                        "dropped_entries": None,
                    }
                    last = max(t for _, values in result.streams for t, _ in values)
                    await ws.send_text(orjson.dumps(frame).decode())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closed.wait(), timeout=1.0)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            watcher.cancel()

    def routes(self) -> list[BaseRoute]:
        gp = ["GET", "POST"]
        return [
            Route("/loki/api/v1/push", self.push, methods=["POST"], name="/loki/api/v1/push"),
            Route("/loki/api/v1/query", self.query, methods=gp, name="/loki/api/v1/query"),
            Route("/loki/api/v1/query_range", self.query_range, methods=gp, name="/loki/api/v1/query_range"),
            Route("/loki/api/v1/labels", self.labels, methods=gp, name="/loki/api/v1/labels"),
            Route("/loki/api/v1/label", self.labels, methods=gp, name="/loki/api/v1/label"),
            Route(
                "/loki/api/v1/label/{name}/values",
                self.label_values,
                methods=gp,
                name="/loki/api/v1/label/{name}/values",
            ),
            Route("/loki/api/v1/series", self.series, methods=gp, name="/loki/api/v1/series"),
            Route("/loki/api/v1/index/stats", self.index_stats, methods=gp, name="/loki/api/v1/index/stats"),
            Route(
                "/loki/api/v1/format_query", self.format_query, methods=gp, name="/loki/api/v1/format_query"
            ),
            Route(
                "/loki/api/v1/status/buildinfo",
                self.buildinfo,
                methods=["GET"],
                name="/loki/api/v1/status/buildinfo",
            ),
            WebSocketRoute("/loki/api/v1/tail", self.tail, name="/loki/api/v1/tail"),
            # the path Loki 1.x clients (old Promtails, old Docker drivers) push to
            Route("/api/prom/push", self.push, methods=["POST"], name="/api/prom/push"),
            *LokiIndexApi(self.store, self.engine).routes(),
            *OtlpLogsApi(self.store).routes(),
            *self.deletes.routes(),
        ]
