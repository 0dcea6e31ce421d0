"""Anomalies: each interval of the window against the same time of day on every baseline day.

Traffic, errors, latency and resources follow the clock, so 3 a.m. is compared with the
baseline's 3 a.m.s, not with its average.  The score is a robust z-score (median and MAD of
those values), flagged beyond 3.5 as Iglewicz and Hoaglin suggest.  The values are the
per-interval series the other sections already read (request rate, error rate, p95 latency,
CPU, memory), so anomalies cost no query of their own.
"""

from __future__ import annotations

import numpy as np

from guardia.model import format_rfc3339
from guardia.reports.context import DAY_MS, Ctx, label_dict
from guardia.reports.figures import Figure, Section
from guardia.reports.stats import ANOMALY_Z, robust_z


def anomalies(ctx: Ctx) -> Section:
    sec = Section("anomalies", "Anomalies")
    w = ctx.window
    days = w.baseline_length // DAY_MS
    mine = {ctx.by: ctx.service} if ctx.service else {}
    if days < 1:
        fig = ctx.missing("anomalies", mine, "the baseline is shorter than a day: no same times of day "
                          "to compare with", "", "count")
        if fig is not None:
            sec.figures.append(fig)
        return sec
    found: dict[str, list[dict[str, object]]] = {}
    scored: dict[str, int] = {}
    queries = []
    for signal, (query, cur, base) in ctx.signals.items():
        queries.append(query)
        for labels, s in cur.items():
            b = base.get(labels)
            if b is None:
                continue
            key = labels.get(ctx.by, "")
            past = dict(zip(b.t.tolist(), b.v.tolist(), strict=True))
            for t, v in zip(s.t.tolist(), s.v.tolist(), strict=True):
                if not np.isfinite(v):
                    continue
                same = [past[t - k * DAY_MS] for k in range(1, days + 1) if (t - k * DAY_MS) in past]
                z = robust_z(v, np.array(same))
                if z is None:
                    continue
                scored[key] = scored.get(key, 0) + 1
                if abs(z) > ANOMALY_Z:
                    found.setdefault(key, []).append({
                        "signal": signal, "labels": label_dict(labels), "interval_ending": format_rfc3339(t),
                        "value": v, "baseline_median": float(np.median(same)), "z": z})
    query = " ; ".join(queries)
    if not scored:
        fig = ctx.missing("anomalies", mine, "no interval of the window had the same time of day on 3 or "
                          "more baseline days (or no per-interval series to score)", query, "count")
        if fig is not None:
            sec.figures.append(fig)
        return sec
    for key in sorted(scored):
        rows = sorted(found.get(key, []), key=lambda r: (str(r["interval_ending"]), str(r["signal"])))
        sec.figures.append(Figure("anomalies", {ctx.by: key}, float(len(rows)), "count", query,
                                  verdict="fail" if rows else "pass", details=rows,
                                  note=f"{scored[key]} per-interval values scored"))
    sec.notes.append(f"Each per-interval value of the window ({w.i}) is scored against the values at "
                     f"the same time of day on the {days} baseline day(s): "
                     "z = (value − median) ÷ (1.4826 × MAD); "
                     f"|z| > {ANOMALY_Z:g} is an anomaly (the scale is at least 1% of the median, so smaller "
                     "changes never are). Signals: " + ", ".join(ctx.signals) + ".")
    return sec
