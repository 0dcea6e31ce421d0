"""Loki's exploration endpoints over the log store: ``index/volume``, ``index/volume_range``,
``detected_fields``, ``detected_labels`` and ``patterns`` (Grafana's Logs Drilldown and logcli's ``volume``,
``volume_range`` and ``detected-fields`` commands call them).

Volumes are the bytes of the matching lines, aggregated as Loki aggregates them: by default
into the label names the selector names, or by ``targetLabels``; with ``aggregateBy=labels``
one series per label name with the value ``""``.  They are computed with LogQL's
``bytes_over_time`` over the stored lines (exact, where Loki estimates from its index).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from guardia.logs.detect import detect_fields, detect_labels
from guardia.logs.drain import detect as detect_patterns
from guardia.logs.errors import LogsError
from guardia.logs.logql import LogQLEngine, MatrixResult, StreamsResult, parse
from guardia.logs.logql import ast as logql_ast
from guardia.logs.store import LogStore
from guardia.model.matchers import Matcher, MatchType
from guardia.web.envelope import ApiError, json_response
from guardia.web.format import fmt_value
from guardia.web.loki_params import NS, BadRequest, parse_step_ns, parse_time_ns
from guardia.web.params import Params, read_params

MAX_VOLUME_SERIES = 10_000
MAX_PATTERN_LINES = 50_000


def _selector(matchers: tuple[Matcher, ...] | list[Matcher]) -> str:
    return "{" + ", ".join(str(m) for m in matchers) + "}"


def _label_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


class LokiIndexApi:
    def __init__(self, store: LogStore, engine: LogQLEngine) -> None:
        self.store = store
        self.engine = engine

    async def _params(self, request: Request) -> Params:
        try:
            return await read_params(request)
        except ApiError as e:
            raise BadRequest(e.message) from None

    def _selector_of(self, p: Params) -> tuple[Matcher, ...]:
        text = p.get("query") or ""
        if not text:
            raise BadRequest('query is required: a stream selector such as {job="app"}')
        expr = parse(text)
        if not isinstance(expr, logql_ast.LogSelector) or expr.stages:
            raise BadRequest(f"query {text!r} must be a stream selector (label matchers only)")
        return expr.matchers

    def _range(self, p: Params) -> tuple[int, int]:
        end = parse_time_ns(p.get("end"), time.time_ns())
        start = parse_time_ns(p.get("start"), end - 3600 * NS)
        if end <= start:
            raise BadRequest("end must be after start")
        return start, end

    def _volume_queries(
        self, p: Params, matchers: tuple[Matcher, ...], window_s: int
    ) -> list[tuple[str, str]]:
        """(query, label name or "") for each series family the volume is made of."""
        targets = _label_list(p.get("targetLabels") or "") or list(dict.fromkeys(m.name for m in matchers))
        by = p.get("aggregateBy") or "series"
        if by not in ("series", "labels"):
            raise BadRequest(f"aggregateBy {by!r}: use series or labels")
        if by == "series":
            grouping = ", ".join(targets)
            return [(f"sum by ({grouping}) (bytes_over_time({_selector(matchers)} [{window_s}s]))", "")]
        out = []
        for name in targets:
            present = [*matchers, Matcher(name, MatchType.NOT_EQUAL, "")]
            out.append((f"sum(bytes_over_time({_selector(present)} [{window_s}s]))", name))
        return out

    async def volume(self, request: Request) -> Response:
        try:
            p = await self._params(request)
            matchers = self._selector_of(p)
            start, end = self._range(p)
            limit = int(p.get("limit") or "100")
            window = max((end - start + NS - 1) // NS, 1)
            results: list[dict[str, Any]] = []
            for q, name in self._volume_queries(p, matchers, window):
                res = await asyncio.to_thread(self.engine.query_instant, q, end)
                assert isinstance(res, MatrixResult)
                for key, row in zip(res.labels, res.values, strict=True):
                    v = float(row[0])
                    if v == v and v > 0:
                        metric = {name: ""} if name else dict(key)
                        results.append({"metric": metric, "value": [end // NS, fmt_value(v)]})
        except (LogsError, BadRequest, ValueError) as e:
            return PlainTextResponse(f"{e}\n", 400)
        results.sort(key=lambda r: -float(r["value"][1]))
        return json_response({"status": "success",
                              "data": {"resultType": "vector", "result": results[:limit]}})

    async def volume_range(self, request: Request) -> Response:
        try:
            p = await self._params(request)
            matchers = self._selector_of(p)
            start, end = self._range(p)
            limit = int(p.get("limit") or "100")
            step = parse_step_ns(p.get("step"), start, end)
            series: list[tuple[float, dict[str, Any]]] = []
            for q, name in self._volume_queries(p, matchers, max(step // NS, 1)):
                res = await asyncio.to_thread(self.engine.query_range, q, start, end, step, MAX_VOLUME_SERIES)
                assert isinstance(res, MatrixResult)
                steps = [int(s) // NS for s in res.steps.tolist()]
                for key, row in zip(res.labels, res.values, strict=True):
                    points = [[t, fmt_value(v)] for t, v in zip(steps, row.tolist(), strict=True)
                              if v == v and v]
                    if points:
                        metric = {name: ""} if name else dict(key)
                        series.append((float(np.nansum(row)), {"metric": metric, "values": points}))
        except (LogsError, BadRequest, ValueError) as e:
            return PlainTextResponse(f"{e}\n", 400)
        series.sort(key=lambda s: -s[0])
        return json_response({"status": "success",
                              "data": {"resultType": "matrix", "result": [s for _, s in series[:limit]]}})

    async def detected_fields(self, request: Request) -> Response:
        try:
            p = await self._params(request)
            query = p.get("query") or ""
            expr = parse(query)
            if not isinstance(expr, logql_ast.LogSelector):
                raise BadRequest("query must be a log query such as {job=\"app\"}")
            start, end = self._range(p)
            line_limit = int(p.get("line_limit") or "1000")
            field_limit = int(p.get("field_limit") or p.get("limit") or "1000")
            res = await asyncio.to_thread(
                self.engine.query_range, expr, start, end, NS, line_limit, "backward")
        except (LogsError, BadRequest, ValueError) as e:
            return PlainTextResponse(f"{e}\n", 400)
        assert isinstance(res, StreamsResult)
        stream_labels = {k for labels, _ in res.streams for k in labels}
        lines = (line for _, values in res.streams for _, line in values)
        fields = detect_fields(lines, stream_labels, field_limit)
        return json_response({"fields": fields, "limit": field_limit})

    async def detected_labels(self, request: Request) -> Response:
        try:
            p = await self._params(request)
            start, end = self._range(p)
            matchers: tuple[Matcher, ...] = ()
            if p.get("query"):
                matchers = self._selector_of(p)
        except (LogsError, BadRequest, ValueError) as e:
            return PlainTextResponse(f"{e}\n", 400)
        if matchers:
            streams = self.store.select(list(matchers), start, end)
        else:
            streams = [s for s in self.store.streams if s is not None and s.overlaps(start, end)]
        return json_response({"detectedLabels": detect_labels(dict(s.labels) for s in streams)})

    async def patterns(self, request: Request) -> Response:
        """Loki's ``patterns``: the templates of the matching lines (``guardia.logs.drain``) with
        their line counts per ``step``, from the newest lines (as many as a log query may return,
        the engine's max_lines, at most ``MAX_PATTERN_LINES``)."""
        try:
            p = await self._params(request)
            expr = parse(p.get("query") or "")
            if not isinstance(expr, logql_ast.LogSelector):
                raise BadRequest('query must be a log query such as {service_name="checkout"}')
            start, end = self._range(p)
            step = parse_step_ns(p.get("step"), start, end)
            if step <= 0:
                raise BadRequest("step must be positive")
            res = await asyncio.to_thread(
                self.engine.query_range, expr, start, end, step,
                min(MAX_PATTERN_LINES, self.engine.opts.max_lines), "backward")
        except (LogsError, BadRequest, ValueError) as e:
            return PlainTextResponse(f"{e}\n", 400)
        assert isinstance(res, StreamsResult)
        lines = ((t, line) for _, values in res.streams for t, line in values)
        templates = await asyncio.to_thread(detect_patterns, lines, step)
        data = [
            {"pattern": t.text(), "samples": [[k // NS, v] for k, v in sorted(t.samples.items())]}
            for t in templates
        ]
        return json_response({"status": "success", "data": data})

    def routes(self) -> list[BaseRoute]:
        gp = ["GET", "POST"]
        return [
            Route(path, fn, methods=gp, name=path)
            for path, fn in (
                ("/loki/api/v1/index/volume", self.volume),
                ("/loki/api/v1/index/volume_range", self.volume_range),
                ("/loki/api/v1/detected_fields", self.detected_fields),
                ("/loki/api/v1/detected_labels", self.detected_labels),
                ("/loki/api/v1/patterns", self.patterns),
            )
        ]
