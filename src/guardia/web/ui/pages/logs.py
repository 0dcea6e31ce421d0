"""``/logs``: Explore for logs, as Grafana's Explore is for a Loki data source.

A LogQL box (label names and values completed from the store), a time range, the volume of
matching lines over the range as stacked bars by level, and the lines themselves with their
level and labels; a metric query is drawn as a chart.  The query runs on the server, so the
page works without JavaScript; the small script in the template adds the completion and
live tail (Loki's ``/loki/api/v1/tail`` WebSocket).  ``/logs/around`` opens the lines of the
streams that share labels with an alert, around the time it became active.

It joins the UI through ``extra_pages`` (``guardia serve`` passes ``ui_pages(...)`` when the
log store runs), so the UI knows nothing of the log store.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import numpy as np
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from guardia.logs.errors import LogsError
from guardia.logs.logql import LogQLEngine, MatrixResult, ScalarResult, StreamsResult, parse
from guardia.logs.logql import ast as logql_ast
from guardia.logs.logql.units import duration_seconds
from guardia.logs.store import LogStore
from guardia.model.matchers import MatcherError, MatchType, parse_matchers
from guardia.web.loki_params import BadRequest, parse_time_ns
from guardia.web.slo_chart import line_chart
from guardia.web.ui.render import Page, render
from guardia.web.ui.sources import UiSources

NS = 1_000_000_000
RANGES = ["5m", "15m", "1h", "3h", "6h", "12h", "24h", "2d", "7d"]
LEVELS = ("critical", "error", "warn", "info", "debug", "trace", "unknown")
MAX_LIMIT = 5000
BARS = 60
# where the level of a line is found: a label first, then the line itself (as Grafana does)
LEVEL_LABELS = ("level", "lvl", "severity", "detected_level", "loglevel")
_LEVEL_FIELD = re.compile(rb'(?i)\b(?:level|lvl|severity|loglevel)"?\s*[=:]\s*"?([a-z]+)')
_LEVEL_WORD = re.compile(
    rb"(?i)\b(emerg|fatal|panic|crit(?:ical)?|err(?:or)?|warn(?:ing)?|info|notice|debug|trace)\b")
_CANON = {
    "emerg": "critical", "emergency": "critical", "alert": "critical", "fatal": "critical",
    "panic": "critical", "crit": "critical", "critical": "critical",
    "err": "error", "error": "error", "eror": "error",
    "warn": "warn", "warning": "warn",
    "info": "info", "information": "info", "notice": "info", "informational": "info",
    "debug": "debug", "dbug": "debug", "trace": "trace",
}


_LEVEL_REGEXP = '`(?i)\\b(?:level|lvl|severity|loglevel)"?\\s*[=:]\\s*"?(?P<level>[a-z]+)`'


def _has_parser(expr: logql_ast.LogSelector) -> bool:
    return any(isinstance(st, logql_ast.Parser) for st in expr.stages)


def level_of(labels: Mapping[str, str], line: str) -> str:
    """The level a line is shown with: a level-like label, else a ``level=`` field or a level
    word in the line, else ``unknown``."""
    for k in LEVEL_LABELS:
        v = labels.get(k)
        if v:
            return _CANON.get(v.lower(), "unknown")
    head = line[:400].encode("utf-8", "replace")
    m = _LEVEL_FIELD.search(head) or _LEVEL_WORD.search(head)
    return _CANON.get(m.group(1).decode().lower(), "unknown") if m else "unknown"


def range_ns(text: str) -> int:
    """``1h`` (or any LogQL duration) as nanoseconds; refused with the forms it takes."""
    try:
        secs = duration_seconds(text.strip())
    except ValueError:
        raise ValueError(f"range {text!r} is not a duration: use 5m, 1h, 7d ...") from None
    if secs <= 0:
        raise ValueError(f"range {text!r} must be positive")
    return int(secs * NS)


def end_ns(text: str, now: int) -> int:
    """The range's end: empty for now, Unix seconds, or RFC 3339."""
    try:
        return parse_time_ns(text, now)
    except BadRequest as e:
        raise ValueError(str(e)) from None


