"""Range-vector functions over windows that hold native histogram samples.

The vectorised code in ``rangefuncs`` computes every window from the float samples; the
windows of series that also have histogram samples are then redone here, one window at a
time in Python, with Prometheus's rules: ``rate``/``increase``/``delta`` of histograms
(``histogramRate`` + the same extrapolation), ``irate``/``idelta`` from the last two
samples, ``sum``/``avg``/``last``/``first``_over_time, ``resets`` and ``changes`` across
both kinds; a window mixing floats and histograms has no result for the functions that
need one kind, with Prometheus's warning.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

import numpy as np

from guardia.model.histcols import HistCols, Layout
from guardia.model.histogram import GAUGE, FloatHistogram, IncompatibleSchemaError
from guardia.promql import annotate, histcolumns
from guardia.promql.context import EvalContext
from guardia.promql.nativehist import Notes, empty_column, report
from guardia.promql.values import BOOL, F64, I64, OBJ, RangeVector, not_none


def hist_counts(rv: RangeVector) -> tuple[BOOL, I64]:
    """Which flat samples are histograms, and how many each window holds."""
    assert rv.has_h
    is_h = rv.hmask()
    cum = np.zeros(len(is_h) + 1, dtype=np.int64)
    np.cumsum(is_h, out=cum[1:])
    counts: I64 = cum[rv.hi] - cum[rv.lo]
    return is_h, counts


def mixed_info(ctx: EvalContext, rv: RangeVector) -> None:
    """A float-only function over windows holding both kinds: Prometheus's info."""
    if not rv.has_h:
        return
    _, hc = hist_counts(rv)
    mixed = (hc > 0) & (hc < rv.hi - rv.lo)
    for j in np.flatnonzero(mixed.any(axis=1)):
        name = rv.labels[j].name
        pos = annotate.name_position(ctx.query, name)
        ctx.info(f"{annotate.histograms_ignored_in_mixed_range(name)} ({pos})")


_local = threading.local()


def _reset(prev: FloatHistogram, cur: FloatHistogram) -> bool:
    """``cur.detect_reset(prev)``, once per pair of samples in a ``patch``: overlapping
    windows (a 5m range at a 1m step) would otherwise compare each pair several times."""
    cache: dict[tuple[int, int], bool] | None = getattr(_local, "resets", None)
    if cache is None:
        return cur.detect_reset(prev)
    key = (id(prev), id(cur))  # both held by the range vector for the whole patch
    got = cache.get(key)
    if got is None:
        got = cache[key] = cur.detect_reset(prev)
    return got


Window = list[tuple[int, float, FloatHistogram | None]]
Point = tuple[float, FloatHistogram | None]
WindowFn = Callable[[Window, RangeVector, int, Notes, str], Point | None]


def patch(ctx: EvalContext, rv: RangeVector, fn: WindowFn, vals: F64, ok: BOOL, every_window: bool = False,
          columnar_rate: bool | None = None) -> tuple[F64, BOOL, OBJ | HistCols | None]:
    """Recompute, with ``fn``, the windows holding histogram samples (every window of a
    series that has any, with ``every_window``); the float results stand elsewhere.
    ``columnar_rate`` (True for ``rate``, False for ``increase``) first computes what it can
    on dense bucket columns (``histcolumns``), bit for bit what ``fn`` would give."""
    assert rv.has_h
    is_h, hc = hist_counts(rv)
    todo: BOOL = hc > 0
    if every_window:
        series = np.asarray(todo.any(axis=1), dtype=bool)
        todo = series[:, None] & (rv.hi > rv.lo)
    vals = vals.copy()
    ok = ok.copy()
    hists = empty_column(ok.shape)
    h: OBJ | None = None
    parts: list[tuple[Layout, BOOL]] | None = None
    if columnar_rate is not None:
        if rv.hcols is not None:
            parts = _rate_on_columns(rv, rv.hcols, is_h, todo, vals, ok, columnar_rate)
            h = _objects_for(rv, rv.hcols, todo)
        else:
            _columnar_rate(rv, is_h, todo, vals, ok, hists, columnar_rate)
    if h is None:
        h = rv.h
    assert h is not None
    notes = Notes()
    _local.resets = {}
    try:
        _patch_windows(ctx, rv, h, fn, todo, vals, ok, hists, notes)
    finally:
        _local.resets = None
    if parts is not None:
        return vals, ok, _as_columns(parts, hists)
    if not not_none(hists).any():
        return vals, ok, None
    return vals, ok, hists


