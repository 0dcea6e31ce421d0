"""``avg_over_time`` of a gauge over the report's ranges from one read: the memory figure
and the memory-leak test.

PromQL evaluates the memory figure four times (the window, the baseline, every interval
of each) and the leak test once more, each a read of the gauge.  Here the gauge is read
once over the baseline and the window together, and each of those windows is reduced by
the engine's own window bounds (``selectors.windowed``) and ``avg_over_time``
(``rangefuncs.avg``) over the very same samples, so every value is the one the PromQL
gives; sums go through ``rates.summed`` as the rate figures' do.  Only an in-process
store is read this way (``Source.samples``); otherwise the figures are PromQL.
"""

from __future__ import annotations

import time

import numpy as np

from guardia.promql.context import EvalContext
from guardia.promql.rangefuncs import avg
from guardia.promql.selectors import windowed
from guardia.reports.context import Ctx
from guardia.reports.rates import Ranges
from guardia.reports.rollup import BOOL, F64, I64
from guardia.reports.source import Points
from guardia.storage.interface import SeriesSet


def avg_ranges(ctx: Ctx, selector: str) -> Ranges | None:
    """``avg_over_time(selector[d])`` of every series: d = the window at its end, the
    baseline at its end, the interval every interval over each; None where the source
    only answers PromQL."""
    if not ctx.read_once:
        return None
    if selector not in ctx.averages:
        w = ctx.window
        found = ctx.source.samples(selector, w.baseline_start, w.end)
        # native histogram samples: the engine averages those its own way (PromQL)
        if found is not None and found.histograms is None:
            ctx.averages[selector] = _ranges(ctx, found)
        else:
            ctx.averages[selector] = None
    got: Ranges | None = ctx.averages[selector]
    return got


def _ranges(ctx: Ctx, found: SeriesSet) -> Ranges:
    w = ctx.window
    iv = w.interval
    ectx = EvalContext(storage=None, start=w.baseline_start, end=w.end, step=iv,  # type: ignore[arg-type]
                       lookback=0, max_samples=2**62, deadline=time.monotonic() + 3600, cancel=None,
                       query="avg_over_time")

    def at(ends: I64, range_ms: int) -> tuple[F64, BOOL]:
        vals, ok = avg(windowed(ectx, found, ends, range_ms, ends))
        np.copyto(vals, 0.0, where=~ok)  # as the engine's range functions leave them
        return vals, ok

    def one(t: int, range_ms: int) -> tuple[F64, BOOL]:
        vals, ok = at(np.array([t], dtype=np.int64), range_ms)
        return vals[:, 0], ok[:, 0]

    def steps(first: int, last: int) -> tuple[I64, F64, BOOL]:
        ends = np.arange(first, last + 1, iv, dtype=np.int64)
        return (ends, *at(ends, iv))

    baseline = one(w.start, w.baseline_length) if w.baseline_length > 0 else None
    base = steps(w.baseline_start + iv, w.start) if w.baseline_length >= 3 * iv else None
    return Ranges(list(found.labels), one(w.end, w.length), baseline, steps(w.start + iv, w.end), base)


def interval_series(r: Ranges) -> list[Points]:
    """The per-interval values over the window of each series, as the range query
    ``avg_over_time(sel[interval])`` returns them: metric name dropped, sorted by labels,
    steps without samples left out."""
    t, v, ok = r.cur
    out = []
    for i in np.flatnonzero(ok.any(axis=1)).tolist():
        keep = ok[i]
        out.append(Points(r.labels[i].without_name(), t[keep], v[i][keep]))
    out.sort(key=lambda p: p.labels)
    return out
