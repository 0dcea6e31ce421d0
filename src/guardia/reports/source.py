"""Where a report reads its data: guardia's engine over a store, or any Prometheus API.

The sections ask three things: an instant vector, a range query's matrix and the raw samples
of a selector over a time range (outages, alerts and deployments need the real sample times,
not a step grid).  ``EngineSource`` answers them in-process (a data directory opened
read-only, or the server's own store); ``HttpSource`` over ``/api/v1/query`` and
``/api/v1/query_range`` of a running guardia, a Prometheus, Thanos or VictoriaMetrics, so a
report can be written from the data a team already has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from guardia.model import Labels, format_duration
from guardia.reports.rollup import Cells, Grid, Stream, cells
from guardia.storage.interface import Queryable, SeriesSet


class SourceError(RuntimeError):
    """A query the data source refused or could not answer; the message says which."""


class SourceUnreachable(SourceError):
    """The data source did not answer at all: no report can be written from it."""


class Points(NamedTuple):
    """One series of a matrix: label set, timestamps (ms) and values."""

    labels: Labels
    t: npt.NDArray[np.int64]
    v: npt.NDArray[np.float64]


class Source(Protocol):
    description: str

    def instant(self, expr: str, t_ms: int) -> list[tuple[Labels, float]]: ...

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> list[Points]: ...

    def raw(self, selector: str, start_ms: int, end_ms: int) -> list[Points]: ...

    def counter_cells(self, selector: str, grid: Grid) -> Cells | None:
        """``selector``'s samples over the grid reduced to ``rollup`` cells, or None when
        the source only answers PromQL (then the report evaluates its figures as PromQL)."""
        ...

    def samples(self, selector: str, start_ms: int, end_ms: int) -> SeriesSet | None:
        """``selector``'s raw samples in (start, end] as the engine's selectors read them,
        or None when the source only answers PromQL (``averages``)."""
        ...


def raw_expr(selector: str, start_ms: int, end_ms: int) -> str:
    """The instant query whose answer is ``selector``'s raw samples in (start, end]."""
    return f"{selector}[{format_duration(max(1, end_ms - start_ms))}]"


class EngineSource:
    """Queries through guardia's PromQL engine over a ``Queryable`` (store or data dir)."""

    def __init__(self, engine: Any, storage: Queryable, description: str = "guardia store") -> None:
        self.engine = engine
        self.storage = storage
        self.description = description

    def _run(self, call: Any, *args: Any) -> Any:
        from guardia.promql import PromQLError

        try:
            return call(self.storage, *args)
        except PromQLError as e:
            raise SourceError(f"{args[0]}: {e}") from e

    def instant(self, expr: str, t_ms: int) -> list[tuple[Labels, float]]:
        r = self._run(self.engine.instant, expr, t_ms)
        if r.type == "scalar":
            return [(Labels(), float(r.value[1]))]
        if r.type != "vector":
            raise SourceError(f"{expr}: expected an instant vector, got a {r.type}")
        return [(s.labels, s.v) for s in r.value]

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> list[Points]:
        r = self._run(self.engine.range, expr, start_ms, end_ms, step_ms)
        return [Points(s.labels, np.asarray(s.timestamps, dtype=np.int64),
                       np.asarray(s.values, dtype=np.float64)) for s in r.value]

    def raw(self, selector: str, start_ms: int, end_ms: int) -> list[Points]:
        expr = raw_expr(selector, start_ms, end_ms)
        r = self._run(self.engine.instant, expr, end_ms)
        return [Points(s.labels, np.asarray(s.timestamps, dtype=np.int64),
                       np.asarray(s.values, dtype=np.float64)) for s in r.value]

    def samples(self, selector: str, start_ms: int, end_ms: int) -> SeriesSet | None:
        from guardia.model.matchers import MatcherError, parse_matchers

        if "\\" in selector:
            return None  # escapes: leave them to the PromQL parser
        try:
            matchers = parse_matchers(selector)
        except MatcherError:
            return None
        q = self.storage.querier(start_ms + 1, end_ms)
        try:
            return q.select(matchers)
        finally:
            q.close()

    def counter_cells(self, selector: str, grid: Grid) -> Cells | None:
        from guardia.model.matchers import MatcherError, parse_matchers
        from guardia.storage.tsdb.querier import PiecesOverlap, TSDBQuerier

        if "\\" in selector:
            return None  # escapes: leave them to the PromQL parser
        try:
            matchers = parse_matchers(selector)
        except MatcherError:
            return None
        q = self.storage.querier(grid.origin + 1, grid.origin + grid.step * grid.count)
        try:
            got = q.select_pieces(matchers) if isinstance(q, TSDBQuerier) else None
            if got is None:  # the head, overlapping blocks, another store: one array
                return cells(q.select(matchers), grid)
            labels, pieces = got
            stream = Stream(labels, grid)
            try:
                for f in pieces:
                    stream.add(f.qidx, f.counts, None if f.row is not None else f.ts, f.vs, f.row)
            except PiecesOverlap:
                return cells(q.select(matchers), grid)
            return stream.out
        finally:
            q.close()


