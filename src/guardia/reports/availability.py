"""Availability from ``up`` (per job) and ``probe_success`` (per probed target): uptime,
outages with their start and end, and the stretches with no data at all.

Read from raw samples, not a step grid, so an outage starts at the first failed scrape or
probe and ends at the first good one after it.  Each sample stands for the time until the
next one; a silence longer than two intervals is a gap, counted neither up nor down and
reported as missing data, because a target nobody scraped was not shown to be up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from guardia.model import format_rfc3339
from guardia.reports.context import Ctx, label_dict
from guardia.reports.figures import Figure, Section
from guardia.reports.source import Points


@dataclass(slots=True)
class Timeline:
    """One series' up/down/no-data time over the window, and its outages and gaps (ms)."""

    up_ms: int = 0
    down_ms: int = 0
    covered_ms: int = 0
    outages: list[tuple[int, int, bool]] = field(default_factory=list)  # start, end, ongoing
    gaps: list[tuple[int, int]] = field(default_factory=list)


def timeline(t: np.ndarray, v: np.ndarray, start: int, end: int) -> Timeline:
    out = Timeline()
    keep = np.isfinite(v)
    t, v = t[keep], v[keep]
    if t.size == 0:
        out.gaps.append((start, end))
        return out
    iv = int(np.median(np.diff(t))) if t.size > 1 else end - start
    iv = max(iv, 1)
    limit = 2 * iv
    nxt = np.append(t[1:], end)
    span = nxt - t
    cover = np.where(span <= limit, span, iv)
    lead = int(t[0]) - start
    if lead > limit:
        out.gaps.append((start, int(t[0])))
    else:  # the scrape phase before the first sample: its state is the first sample's
        cover[0] += lead
    good = v > 0
    out.up_ms = int(cover[good].sum())
    out.down_ms = int(cover[~good].sum())
    out.covered_ms = int(cover.sum())
    for i in np.flatnonzero(span > limit).tolist():
        out.gaps.append((int(t[i]) + iv, int(nxt[i])))
    # outages: runs of failed samples, ending at the next good sample (or still ongoing)
    edges = np.diff(np.concatenate(([False], ~good, [False])).astype(np.int8))
    for a, b in zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True):
        begin = int(t[a])
        if b < t.size:
            out.outages.append((begin, int(t[b]), False))
        else:
            out.outages.append((begin, min(end, int(t[b - 1]) + iv), end - int(t[b - 1]) <= limit))
    return out


def _when(ms: int) -> str:
    return format_rfc3339(ms)


def _outage_rows(labels: dict[str, str], tl: Timeline) -> list[dict[str, object]]:
    return [{**labels, "start": _when(a), "end": None if ongoing else _when(b),
             "duration_seconds": (b - a) / 1000, "ongoing": ongoing} for a, b, ongoing in tl.outages]


def _gap_rows(labels: dict[str, str], tl: Timeline) -> list[dict[str, object]]:
    return [{**labels, "from": _when(a), "to": _when(b), "seconds": (b - a) / 1000} for a, b in tl.gaps]


def _inst(lab: dict[str, str]) -> dict[str, str]:
    return {"instance": lab.get("instance", "")}


def _figures(ctx: Ctx, metric: str, series: list[Points], group: tuple[str, ...]) -> list[Figure]:
    w = ctx.window
    query = f"{ctx.sel(metric)}[{w.w}]"
    target = ctx.settings.targets.availability
    groups: dict[tuple[str, ...], list[tuple[dict[str, str], Timeline]]] = {}
    for s in series:
        lab = label_dict(s.labels)
        key = tuple(lab.get(g, "") for g in group)
        groups.setdefault(key, []).append((lab, timeline(s.t, s.v, w.start, w.end)))
    out = []
    for key in sorted(groups):
        members = groups[key]
        gl = {"metric": metric, **dict(zip(group, key, strict=True))}
        up = sum(tl.up_ms for _, tl in members)
        down = sum(tl.down_ms for _, tl in members)
        covered = sum(tl.covered_ms for _, tl in members)
        coverage = covered / (w.length * len(members))
        gaps = [row for lab, tl in members for row in _gap_rows(_inst(lab), tl)]
        outages = [row for lab, tl in members for row in _outage_rows(_inst(lab), tl)]
        if up + down == 0:
            fig = ctx.missing("availability", gl, "no data: no sample in the window", query, "ratio")
            if fig is not None:
                out.append(fig)
            continue
        ratio = up / (up + down)
        fig = Figure("availability", gl, ratio, "ratio", query, target=target, target_op=">=",
                     verdict="pass" if ratio >= target else "fail",
                     note=(f"time up ÷ time with data, over {len(members)} series"
                           + (f"; no data for {100 * (1 - coverage):.2f}% of the window" if gaps else "")))
        out.append(fig)
        out.append(Figure("outages", gl, float(len(outages)), "count", query,
                          verdict="info", details=outages,
                          note="an outage runs from the first failed sample to the first good one"))
        cov = Figure("data_coverage", gl, min(1.0, coverage), "ratio", query, verdict="info", details=gaps)
        if gaps:
            cov.note = (f"missing data: {len(gaps)} gap(s) longer than two intervals "
                        f"({sum(float(str(g['seconds'])) for g in gaps):.0f} s in all)")
        out.append(cov)
    return out


def availability(ctx: Ctx) -> Section:
    w = ctx.window
    sec = Section("availability", "Availability")
    up = ctx.source.raw(ctx.sel("up"), w.start, w.end)
    if up:
        sec.figures.extend(_figures(ctx, "up", up, (ctx.by,)))
    else:
        mine = {ctx.by: ctx.service} if ctx.service else {}
        fig = ctx.missing("availability", {"metric": "up", **mine}, "no data: no up series in the window "
                          "(no scrape target, or nothing scraped)", f"{ctx.sel('up')}[{w.w}]", "ratio")
        if fig is not None:
            sec.figures.append(fig)
    probes = ctx.source.raw(ctx.sel("probe_success"), w.start, w.end)
    if probes:
        sec.figures.extend(_figures(ctx, "probe_success", probes, (ctx.by, "instance")))
    else:
        ctx.missing("availability", {"metric": "probe_success"}, "no probe_success series in the window "
                    "(no probes configured)", f"{ctx.sel('probe_success')}[{w.w}]", check=False)
    target = ctx.settings.targets.availability
    sec.notes.append(f"Availability = time up ÷ time with data (target ≥ {target:.3%}). "
                     "Each sample counts until the next; a silence longer than two intervals is "
                     "missing data, shown as such, never as up.")
    return sec
