"""Instant and range vector selectors and subqueries, evaluated for all steps at once."""

from __future__ import annotations

import numpy as np

from guardia.model.samples import STALE_NAN_BITS, stale_mask
from guardia.promql import plan, timerows
from guardia.promql.context import EvalContext, ExprEvaluator
from guardia.promql.timerows import RowWindows, TimeRows
from guardia.promql.values import BOOL, F64, I64, RangeVector, Vector, not_none
from guardia.promql.windows import FEW_STEPS, filter_flat, row_blocks, search
from guardia.storage.interface import SeriesSet


def eval_times(ctx: EvalContext, ts: I64, offset_ms: int, at: plan.AtSpec) -> I64:
    """The storage time each step reads at, after ``@`` and ``offset``."""
    if at is None:
        base = ts
    else:
        fixed = ctx.start if at == "start" else ctx.end if at == "end" else int(at)
        base = np.full(ts.shape, fixed, dtype=np.int64)
    out: I64 = base - offset_ms
    return out


def _select(ctx: EvalContext, sel: plan.VectorSelector, mint: int, maxt: int, range_ms: int = 0) -> SeriesSet:
    return ctx.select(sel.matchers, mint, maxt, func=ctx.reads.funcs.get(id(sel), ""), range_ms=range_ms)


def instant(ctx: EvalContext, sel: plan.VectorSelector, ts: I64, want_timestamps: bool = False) -> Vector:
    """Latest sample at or before each step within the lookback delta, unless stale."""
    et = eval_times(ctx, ts, sel.offset_ms, sel.at)
    n = len(ts)
    if n == 0:
        return Vector.empty(0)
    found = _select(ctx, sel, int(et.min()) - ctx.lookback + 1, int(et.max()))
    if not found.labels:
        return Vector.empty(n)
    ctx.check_raw(len(found.timestamps))
    if found.has_histograms:
        return _instant_with_histograms(ctx, found, et, want_timestamps)
    values, present = _latest(found.timestamps, found.values, found.starts, et, ctx.lookback, want_timestamps)
    loaded = int(np.count_nonzero(present))
    ctx.add_samples(loaded, loaded)
    return Vector(found.labels, values, present).compact()


def _instant_with_histograms(ctx: EvalContext, found: SeriesSet, et: I64, want_timestamps: bool) -> Vector:
    """``instant`` over series that hold native histograms (objects beside the floats)."""
    t, v, starts = found.timestamps, found.values, found.starts
    hi = search(t, starts, et, "right")
    idx = hi - 1
    has = hi > starts[:-1, None]
    idx_c = np.where(has, idx, 0)
    if len(t):
        tt = t[idx_c]
        vv = v[idx_c]
    else:
        tt = np.zeros(idx_c.shape, dtype=np.int64)
        vv = np.zeros(idx_c.shape)
    present = has & (tt > et[None, :] - ctx.lookback) & ~stale_mask(vv)
    values = np.where(present, tt / 1000.0 if want_timestamps else vv, 0.0)
    loaded = int(present.sum())
    ctx.add_samples(loaded, loaded)
    hists = None
    if found.hcols is not None and len(t):
        # the objects of the points alone (not of every sample the select read)
        hc = found.hcols.take(idx_c)
        hc.lid[~present] = -1
        hists = hc.objects()
    elif found.histograms is not None and len(t):
        # kept with ``want_timestamps`` too: ``info()`` refuses a histogram info sample by them
        hists = found.histograms[idx_c]
        hists[~present] = None
        if not not_none(hists).any():
            hists = None
    return Vector(found.labels, values, present, hists=hists).compact()


def _latest(t: I64, v: F64, starts: I64, et: I64, lookback: int, want_timestamps: bool) -> tuple[F64, BOOL]:
    """Each series' latest sample at or before each step within the lookback, unless it is
    a stale marker: the value (or its time in seconds) and where there is one.

    Computed in blocks of series whose temporaries stay cache-sized (a gauge panel over
    10,000 series and 288 steps would otherwise make a dozen 23 MB arrays), and on a
    regular step grid with one ``bincount`` per block rather than a search."""
    k, n = len(starts) - 1, len(et)
    values = np.empty((k, n))
    present = np.empty((k, n), dtype=bool)
    d = int(et[1] - et[0]) if n > FEW_STEPS else 0
    regular = d > 0 and bool((np.diff(et) == d).all())
    since = et[None, :] - lookback
    shared = timerows.find(t, starts)
    if shared is not None:
        _latest_rows(shared, v, starts, et, since, d if regular else 0, want_timestamps, values, present)
        return values, present
    for rows in row_blocks(k, n):
        a, b = rows.start, rows.stop
        s0, s1 = int(starts[a]), int(starts[b])
        bt, bv = t[s0:s1], v[s0:s1]
        bstarts = starts[a : b + 1] - s0
        if s1 == s0:
            present[rows] = False
            values[rows] = 0.0
            continue
        hi = _grid_counts(bt, bstarts, int(et[0]), d, n) if regular else search(bt, bstarts, et, "right")
        has = hi > bstarts[:-1, None]
        hi -= 1
        np.maximum(hi, 0, out=hi)  # where there is no sample: any index, masked below
        tt = np.take(bt, hi, mode="clip")
        vv = np.take(bv, hi, mode="clip")
        ok = present[rows]
        np.greater(tt, since, out=ok)
        ok &= has
        ok &= vv.view(np.uint64) != np.uint64(STALE_NAN_BITS)
        out = values[rows]
        out[...] = 0.0
        if want_timestamps:
            np.divide(tt, 1000.0, out=out, where=ok)
        else:
            np.copyto(out, vv, where=ok)
    return values, present