def _as_columns(parts: list[tuple[Layout, BOOL]], hists: OBJ) -> HistCols | None:
    """The results of the columns (``parts``) and of the per-window path (``hists``) as one
    (series, steps) column."""
    lid = np.full(hists.shape, -1, dtype=np.int32)
    row = np.zeros(hists.shape, dtype=np.int64)
    layouts: list[Layout] = []
    for layout, where in parts:
        js, is_ = np.nonzero(where)
        lid[js, is_] = len(layouts)
        row[js, is_] = np.arange(len(js), dtype=np.int64)
        layouts.append(layout)
    objs = not_none(hists)
    if objs.any():
        oc = HistCols.from_objects(hists[objs].tolist())
        lid[objs] = oc.lid + len(layouts)
        row[objs] = oc.row
        layouts += oc.layouts
    return HistCols(lid, row, layouts) if layouts else None


def _columnar_rate(rv: RangeVector, is_h: BOOL, todo: BOOL, vals: F64, ok: BOOL, hists: OBJ,
                   is_rate: bool) -> None:
    """The windows of ``todo`` that ``histcolumns`` can do, done (and taken out of ``todo``):
    series whose samples are all histograms of one layout."""
    h = rv.h
    assert h is not None
    starts = rv.starts.tolist()
    lo, hi = rv.lo, rv.hi
    for j in np.flatnonzero(todo.any(axis=1)).tolist():
        s, e = starts[j], starts[j + 1]
        if e - s < 2 or not is_h[s:e].all():
            continue
        d = histcolumns.dense(h[s:e].tolist())
        if d is None:
            continue
        rv.check()
        done, out = histcolumns.rate_windows(d, rv.t[s:e], lo[j] - s, hi[j] - s, rv.step_times,
                                             rv.range_ms, is_rate)
        done &= todo[j]
        ok[j, done] = True
        vals[j, done] = np.nan
        hists[j, done] = out[done]
        todo[j, done] = False


def _rate_on_columns(rv: RangeVector, hc: HistCols, is_h: BOOL, todo: BOOL, vals: F64, ok: BOOL,
                     is_rate: bool) -> list[tuple[Layout, BOOL]]:
    """The windows of ``todo`` that ``histcolumns.rate_columns`` can do, done (and taken
    out of ``todo``): their results as layouts with the windows each holds.  Windows of one
    histogram sample have no result (as ``rate_fn`` gives them, without a note)."""
    lo, hi = rv.lo, rv.hi
    done, parts = histcolumns.rate_columns(hc, rv.t, lo, hi, rv.step_times, rv.range_ms, is_rate, todo)
    ok[done] = True
    vals[done] = np.nan
    todo &= ~done
    # one sample, a histogram: ``rate_fn`` gives nothing and says nothing
    one = todo & (hi - lo == 1)
    if one.any():
        one &= is_h[np.minimum(lo, max(len(is_h) - 1, 0))]
        ok[one] = False
        todo &= ~one
    return parts


def _objects_for(rv: RangeVector, hc: HistCols, todo: BOOL) -> OBJ:
    """The histogram objects of the samples the ``todo`` windows hold (None elsewhere):
    what the per-window path reads, without building the others."""
    n = rv.t.shape[0]
    need = np.zeros(n + 1, dtype=np.int64)
    js, is_ = np.nonzero(todo)
    if len(js):
        np.add.at(need, rv.lo[js, is_], 1)
        np.add.at(need, rv.hi[js, is_], -1)
    at = np.flatnonzero(np.cumsum(need[:-1]) > 0)
    out: OBJ = np.full(n, None, dtype=object)
    if at.size:
        out[at] = hc.take(at).objects()
    return out