def nice_step_ns(span_ns: int, bars: int = BARS) -> int:
    """A round step (1s, 2s, 5s, 10s, 15s, 30s, 1m, ...) giving about ``bars`` bars."""
    want = max(span_ns / bars / NS, 1.0)
    for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400):
        if s >= want:
            return s * NS
    return math.ceil(want / 86400) * 86400 * NS


def _fmt_ts(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _fmt_iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // NS, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class LogRow:
    ts: int
    time: str
    level: str
    line: str
    labels: list[tuple[str, str]]  # the stream's labels not common to every row


@dataclass
class Bar:
    x: float
    width: float
    start_ns: int
    end_ns: int
    segments: list[tuple[str, float, float, int]]  # level, y, height, count
    total: int


def histogram_svg(bars: list[Bar], top: int, start_ns: int, end_ns: int, query: dict[str, str]) -> Markup:
    """Stacked bars of matching lines per step, each a link that narrows the range to it."""
    width, height, pad_l, pad_b = 960, 120, 44, 20
    parts = [f'<svg class="logs-volume" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="matching lines over time" preserveAspectRatio="none">']
    parts.append(f'<text x="{pad_l - 6}" y="12" text-anchor="end" class="axis">{top:,}</text>'
                 f'<text x="{pad_l - 6}" y="{height - pad_b}" text-anchor="end" class="axis">0</text>'
                 f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width}" y2="{height - pad_b}" '
                 'class="axis-line"/>')
    for b in bars:
        if not b.total:
            continue
        span = b.end_ns - b.start_ns
        link = urlencode({**query, "range": f"{max(span // NS, 1)}s", "end": _fmt_iso(b.end_ns)})
        title = f"{_fmt_ts(b.start_ns)[:19]} UTC: {b.total:,} lines"
        parts.append(f'<a href="?{Markup.escape(link)}" data-bar data-count="{b.total}">'
                     f"<title>{title}</title>")
        for level, y, h, n in b.segments:
            parts.append(f'<rect class="lvl-{level}" x="{b.x:.1f}" y="{y:.1f}" width="{b.width:.1f}" '
                         f'height="{h:.1f}" data-level="{level}" data-n="{n}"/>')
        parts.append("</a>")
    for frac in (0.0, 0.5, 1.0):
        t = start_ns + int((end_ns - start_ns) * frac)
        x = pad_l + (width - pad_l) * frac
        anchor = "start" if frac == 0 else "end" if frac == 1 else "middle"
        parts.append(f'<text x="{x:.0f}" y="{height - 4}" text-anchor="{anchor}" class="axis">'
                     f"{_fmt_ts(t)[:16]}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


def layout_bars(result: MatrixResult, start_ns: int, end_ns: int, step_ns: int) -> tuple[list[Bar], int]:
    """The volume matrix (one series per level) as bars on a 960×120 plot."""
    width, height, pad_l, pad_b, pad_t = 960, 120, 44, 20, 16
    steps = result.steps.tolist()
    by_level: dict[str, np.ndarray] = {}
    for key, row in zip(result.labels, result.values, strict=True):
        lv = _CANON.get(dict(key).get("level", "").lower(), "unknown")
        vals = np.nan_to_num(row.astype(float))
        by_level[lv] = by_level.get(lv, np.zeros(len(steps))) + vals
    totals: np.ndarray = np.sum(list(by_level.values()), axis=0) if by_level else np.zeros(len(steps))
    top = int(np.max(totals)) if len(steps) and np.max(totals) > 0 else 0
    plot_w, plot_h = width - pad_l, height - pad_b - pad_t
    span = max(end_ns - start_ns, 1)
    bars: list[Bar] = []
    for j, t in enumerate(steps):
        b_start = t - step_ns
        x = pad_l + (b_start - start_ns) / span * plot_w
        w = max(step_ns / span * plot_w - 1, 1.0)
        y = float(height - pad_b)
        segs: list[tuple[str, float, float, int]] = []
        for lv in LEVELS:
            n = int(by_level[lv][j]) if lv in by_level else 0
            if not n:
                continue
            h = n / top * plot_h if top else 0
            y -= h
            segs.append((lv, y, h, n))
        bars.append(Bar(max(x, pad_l), w, b_start, t, segs, int(totals[j]) if len(steps) else 0))
    return bars, top


def _common_labels(streams: Sequence[tuple[dict[str, str], Any]]) -> dict[str, str]:
    if not streams:
        return {}
    common = dict(streams[0][0])
    for labels, _ in streams[1:]:
        common = {k: v for k, v in common.items() if labels.get(k) == v}
    return common


def log_rows(result: StreamsResult, direction: str, limit: int) -> tuple[list[LogRow], dict[str, str]]:
    """Every stream's lines as one list in the query's order, and the labels they all share."""
    common = _common_labels(result.streams)
    rows: list[LogRow] = []
    for labels, values in result.streams:
        own = sorted((k, v) for k, v in labels.items() if k not in common)
        for t, line in values:
            rows.append(LogRow(t, _fmt_ts(t), level_of(labels, line), line, own))
    rows.sort(key=lambda r: r.ts, reverse=direction == "backward")
    return rows[:limit], common


def _matrix_chart(result: MatrixResult) -> Markup:
    steps_ms = (result.steps // 1_000_000).astype(np.int64)
    series = []
    for key, row in zip(result.labels, result.values, strict=True):
        name = "{" + ", ".join(f'{k}="{v}"' for k, v in key) + "}"
        series.append((name, steps_ms, row.astype(float)))
    if not len(steps_ms):
        return Markup("")
    return Markup(line_chart(series[:50], start_ms=int(steps_ms[0]), end_ms=int(steps_ms[-1]),
                             title="query result", width=960, height=260))


class LogsPages:
    """The pages, bound to the store (label completion, alert labels) and the LogQL engine."""

    def __init__(self, store: LogStore, engine: LogQLEngine) -> None:
        self.store = store
        self.engine = engine

    async def page(self, request: Request, ui: UiSources) -> Response:
        q = request.query_params
        query = q.get("query", "").strip()
        rng = q.get("range", "1h") or "1h"
        end_text = q.get("end", "")
        direction = "forward" if q.get("direction") == "forward" else "backward"
        ctx: dict[str, Any] = dict(
            title="Logs", query=query, range=rng, end=end_text, direction=direction, ranges=RANGES,
            error="", volume_error="", rows=[], common={}, volume=Markup(""), chart=Markup(""),
            vector=[], kind="", stats="", limit=q.get("limit", "500"),
        )
        try:
            limit = max(1, min(int(q.get("limit") or "500"), MAX_LIMIT))
            span = range_ns(rng)
            end = end_ns(end_text, time.time_ns())
        except ValueError as e:
            ctx["error"] = str(e)
            return render(request, ui, "logs.html", status_code=400, **ctx)
        start = end - span
        ctx["window"] = f"{_fmt_ts(start)[:19]} → {_fmt_ts(end)[:19]} UTC"
        if not query:
            return render(request, ui, "logs.html", **ctx)
        given = {"query": query, "direction": direction, "limit": q.get("limit", "")}
        keep = {k: v for k, v in given.items() if v}
        try:
            expr = parse(query)
        except LogsError as e:
            ctx["error"] = str(e)
            return render(request, ui, "logs.html", status_code=400, **ctx)
        started = time.perf_counter()
        if isinstance(expr, logql_ast.LogSelector):
            ctx["kind"] = "logs"
            step = nice_step_ns(span)
            try:
                result = await asyncio.to_thread(
                    self.engine.query_range, expr, start, end, step, limit, direction)
            except LogsError as e:
                ctx["error"] = str(e)
                return render(request, ui, "logs.html", status_code=400, **ctx)
            assert isinstance(result, StreamsResult)
            ctx["rows"], ctx["common"] = log_rows(result, direction, limit)
            # the volume: every matching line, not only the page shown, counted per step by level
            # a query without a parser gets the level a `level=`/`"level":` field gives (a
            # stream label named level wins: the extraction is then level_extracted)
            detect = "" if _has_parser(expr) else f" | regexp {_LEVEL_REGEXP}"
            vol_q = f"sum by (level) (count_over_time({query}{detect} [{step // NS}s]))"
            try:
                vol = await asyncio.to_thread(self.engine.query_range, vol_q, start + step, end, step, limit)
                assert isinstance(vol, MatrixResult)
                bars, top = layout_bars(vol, start, end, step)
                total = sum(b.total for b in bars)
                ctx["volume"] = histogram_svg(bars, top, start, end, {**keep, "range": rng})
                ctx["total"] = total
            except LogsError as e:
                ctx["volume_error"] = f"no volume histogram: {e}"
            ctx["stats"] = (f"{len(ctx['rows']):,} lines shown (limit {limit:,}) in "
                            f"{time.perf_counter() - started:.2f}s")
        else:
            ctx["kind"] = "metric"
            step = max(span // 250 // NS, 1) * NS
            try:
                result2 = await asyncio.to_thread(self.engine.query_range, expr, start, end, step, limit)
            except LogsError as e:
                ctx["error"] = str(e)
                return render(request, ui, "logs.html", status_code=400, **ctx)
            if isinstance(result2, ScalarResult):
                ctx["vector"] = [({}, result2.value)]
            else:
                assert isinstance(result2, MatrixResult)
                ctx["chart"] = _matrix_chart(result2)
                last = []
                for key, row in zip(result2.labels, result2.values, strict=True):
                    finite = row[np.isfinite(row)]
                    if finite.size:
                        last.append((dict(key), float(finite[-1])))
                ctx["vector"] = last
            ctx["stats"] = f"{len(ctx['vector']):,} series in {time.perf_counter() - started:.2f}s"
        return render(request, ui, "logs.html", **ctx)

    async def around(self, request: Request, ui: UiSources) -> Response:
        """``?labels={a="b",...}&at=<ms, s or RFC 3339>``: the streams sharing the alert's
        labels (those that are log labels), 10 minutes either side of ``at``."""
        q = request.query_params
        try:
            pairs = [(m.name, m.value) for m in parse_matchers(q.get("labels", "{}") or "{}")
                     if m.type is MatchType.EQUAL and m.name != "alertname"]
        except MatcherError as e:
            return await self._around_error(request, ui, f"labels {q.get('labels')!r}: {e}")
        at_text = q.get("at", "")
        try:
            # the alerts page gives milliseconds; people give seconds or RFC 3339
            ms = at_text.isdigit() and len(at_text) == 13
            at = int(at_text) * 1_000_000 if ms else end_ns(at_text, time.time_ns())
        except ValueError as e:
            return await self._around_error(request, ui, str(e))
        window = 10 * 60 * NS
        names = set(await asyncio.to_thread(self.store.label_names, at - window, at + window))
        shared = [(k, v) for k, v in pairs if k in names]
        if not shared:
            known = ", ".join(sorted(names)) or "none"
            return await self._around_error(
                request, ui, "none of the alert's labels is a label of the logs stored around "
                f"that time (log labels: {known}); write a query below")
        selector = "{" + ", ".join(f'{k}="{_quote(v)}"' for k, v in shared) + "}"
        target = urlencode({"query": selector, "range": "20m", "end": _fmt_iso(at + window)})
        return RedirectResponse(f"{ui.route_prefix}/logs?{target}", status_code=303)

    async def _around_error(self, request: Request, ui: UiSources, message: str) -> Response:
        return render(request, ui, "logs.html", status_code=400, title="Logs", query="", range="1h", end="",
                      direction="backward", ranges=RANGES, error=message, volume_error="", rows=[],
                      common={}, volume=Markup(""), chart=Markup(""), vector=[], kind="", stats="",
                      limit="500", window="")


def _quote(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"')


def ui_pages(store: LogStore, engine: LogQLEngine) -> list[Page]:
    """``/logs`` (in the top bar as "Logs") and ``/logs/around``."""
    pages = LogsPages(store, engine)
    return [Page("/logs", "Logs", pages.page), Page("/logs/around", "", pages.around)]
