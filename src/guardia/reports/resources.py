"""Saturation and resources: CPU, memory with a leak test, restarts, cache hit ratios, and the
node exporter's CPU and memory use where it runs."""

from __future__ import annotations

from guardia.model import Labels, format_rfc3339
from guardia.reports.averages import avg_ranges, interval_series
from guardia.reports.compare import compared
from guardia.reports.context import Ctx, label_dict
from guardia.reports.figures import Figure, Section
from guardia.reports.rates import Lazy, Ranges, sum_of, summed, summed_rates
from guardia.reports.stats import LEAK_RULE, Trend, trends


def resources(ctx: Ctx) -> Section:
    sec = Section("resources", "Saturation and resources")
    m = ctx.settings.metrics
    by = ctx.by
    cpu, mem = ctx.sel(m.cpu), ctx.sel(m.memory)
    sec.figures.extend(compared(ctx, "cpu_cores", "cores",
                                lambda d: f"sum by ({by}) (rate({cpu}[{d}]))", judge=False,
                                signal="cpu_cores", read_once=sum_of(summed_rates(ctx, cpu, [by]))))
    sec.figures.extend(compared(ctx, "memory", "bytes",
                                lambda d: f"sum by ({by}) (avg_over_time({mem}[{d}]))", judge=False,
                                signal="memory", read_once=sum_of(summed_avgs(ctx, mem, [by]))))
    sec.figures.extend(memory_leak(ctx))
    node_cpu = ctx.sel("node_cpu_seconds_total", 'mode="idle"')
    sec.figures.extend(compared(
        ctx, "node_cpu_utilisation", "ratio",
        lambda d: f"1 - avg by (instance) (rate({node_cpu}[{d}]))", judge=False, check=False))
    avail, total = ctx.sel("node_memory_MemAvailable_bytes"), ctx.sel("node_memory_MemTotal_bytes")
    sec.figures.extend(compared(
        ctx, "node_memory_utilisation", "ratio",
        lambda d: f"1 - avg_over_time({avail}[{d}]) / avg_over_time({total}[{d}])", judge=False, check=False))
    sec.notes.append("Memory leak test: " + LEAK_RULE + ", over the per-interval averages of "
                     f"{m.memory} of each instance. A restart in the window breaks the rise, so a "
                     "leak that restarts hide shows up under restarts instead.")
    return sec


def memory_leak(ctx: Ctx) -> list[Figure]:
    m = ctx.settings.metrics
    w = ctx.window
    q = f"avg_over_time({ctx.sel(m.memory)}[{w.i}])"
    avgs = avg_ranges(ctx, ctx.sel(m.memory))
    series = ctx.source.range(q, w.start + w.interval, w.end, w.interval) if avgs is None else \
        interval_series(avgs)
    if not series:
        fig = ctx.missing("memory_leak", {ctx.by: ctx.service} if ctx.service else {},
                          f"no data: no {m.memory} series in the window", q, "bytes/hour")
        return [fig] if fig is not None else []
    groups: dict[str, list[tuple[dict[str, str], Trend | None]]] = {}
    for s, tr in zip(series, trends([(s.t, s.v) for s in series]), strict=True):
        lab = label_dict(s.labels)
        groups.setdefault(lab.get(ctx.by, ""), []).append((lab, tr))
    out = []
    for key in sorted(groups):
        gl = {ctx.by: key}
        rows = []
        tested = 0
        worst: float | None = None
        for lab, tr in groups[key]:
            if tr is None:
                ctx.missing("memory_leak", lab, "too few values in the window for a trend (need 12)", q,
                            check=False)
                continue
            tested += 1
            row = {"instance": lab.get("instance", ""), **tr.to_json()}
            if tr.leak:
                rows.append(row)
            slope = tr.slope_per_hour
            worst = slope if worst is None else max(worst, slope)
        if not tested:
            fig = ctx.missing("memory_leak", gl, "too few values in the window for a trend (need 12)", q,
                              "bytes/hour")
            if fig is not None:
                out.append(fig)
            continue
        out.append(Figure("memory_leak", gl, float(len(rows)), "instances", q,
                          verdict="fail" if rows else "pass", details=rows,
                          test={"method": LEAK_RULE, "instances_tested": tested,
                                "max_slope_bytes_per_hour": worst},
                          note=(f"{len(rows)} of {tested} instance(s) leaking" if rows else
                                f"no leak in {tested} instance(s); steepest slope "
                                f"{(worst or 0.0):+.3g} bytes/hour")))
    return out


def restarts(ctx: Ctx) -> Section:
    sec = Section("restarts", "Restarts")
    m = ctx.settings.metrics
    w = ctx.window
    q = f"changes({ctx.sel(m.start_time)}[{w.w}])"
    counts = ctx.at_end(q)
    if not counts:
        fig = ctx.missing("restarts", {ctx.by: ctx.service} if ctx.service else {},
                          f"no data: no {m.start_time} series in the window", q, "count")
        if fig is not None:
            sec.figures.append(fig)
        return sec
    # when: the new start times themselves (the value of the series is the start time)
    raw = {Labels(label_dict(s.labels)): s for s in ctx.source.raw(ctx.sel(m.start_time), w.start, w.end)}
    groups: dict[str, list[dict[str, object]]] = {}
    totals: dict[str, float] = {}
    for labels, n in counts.items():
        lab = label_dict(labels)
        key = lab.get(ctx.by, "")
        labels = Labels(lab)
        totals[key] = totals.get(key, 0.0) + n
        if n > 0:
            s = raw.get(labels)
            when = []
            if s is not None:
                vals = s.v[1:][s.v[1:] != s.v[:-1]]
                when = [format_rfc3339(int(v * 1000)) for v in vals.tolist()]
            groups.setdefault(key, []).append({"instance": lab.get("instance", ""), "restarts": n,
                                               "started_at": when})
    for key in sorted(totals):
        rows = groups.get(key, [])
        sec.figures.append(Figure("restarts", {ctx.by: key}, totals[key], "count", q,
                                  verdict="fail" if totals[key] > 0 else "pass", details=rows))
    sec.notes.append(f"Restarts = changes of {m.start_time} (each process's start time) in the window.")
    return sec


def caches(ctx: Ctx) -> Section:
    sec = Section("cache", "Cache hit ratio")
    by = ctx.by
    for c in ctx.settings.metrics.caches:
        hits, misses = ctx.sel(c.hits), ctx.sel(c.misses)

        def expr(d: str, hits: str = hits, misses: str = misses) -> str:
            h = f"sum by ({by}) (rate({hits}[{d}]))"
            return f"{h} / ({h} + sum by ({by}) (rate({misses}[{d}])))"

        sec.figures.extend(compared(ctx, "cache_hit_ratio", "ratio", expr, extra={"cache": c.name},
                                    judge=False, check=False))
    sec.notes.append("Hit ratio = hits ÷ (hits + misses) for each cache whose counters exist: "
                     + ", ".join(f"{c.name} ({c.hits}, {c.misses})" for c in ctx.settings.metrics.caches))
    return sec


def summed_avgs(ctx: Ctx, selector: str, by: list[str]) -> Lazy:
    """``sum by (by) (avg_over_time(selector[d]))`` over the report's ranges, from one read."""

    def make() -> Ranges | None:
        r = avg_ranges(ctx, selector)
        return None if r is None else summed(r, by)

    return Lazy(make)