def _patch_windows(ctx: EvalContext, rv: RangeVector, h: OBJ, fn: WindowFn, todo: BOOL, vals: F64, ok: BOOL,
                   hists: OBJ, notes: Notes) -> None:
    t, v = rv.t, rv.v
    for j, i in zip(*np.nonzero(todo), strict=True):
        a, b = int(rv.lo[j, i]), int(rv.hi[j, i])
        window: Window = [(int(t[k]), float(v[k]), h[k]) for k in range(a, b)]
        name = rv.labels[j].name
        out = fn(window, rv, int(i), notes, name)
        report(ctx, notes, annotate.name_position(ctx.query, name))
        if out is None:
            ok[j, i] = False
            continue
        f, hh = out
        ok[j, i] = True
        vals[j, i] = f if hh is None else np.nan
        hists[j, i] = hh


def _kinds(w: Window) -> tuple[bool, bool]:
    has_h = any(x[2] is not None for x in w)
    has_f = any(x[2] is None for x in w)
    return has_f, has_h


def _hist_rate(
    points: list[FloatHistogram], is_counter: bool, notes: Notes, name: str
) -> FloatHistogram | None:
    """Prometheus's ``histogramRate``: last minus first, plus what counter resets lost."""
    prev = points[0]
    last = points[-1]
    if is_counter and GAUGE in (prev.counter_reset_hint, last.counter_reset_hint):
        notes.warnings.append(annotate.not_a_counter(name))
    if is_counter and len(points) > 1 and _reset(prev, points[1]):
        # A reset right after the first sample: its layout does not matter.
        prev = FloatHistogram(schema=points[1].schema, custom_values=list(points[1].custom_values))
    custom = prev.uses_custom_buckets
    if last.uses_custom_buckets != custom:
        notes.warnings.append(annotate.mixed_exponential_custom(name))
        return None
    for cur in points[1:-1]:
        if not is_counter:
            continue
        if cur.counter_reset_hint == GAUGE:
            notes.warnings.append(annotate.not_a_counter(name))
        if cur.uses_custom_buckets != custom:
            notes.warnings.append(annotate.mixed_exponential_custom(name))
            return None
    try:
        res, reconciled = last.sub(prev)
        if is_counter:
            before = prev
            for cur in points[1:]:
                if _reset(before, cur):
                    res, r2 = res.add(before)
                    reconciled = reconciled or r2
                before = cur
    except IncompatibleSchemaError:
        notes.warnings.append(annotate.mixed_exponential_custom(name))
        return None
    if reconciled:
        notes.infos.append(annotate.mismatched_custom_buckets("subtraction"))
    if not is_counter and (points[0].counter_reset_hint != GAUGE or points[-1].counter_reset_hint != GAUGE):
        notes.warnings.append(annotate.not_a_gauge(name))
    res.counter_reset_hint = GAUGE
    return res.compact()


def rate_fn(is_counter: bool, is_rate: bool) -> WindowFn:
    """rate / increase / delta of a window of histograms (extrapolated as floats are)."""

    def fn(w: Window, rv: RangeVector, i: int, notes: Notes, name: str) -> Point | None:
        has_f, _ = _kinds(w)
        if has_f:
            notes.warnings.append(annotate.mixed_floats_histograms(name))
            return None
        if len(w) < 2:
            return None
        pts = [x[2] for x in w if x[2] is not None]
        res = _hist_rate(pts, is_counter, notes, name)
        if res is None:
            return None
        first_t, last_t = w[0][0], w[-1][0]
        end = int(rv.step_times[i])
        start = end - rv.range_ms
        sampled = (last_t - first_t) / 1000
        avg = sampled / (len(w) - 1)
        to_start = (first_t - start) / 1000
        to_end = (end - last_t) / 1000
        threshold = avg * 1.1
        if to_start >= threshold:
            to_start = avg / 2
        if to_end >= threshold:
            to_end = avg / 2
        factor = (sampled + to_start + to_end) / sampled
        if is_rate:
            factor /= rv.range_ms / 1000
        return 0.0, res.mul(factor)

    return fn