def _latest_rows(rows: TimeRows, v: F64, starts: I64, et: I64, since: I64, d: int, want_timestamps: bool,
                 values: F64, present: BOOL) -> None:
    """``_latest`` for series that share rows of sample times: which sample is the latest
    at each step, and whether it is within the lookback, is found once per row; each
    series then only reads its value there and checks for a stale marker."""
    times, tst = rows.times, rows.tstarts
    n = len(et)
    hi = _grid_counts(times, tst, int(et[0]), d, n) if d else search(times, tst, et, "right")
    ok_row = hi > tst[:-1, None]
    hi -= 1
    np.maximum(hi, 0, out=hi)
    tt = np.take(times, hi, mode="clip")
    ok_row &= tt > since
    hi -= tst[:-1, None]  # offsets into each row; garbage (masked) where there is no sample
    stamps = tt / 1000.0 if want_timestamps else None
    single = rows.single
    if single:
        c = int(tst[1])
        s0 = int(starts[0])
        grid = v[s0 : s0 + c * len(rows.row)].reshape(-1, c) if c else v[:0].reshape(-1, 1)
        col = np.clip(hi[0], 0, max(c - 1, 0))
    for blk in row_blocks(len(rows.row), n):
        ok = present[blk]
        out = values[blk]
        if single:
            vv = np.take(grid[blk], col, axis=1, mode="clip") if c else np.zeros(out.shape)
            np.copyto(ok, ok_row[:1])
        else:
            vv = np.take(v, rows.expand(hi, starts, blk), mode="clip") if len(v) else np.zeros(out.shape)
            np.take(ok_row, rows.row[blk], axis=0, out=ok)
        ok &= vv.view(np.uint64) != np.uint64(STALE_NAN_BITS)
        out[...] = 0.0
        if stamps is not None:
            np.copyto(out, rows.spread(stamps, blk), where=ok)
        else:
            np.copyto(out, vv, where=ok)


def range_(ctx: EvalContext, sel: plan.MatrixSelector, ts: I64) -> RangeVector:
    vs = sel.selector
    et = eval_times(ctx, ts, vs.offset_ms, vs.at)
    if len(ts) == 0:
        return windowed(ctx, SeriesSet.of([]), et, sel.range_ms, ts)
    found = _select(ctx, vs, int(et.min()) - sel.range_ms + 1, int(et.max()), sel.range_ms)
    ctx.check_raw(len(found.timestamps))
    return windowed(ctx, found, et, sel.range_ms, ts)


def windowed(ctx: EvalContext, raw: SeriesSet, et: I64, range_ms: int, ts: I64) -> RangeVector:
    """Window bounds ``(et - range, et]`` for every series and step, stale markers dropped."""
    labels = raw.labels
    keep = ~stale_mask(raw.values)
    t, v, starts = filter_flat(raw.timestamps, raw.values, raw.starts, keep)
    h = None
    hc = None
    if raw.hcols is not None:
        hc = raw.hcols.take(keep) if not keep.all() else raw.hcols
        if not hc.mask().any():
            hc = None
    elif raw.histograms is not None:
        h = raw.histograms[keep] if not keep.all() else raw.histograms
        if not not_none(h).any():
            h = None
    rows = timerows.find(t, starts) if h is None and hc is None else None
    if rows is not None:
        # Bounds once per distinct row of times; the series' own are made only if asked.
        # (the two bounds may be views of one array: no subtraction in place)
        blo, bhi = _bounds(rows.times, rows.tstarts, et, range_ms)
        rlo = blo - rows.tstarts[:-1, None]
        rhi = bhi - rows.tstarts[:-1, None]
        if rlo.size:
            per_step = (rows.sizes[:, None] * (rhi - rlo)).sum(axis=0)
            ctx.add_samples(int(per_step.max()), int(per_step.sum()))
        return RangeVector(labels, t, v, starts, None, None, range_ms, et, ts, ctx.check, h,
                           RowWindows(rows, rlo, rhi))
    lo, hi = _bounds(t, starts, et, range_ms)
    if lo.size:
        # Samples in each step's windows, without a (series x steps) array of counts.
        per_step = hi.sum(axis=0) - lo.sum(axis=0)
        ctx.add_samples(int(per_step.max()), int(per_step.sum()))
    return RangeVector(labels, t, v, starts, lo, hi, range_ms, et, ts, ctx.check, h, hcols=hc)


