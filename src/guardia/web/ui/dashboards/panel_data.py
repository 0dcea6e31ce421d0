"""One panel's data: its targets' queries with variables and intervals filled in, run over
the dashboard's time range, and a state the page shows (``ok``, ``nodata`` naming the missing
metrics, ``error`` with the reason)."""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from guardia.rules.check import metric_names
from guardia.web.ui.dashboards.model import Dashboard, Panel
from guardia.web.ui.dashboards.reader import MetricsReader
from guardia.web.ui.dashboards.templating import Selected, builtins, interpolate
from guardia.web.ui.dashboards.timerange import (
    TimeRange,
    TimeRangeError,
    min_interval,
    query_interval,
    rate_interval,
    time_range,
)
from guardia.web.ui.dashboards.variables import Resolved, resolve

_LEGEND = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
PX_PER_GRID_COLUMN = 50  # a 24-column dashboard is ~1200 px wide: one point per pixel
LOOKBACK_MS = 5 * 60 * 1000


@dataclass
class DashboardContext:
    """Everything a dashboard's queries depend on besides the panel: time range and variables."""

    time: TimeRange
    variables: list[Resolved]
    scope: dict[str, Selected] = field(default_factory=dict)


def context(dash: Dashboard, params: Mapping[str, Sequence[str]], reader: MetricsReader, now_ms: int,
            remote: Mapping[str, MetricsReader] | None = None) -> DashboardContext:
    """Raises ``TimeRangeError`` for a ``from``/``to`` that does not parse."""
    raw_from = (params.get("from") or [dash.time_from])[0]
    raw_to = (params.get("to") or [dash.time_to])[0]
    tr = time_range(raw_from, raw_to, now_ms)
    base = builtins(tr.start_ms, tr.end_ms, 0, 0)
    base["__dashboard"] = Selected((dash.title,))
    resolved = resolve(dash, params, reader, tr, base, remote)
    scope = {r.name: r.selected for r in resolved}
    return DashboardContext(tr, resolved, scope)


def legend(fmt: str, labels: Mapping[str, str], expr: str) -> str:
    if fmt and fmt != "__auto":
        return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), fmt)
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    if not name and not rest:
        return expr
    return f"{name}{{{rest}}}" if rest else name


def _points(ts: Any, vs: Any) -> list[list[float | None]]:
    t = (np.asarray(ts, dtype=np.int64) / 1000.0).tolist()
    v = np.asarray(vs, dtype=np.float64)
    vals: list[float | None] = np.where(np.isfinite(v), v, np.nan).tolist()
    return [[a, None if math.isnan(b) else b] for a, b in zip(t, vals, strict=True)]  # type: ignore[arg-type]


def _series(result: Any, legend_format: str, expr: str) -> list[dict[str, Any]]:
    out = []
    if result.type == "matrix":
        for s in result.value:
            labels = dict(s.labels)
            out.append({"name": legend(legend_format, labels, expr), "metric": labels,
                        "values": _points(s.timestamps, s.values)})
    elif result.type == "vector":
        for s in result.value:
            labels = dict(s.labels)
            out.append({"name": legend(legend_format, labels, expr), "metric": labels,
                        "values": _points([s.t], [s.v])})
    elif result.type == "scalar":
        t, v = result.value
        out.append({"name": legend_format or expr, "metric": {}, "values": _points([t], [v])})
    return out


def panel_data(panel: Panel, ctx: DashboardContext, reader: MetricsReader, scrape_interval_ms: int,
               remote: Mapping[str, MetricsReader] | None = None) -> dict[str, Any]:
    """The JSON the page draws a panel from.  A target whose ``datasource`` (or its panel's)
    names a remote engine in ``remote`` runs there; ``sources`` lists the engines used."""
    remote = remote or {}
    tr = ctx.time
    max_points = min(panel.max_data_points or 10_000, max(20, panel.grid.w * PX_PER_GRID_COLUMN))
    started = time.perf_counter()
    series: list[dict[str, Any]] = []
    warnings: list[str] = []
    names: set[str] = set()
    targets = [t for t in panel.targets if not t.hide]
    try:
        # one interval for the whole panel (the largest minimum of its targets), so every
        # series shares the step grid the chart is drawn on
        floor = max((min_interval(t.interval or panel.interval, scrape_interval_ms) for t in targets),
                    default=scrape_interval_ms)
    except TimeRangeError as e:
        return {"state": "error", "error": f"interval: {e}"}
    interval = query_interval(tr.range_ms, max_points, floor)
    scope = {**ctx.scope, **builtins(tr.start_ms, tr.end_ms, interval,
                                     rate_interval(interval, scrape_interval_ms))}
    # aligned to the step, as Grafana does, so refreshes hit the same evaluation times; the
    # end is rounded up so the newest samples are in the last step
    start = tr.start_ms // interval * interval
    end = -(-tr.end_ms // interval) * interval
    used: list[str] = []
    last = reader
    for target in targets:
        expr = interpolate(target.expr, scope)
        ds = interpolate(target.datasource or panel.datasource, scope)
        source = remote.get(ds)
        if source is not None and ds not in used:
            used.append(ds)
        last = source or reader
        try:
            res = last.instant(expr, tr.end_ms) if target.instant else last.range(expr, start, end, interval)
        except Exception as e:
            reason = str(e) or type(e).__name__
            return {"state": "error", "error": f"query {target.ref_id} ({expr}): {reason}"}
        warnings.extend(getattr(res, "warnings", ()) or ())
        series.extend({**x, "refId": target.ref_id}
                      for x in _series(res, interpolate(target.legend_format, scope), expr))
        with contextlib.suppress(Exception):
            names |= metric_names(expr)[0]
    base = {"start": start / 1000, "end": end / 1000, "step": interval / 1000,
            "seconds": round(time.perf_counter() - started, 4), "sources": used or ["guardia"]}
    if not targets:
        return {**base, "state": "nodata", "missing": [], "error": "the panel has no PromQL targets"}
    if not series:
        present = last.existing(sorted(names), tr.start_ms - LOOKBACK_MS, tr.end_ms)
        return {**base, "state": "nodata", "missing": sorted(names - present), "warnings": warnings}
    return {**base, "state": "ok", "series": series, "warnings": warnings}