def instant_fn(is_rate: bool) -> WindowFn:
    """irate / idelta: the last two samples of the window."""

    def fn(w: Window, rv: RangeVector, i: int, notes: Notes, name: str) -> Point | None:
        if len(w) < 2:
            return None
        (pt, pf, ph), (lt, lf, lh) = w[-2], w[-1]
        if ph is None and lh is None:
            d = lf if is_rate and lf < pf else lf - pf
            return (d / ((lt - pt) / 1000), None) if is_rate else (d, None)
        if ph is None or lh is None:
            notes.warnings.append(annotate.mixed_floats_histograms(name))
            return None
        if is_rate and GAUGE in (lh.counter_reset_hint, ph.counter_reset_hint):
            notes.warnings.append(annotate.not_a_counter(name))
        if not is_rate and (lh.counter_reset_hint != GAUGE or ph.counter_reset_hint != GAUGE):
            notes.warnings.append(annotate.not_a_gauge(name))
        res = lh.copy()
        if not is_rate or not lh.detect_reset(ph):
            try:
                res, reconciled = lh.sub(ph)
            except IncompatibleSchemaError:
                notes.warnings.append(annotate.mixed_exponential_custom(name))
                return None
            if reconciled:
                notes.infos.append(annotate.mismatched_custom_buckets("subtraction"))
        res.counter_reset_hint = GAUGE
        res.compact()
        if is_rate:
            if lt == pt:
                return None
            res.div((lt - pt) / 1000)
        return 0.0, res

    return fn


def sum_fn(average: bool) -> WindowFn:
    """sum_over_time / avg_over_time of a window of histograms."""

    def fn(w: Window, rv: RangeVector, i: int, notes: Notes, name: str) -> Point | None:
        has_f, _ = _kinds(w)
        if has_f:
            notes.warnings.append(annotate.mixed_floats_histograms(name))
            return None
        pts = [x[2] for x in w if x[2] is not None]
        acc = pts[0].copy()
        try:
            for h in pts[1:]:
                acc, reconciled = acc.add(h)
                if reconciled:
                    notes.infos.append(annotate.mismatched_custom_buckets("aggregation"))
        except IncompatibleSchemaError:
            notes.warnings.append(annotate.mixed_exponential_custom(name))
            return None
        if average:
            acc.div(float(len(pts)))
        return 0.0, acc.compact()

    return fn


def last_fn(w: Window, rv: RangeVector, i: int, notes: Notes, name: str) -> Point:
    return w[-1][1], w[-1][2]


def first_fn(w: Window, rv: RangeVector, i: int, notes: Notes, name: str) -> Point:
    return w[0][1], w[0][2]


def _pairs(w: Window, hist_cmp: Callable[[FloatHistogram, FloatHistogram], bool],
           float_cmp: Callable[[float, float], bool]) -> int:
    n = 0
    for (_, pf, ph), (_, cf, ch) in itertools.pairwise(w):
        if ph is None and ch is None:
            n += float_cmp(cf, pf)
        elif ph is None or ch is None:
            n += 1
        else:
            n += hist_cmp(ch, ph)
    return n


def resets_fn(w: Window, rv: RangeVector, i: int, notes: Notes, name: str) -> Point:
    """Float drops, histogram resets, and every switch between the two kinds."""
    return float(_pairs(w, lambda c, p: c.detect_reset(p), lambda c, p: c < p)), None


def changes_fn(w: Window, rv: RangeVector, i: int, notes: Notes, name: str) -> Point:
    """Changed values (NaN to NaN is no change), histograms compared exactly."""
    n = _pairs(w, lambda c, p: not c.equals(p), lambda c, p: c != p and not (c != c and p != p))
    return float(n), None
