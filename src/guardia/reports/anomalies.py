"""Anomalies: each hour of the window against the same hour of every baseline day.

Traffic, errors, latency and resources follow the clock, so 3 a.m. is compared with the
baseline's 3 a.m.s, not with its average.  The score is a robust z-score (median and MAD of
those hours), flagged beyond 3.5 as Iglewicz and Hoaglin suggest.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from guardia.model import format_rfc3339
from guardia.reports.context import DAY_MS, HOUR_MS, Ctx, label_dict
from guardia.reports.figures import Figure, Section
from guardia.reports.performance import error_ratio
from guardia.reports.stats import ANOMALY_Z, robust_z


def _signals(ctx: Ctx) -> list[tuple[str, str]]:
    m = ctx.settings.metrics
    by = ctx.by
    total = ctx.sel(m.requests)
    out = [
        ("request_rate", f"sum by ({by}) (rate({total}[1h]))"),
        ("error_rate", error_ratio(ctx, "1h")),
        ("cpu_cores", f"sum by ({by}) (rate({ctx.sel(m.cpu)}[1h]))"),
        ("memory", f"sum by ({by}) (avg_over_time({ctx.sel(m.memory)}[1h]))"),
    ]
    for hist in m.latency_histograms:
        out.append((f"latency_p95:{hist}",
                    f"histogram_quantile(0.95, sum by ({by}, le) (rate({ctx.sel(hist + '_bucket')}[1h])))"))
    return out


def anomalies(ctx: Ctx, signals: Callable[[Ctx], list[tuple[str, str]]] = _signals) -> Section:
    sec = Section("anomalies", "Anomalies")
    w = ctx.window
    days = w.baseline_length // DAY_MS
    if days < 1:
        fig = ctx.missing("anomalies", {}, "the baseline is shorter than a day: no same hours to "
                          "compare with", "", "count")
        if fig is not None:
            sec.figures.append(fig)
        return sec
    # hourly steps ending at the window's end, back over the baseline
    hours = (w.end - w.baseline_start) // HOUR_MS
    first = w.end - (hours - 1) * HOUR_MS
    found: dict[str, list[dict[str, object]]] = {}
    scored: dict[str, int] = {}
    queries = []
    for signal, expr in signals(ctx):
        queries.append(expr)
        for s in ctx.source.range(expr, first, w.end, HOUR_MS):
            key = s.labels.get(ctx.by, "")
            by_t = dict(zip(s.t.tolist(), s.v.tolist(), strict=True))
            for t, v in by_t.items():
                if t <= w.start or not np.isfinite(v):
                    continue
                base = [by_t[t - k * DAY_MS] for k in range(1, days + 1) if (t - k * DAY_MS) in by_t]
                z = robust_z(v, np.array(base))
                if z is None:
                    continue
                scored[key] = scored.get(key, 0) + 1
                if abs(z) > ANOMALY_Z:
                    found.setdefault(key, []).append({
                        "signal": signal, "labels": label_dict(s.labels), "hour_ending": format_rfc3339(t),
                        "value": v, "baseline_median": float(np.median(base)), "z": z})
    query = " ; ".join(queries)
    if not scored:
        fig = ctx.missing("anomalies", {ctx.by: ctx.service} if ctx.service else {},
                          "no hour of the window had the same hour on 3 or more baseline days", query,
                          "count")
        if fig is not None:
            sec.figures.append(fig)
        return sec
    for key in sorted(scored):
        rows = sorted(found.get(key, []), key=lambda r: str(r["hour_ending"]))
        sec.figures.append(Figure("anomalies", {ctx.by: key}, float(len(rows)), "count", query,
                                  verdict="fail" if rows else "pass", details=rows,
                                  note=f"{scored[key]} hourly values scored"))
    sec.notes.append(f"Each hourly value of the window is scored against the same hour of the {days} "
                     f"baseline day(s): z = (value − median) ÷ (1.4826 × MAD); |z| > {ANOMALY_Z:g} is "
                     "an anomaly (the scale is at least 1% of the median, so smaller changes never are). "
                     "Signals: request rate, error rate, CPU, memory, p95 latency.")
    return sec