def _matrix(result: Sequence[dict[str, Any]]) -> list[Points]:
    out = []
    for s in result:
        pts = s.get("values") or []
        t = np.fromiter((round(float(p[0]) * 1000) for p in pts), dtype=np.int64, count=len(pts))
        v = np.fromiter((float(p[1]) for p in pts), dtype=np.float64, count=len(pts))
        out.append(Points(Labels(s["metric"]), t, v))
    return out


class HttpSource:
    """Queries over a Prometheus API v1 (``--url``)."""

    def __init__(self, url: str, timeout_s: float = 120.0, client: Any = None, description: str = "") -> None:
        """``client``: an ``httpx.Client`` carrying a ``remote_read`` entry's TLS and credentials
        (a scheduled report's ``source:``); a plain one otherwise."""
        import httpx

        self.base = url.rstrip("/")
        self.description = description or self.base
        self._client = client if client is not None else httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._client.close()

    def _call(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        import httpx

        url = f"{self.base}{path}"
        try:
            r = self._client.post(url, data=params)
        except httpx.HTTPError as e:
            raise SourceUnreachable(f"cannot reach {url}: {e}") from e
        try:
            body = r.json()
        except ValueError:
            raise SourceError(f"{url} answered {r.status_code} without a Prometheus API body: "
                              "is --url a Prometheus-API server?") from None
        if body.get("status") != "success":
            raise SourceError(f"{params.get('query', '')}: {body.get('errorType')}: {body.get('error')}")
        data: dict[str, Any] = body["data"]
        return data

    def instant(self, expr: str, t_ms: int) -> list[tuple[Labels, float]]:
        data = self._call("/api/v1/query", {"query": expr, "time": f"{t_ms / 1000:.3f}"})
        if data["resultType"] == "scalar":
            return [(Labels(), float(data["result"][1]))]
        if data["resultType"] != "vector":
            raise SourceError(f"{expr}: expected an instant vector, got a {data['resultType']}")
        return [(Labels(s["metric"]), float(s["value"][1])) for s in data["result"]]

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> list[Points]:
        data = self._call("/api/v1/query_range", {
            "query": expr, "start": f"{start_ms / 1000:.3f}", "end": f"{end_ms / 1000:.3f}",
            "step": f"{step_ms / 1000:.3f}"})
        return _matrix(data["result"])

    def raw(self, selector: str, start_ms: int, end_ms: int) -> list[Points]:
        expr = raw_expr(selector, start_ms, end_ms)
        data = self._call("/api/v1/query", {"query": expr, "time": f"{end_ms / 1000:.3f}"})
        if data["resultType"] != "matrix":
            raise SourceError(f"{expr}: expected a range vector, got a {data['resultType']}")
        return _matrix(data["result"])

    def counter_cells(self, selector: str, grid: Grid) -> Cells | None:
        return None  # a week of raw samples over HTTP costs more than the server's PromQL

    def samples(self, selector: str, start_ms: int, end_ms: int) -> SeriesSet | None:
        return None


def finite(points: Sequence[Points]) -> list[Points]:
    """Drop NaN values (staleness markers over HTTP arrive as NaN)."""
    out = []
    for p in points:
        keep = np.isfinite(p.v) | np.isinf(p.v)
        out.append(p if bool(keep.all()) else Points(p.labels, p.t[keep], p.v[keep]))
    return out


def value_or_none(v: float) -> float | None:
    return None if math.isnan(v) else v