def floats_of(rv: RangeVector) -> tuple[RangeVector, bool]:
    """The float samples of a range vector alone, and whether histograms were dropped."""
    if not rv.has_h:
        return rv, False
    keep = ~rv.hmask()
    t, v, starts = filter_flat(rv.t, rv.v, rv.starts, keep)
    lo, hi = _bounds(t, starts, rv.step_times, rv.range_ms)
    out = RangeVector(rv.labels, t, v, starts, lo, hi, rv.range_ms, rv.step_times, rv.eval_ts, rv.check)
    return out, True


def _bounds(t: I64, starts: I64, et: I64, range_ms: int) -> tuple[I64, I64]:
    """Window bounds for every series and step.

    On a regular step grid whose step divides the range (5m windows at 15s steps), the
    start of window i is the end of window i - range/step, so the counts of samples up
    to each point of the extended grid give both bounds; those counts come from binning
    every sample to its first grid point (one ``bincount``), not from a search.
    """
    n = len(et)
    if n > 1:
        d = int(et[1] - et[0])
        if d > 0 and range_ms % d == 0 and bool((np.diff(et) == d).all()):
            r = range_ms // d
            h = _grid_counts(t, starts, int(et[0]) - range_ms, d, n + r)
            return h[:, :n], h[:, r:]
    return search(t, starts, et - range_ms, "right"), search(t, starts, et, "right")


def _grid_counts(t: I64, starts: I64, g0: int, d: int, g: int) -> I64:
    """``[j, i]``: flat index just past series j's samples with ``t <= g0 + i*d``.

    Series are binned in blocks whose temporaries stay cache-sized: this runs for every
    range selector, over every sample and every point of the grid.
    """
    k = len(starts) - 1
    if len(t) == 0 or k == 0:
        return np.broadcast_to(starts[:-1, None], (k, g)).copy()
    out = np.empty((k, g), dtype=np.int64)
    for rows in row_blocks(k, g):
        a, b = rows.start, rows.stop
        s0, s1 = int(starts[a]), int(starts[b])
        # The first grid point at or after t: ceil((t - g0) / d), as a floor division.
        key = t[s0:s1] - (g0 - d + 1)
        key //= d
        np.clip(key, 0, g, out=key)
        key += np.repeat(np.arange(0, (b - a) * (g + 1), g + 1, dtype=np.int64), np.diff(starts[a : b + 1]))
        cnt = np.bincount(key, minlength=(b - a) * (g + 1)).reshape(b - a, g + 1)[:, :g]
        np.cumsum(cnt, axis=1, out=out[rows])
        out[rows] += starts[a:b, None]
    return out


def subquery(ctx: EvalContext, node: plan.Subquery, ts: I64, ev: ExprEvaluator) -> RangeVector:
    """Evaluate the inner expression on its own step grid, then window it like a selector."""
    et = eval_times(ctx, ts, node.offset_ms, node.at)
    step = node.step_ms or ctx.subquery_step
    if len(ts) == 0:
        return windowed(ctx, SeriesSet.of([]), et, node.range_ms, ts)
    lo_t = int(et.min()) - node.range_ms
    # First step-aligned time after the window start (Go's truncating division).
    q = abs(lo_t) // step * (1 if lo_t >= 0 else -1)
    first = step * q
    if first < lo_t:
        first += step
    last = int(et.max())
    sub_ts = first + np.arange(max((last - first) // step + 1, 0), dtype=np.int64) * step
    val = ev.eval_vector_like(node.expr, sub_ts)
    labels = val.labels
    # Flatten the present points of the inner result into raw series.
    k = len(labels)
    counts = val.present.sum(axis=1).astype(np.int64)
    starts = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    rows, cols = np.nonzero(val.present)
    t = sub_ts[cols]
    v = val.values[rows, cols]
    hs = val.hists[rows, cols] if val.hists is not None else None
    return windowed(ctx, SeriesSet(labels, t, v, starts, hs), et, node.range_ms, ts)
