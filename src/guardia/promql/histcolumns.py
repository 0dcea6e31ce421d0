"""``rate``/``increase`` of native histograms on dense bucket columns, for the usual series.

``histrange`` computes each window of histogram samples in Python, histogram object by
histogram object (``_hist_rate``: a reset check per pair, a subtraction, the extrapolation).
Most series are simpler than the general case it handles: one target's scrapes of one
histogram, every sample with the same schema, zero threshold and custom bounds, a counter
that is not reset inside most windows.  For such a series the samples are laid out once as a
dense (samples × buckets) float array, and every window's answer comes from numpy: resets of
adjacent samples compared column-wise, ``last - first`` of every window at once, the same
extrapolation factor as the float ``rate``.  Each answer is built as a ``FloatHistogram``
only at the end.

Only what gives bit-identical results to ``histrange`` goes this way: the differences and the
scaling are the same single float operations, in the same order, as ``FloatHistogram.sub``,
``compact`` and ``mul``.  Windows holding a counter reset, series with a gauge hint, mixed
layouts, negative counts or float samples among the histograms are left to ``histrange``
(which then also gives their annotations).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import numpy.typing as npt

from guardia.model.histcols import HistCols, Layout
from guardia.model.histogram import (
    COUNTER_RESET,
    CUSTOM_BUCKETS_SCHEMA,
    GAUGE,
    NOT_COUNTER_RESET,
    UNKNOWN,
    FloatHistogram,
    adjust_hint,
)
from guardia.promql.values import BOOL, F64, I64, OBJ


@dataclass(slots=True)
class Dense:
    """One series' histogram samples as columns: count, zero count and sum, then a count per
    positive and per negative bucket index (0 where a sample lacks the bucket)."""

    schema: int
    zero_threshold: float
    custom_values: list[float]
    pos: list[int]  # positive bucket indexes, ascending (columns 3..3+len(pos))
    neg: list[int]  # negative bucket indexes, ascending (the columns after)
    m: F64  # (samples, 3 + len(pos) + len(neg))
    reset: BOOL  # (samples,) whether sample k follows k-1 only after a counter reset


def dense(hs: Sequence[FloatHistogram]) -> Dense | None:
    """The columns of ``hs`` (one series' samples in time order), or None when they are not
    one layout, carry a gauge hint or a negative count (``histrange`` handles those)."""
    h0 = hs[0]
    schema, thr, cv = h0.schema, h0.zero_threshold, h0.custom_values
    for h in hs:
        if (h.schema != schema or h.zero_threshold != thr or h.counter_reset_hint == GAUGE
                or h.custom_values != cv):
            return None
    pos, neg, m = _matrix(hs)
    buckets = m[:, 3:]
    if buckets.size and bool((buckets < 0).any()):
        return None  # a missing bucket (0) would compare otherwise than ``detect_reset`` does
    hint = np.fromiter((h.counter_reset_hint for h in hs), dtype=np.int8, count=len(hs))
    reset = np.zeros(len(hs), dtype=bool)
    if len(hs) > 1:
        prev, cur = m[:-1], m[1:]
        down = cur[:, 0] < prev[:, 0]  # the count
        if h0.uses_custom_buckets:  # bounds equal: bucket by bucket (no zero bucket there)
            down |= (cur[:, 3:] < prev[:, 3:]).any(axis=1)
        else:
            down |= cur[:, 1] < prev[:, 1]
            down |= (cur[:, 3:] < prev[:, 3:]).any(axis=1)
        h1 = hint[1:]
        reset[1:] = (h1 == COUNTER_RESET) | ((h1 != NOT_COUNTER_RESET) & down)
    return Dense(schema, thr, list(cv), pos, neg, m, reset)


def _matrix(hs: Sequence[FloatHistogram]) -> tuple[list[int], list[int], F64]:
    """The bucket indexes (ascending) and the dense (samples × columns) array of ``hs``."""
    h0 = hs[0]
    p0, n0 = tuple(h0.positive), tuple(h0.negative)
    n = len(hs)
    if all(tuple(h.positive) == p0 and tuple(h.negative) == n0 for h in hs):
        pos, neg = sorted(p0), sorted(n0)
        width = 3 + len(p0) + len(n0)
        flat = np.fromiter(chain.from_iterable((h.count, h.zero_count, h.sum, *h.positive.values(),
                                                *h.negative.values()) for h in hs),
                           dtype=np.float64, count=n * width)
        m = flat.reshape(n, width)
        pk, nk = list(p0), list(n0)
        order = [0, 1, 2, *(3 + pk.index(i) for i in pos), *(3 + len(pk) + nk.index(i) for i in neg)]
        if order != list(range(width)):
            m = m[:, order]
        return pos, neg, m
    pos = sorted({i for h in hs for i in h.positive})
    neg = sorted({i for h in hs for i in h.negative})
    col = {i: 3 + k for k, i in enumerate(pos)}
    ncol = {i: 3 + len(pos) + k for k, i in enumerate(neg)}
    m = np.zeros((n, 3 + len(pos) + len(neg)), dtype=np.float64)
    for r, h in enumerate(hs):
        m[r, 0], m[r, 1], m[r, 2] = h.count, h.zero_count, h.sum
        for i, c in h.positive.items():
            m[r, col[i]] = c
        for i, c in h.negative.items():
            m[r, ncol[i]] = c
    return pos, neg, m


def sum_dense(hs: Sequence[FloatHistogram]) -> FloatHistogram | None:
    """``sum`` of histograms of one layout (schema, zero threshold, custom bounds) as one
    sequential accumulation over dense columns: the same additions, in the same order, as
    adding them one by one (``FloatHistogram.add``), then ``compact``.  None for mixed
    layouts (the caller adds them one by one, reconciling)."""
    h0 = hs[0]
    schema, thr, cv = h0.schema, h0.zero_threshold, h0.custom_values
    hint = h0.counter_reset_hint
    for h in hs:
        if h.schema != schema or h.zero_threshold != thr or h.custom_values != cv:
            return None
        hint, _ = adjust_hint(hint, h.counter_reset_hint)
    pos, neg, m = _matrix(hs)
    total = np.add.accumulate(m, axis=0)[-1].tolist()
    np_pos = len(pos)
    return FloatHistogram(
        schema, total[0], total[2], thr, total[1],
        {i: c for i, c in zip(pos, total[3 : 3 + np_pos], strict=True) if c != 0},
        {i: c for i, c in zip(neg, total[3 + np_pos :], strict=True) if c != 0},
        list(cv), hint,
    )


def _extrapolation(t: I64, first: I64, last: I64, end: I64, range_ms: int, is_rate: bool) -> F64:
    """Per window, what its first-to-last increase is multiplied by: Prometheus's extrapolation
    to the range's edges (at most half an average interval past the samples), over the range's
    seconds for ``rate``."""
    first_t, last_t = t[first], t[last]
    start = end - range_ms
    sampled = (last_t - first_t) / 1000
    avg = sampled / (last - first)
    to_start = (first_t - start) / 1000
    to_end = (end - last_t) / 1000
    threshold = avg * 1.1
    to_start = np.where(to_start >= threshold, avg / 2, to_start)
    to_end = np.where(to_end >= threshold, avg / 2, to_end)
    factor: F64 = (sampled + to_start + to_end) / sampled
    if is_rate:
        factor = factor / (range_ms / 1000)
    return factor


def rate_windows(d: Dense, t: I64, lo: I64, hi: I64, step_times: I64, range_ms: int,
                 is_rate: bool) -> tuple[BOOL, OBJ]:
    """``rate`` (``is_rate``) or ``increase`` of the windows ``[lo, hi)`` (indexes into the
    series' samples, times ``t``) that hold two samples or more and no counter reset: which
    windows were done, and their histograms (None where not done)."""
    n = lo.shape[0]
    out: OBJ = np.full(n, None, dtype=object)
    has2 = hi - lo >= 2
    # a reset at sample k (for k in lo+1 .. hi-1) leaves the window to histrange
    cum = np.zeros(d.reset.shape[0] + 1, dtype=np.int64)
    np.cumsum(d.reset, out=cum[1:])
    a = np.where(has2, lo, 0)
    b = np.where(has2, hi, 1)
    clean = has2 & (cum[b] - cum[np.minimum(a + 1, b)] == 0)
    done = clean.copy()
    idx = np.flatnonzero(clean)
    if not idx.size:
        return done, out
    first, last = a[idx], b[idx] - 1
    factor = _extrapolation(t, first, last, step_times[idx], range_ms, is_rate)
    diff = d.m[last] - d.m[first]
    scaled = diff * factor[:, None]
    keep = diff[:, 3:] != 0  # ``compact`` before ``mul``, as histrange does
    np_pos = len(d.pos)
    keys = np.array([*d.pos, *d.neg], dtype=np.int64)
    schema, thr, cv = d.schema, d.zero_threshold, d.custom_values
    rows = scaled.tolist()
    all_kept = keep.all(axis=1).tolist()
    for r, k in enumerate(idx.tolist()):
        row = rows[r]
        if all_kept[r]:
            pos = dict(zip(d.pos, row[3 : 3 + np_pos], strict=True))
            neg = dict(zip(d.neg, row[3 + np_pos :], strict=True)) if d.neg else {}
        else:
            sel = np.flatnonzero(keep[r])
            pos = {int(keys[c]): row[3 + c] for c in sel if c < np_pos}
            neg = {int(keys[c]): row[3 + c] for c in sel if c >= np_pos}
        out[k] = FloatHistogram(schema, row[0], row[2], thr, row[1], pos, neg, list(cv), GAUGE)
    return done, out


@dataclass(slots=True)
class _Group:
    """The histogram samples of one kind (schema, zero threshold, custom bounds) of a
    range vector's columns, on the union of their bucket indexes (a bucket a sample lacks
    is 0, as ``dense`` lays one series out)."""

    layout: Layout  # schema, threshold, bounds and the union bucket indexes (m unused)
    at: I64  # flat positions, ascending
    r: F64  # (len(at), 3 + buckets)
    hint: npt.NDArray[np.int8]


def _groups(hc: HistCols) -> list[_Group]:
    lid = hc.lid
    at_all = np.flatnonzero(lid >= 0)
    lids = lid[at_all]
    order = np.argsort(lids, kind="stable")
    sorted_lids = lids[order]
    cuts = np.flatnonzero(sorted_lids[1:] != sorted_lids[:-1]) + 1
    starts = [0, *cuts.tolist()]
    ends = [*cuts.tolist(), len(order)]
    # each layout's positions (ascending), by kind
    by_kind: dict[tuple[object, ...], list[tuple[Layout, I64]]] = {}
    for a, b in zip(starts, ends, strict=True):
        if a == b:
            continue
        lay = hc.layouts[int(sorted_lids[a])]
        by_kind.setdefault(lay.kind, []).append((lay, at_all[order[a:b]]))
    out: list[_Group] = []
    if len(by_kind) == 1:
        (members,) = by_kind.values()
        if len(members) == 1:
            lay, p = members[0]
            rows = hc.row[p]
            n = lay.m.shape[0]
            if rows.shape[0] == n and n and int(rows[0]) == 0 and bool((np.diff(rows) == 1).all()):
                # every row of one layout, in order (a block's page or pages read straight
                # into one matrix): the union matrix is that matrix, no copy (the copy of
                # an hour of 1,000 series is 44 MB, most of it page faults)
                return [_Group(Layout(lay.schema, lay.zero_threshold, lay.custom_values, lay.pos, lay.neg,
                                      lay.m[:0], lay.hint[:0]), p, lay.m, lay.hint)]
    for members in by_kind.values():
        ls = [lay for lay, _ in members]
        pos = tuple(sorted({i for lay in ls for i in lay.pos}))
        neg = tuple(sorted({i for lay in ls for i in lay.neg}))
        at = at_all if len(by_kind) == 1 else np.sort(np.concatenate([p for _, p in members]))
        r = np.zeros((len(at), 3 + len(pos) + len(neg)))
        hint = np.zeros(len(at), dtype=np.int8)
        pcol = {i: 3 + k for k, i in enumerate(pos)}
        ncol = {i: 3 + len(pos) + k for k, i in enumerate(neg)}
        identity = list(range(r.shape[1]))
        for lay, p in members:
            sel = np.searchsorted(at, p)
            rows = hc.row[p]
            cols = [0, 1, 2, *(pcol[i] for i in lay.pos), *(ncol[i] for i in lay.neg)]
            if cols == identity:
                r[sel] = lay.m[rows]
            else:
                r[np.ix_(sel, np.array(cols, dtype=np.int64))] = lay.m[rows]
            hint[sel] = lay.hint[rows]
        first = ls[0]
        out.append(_Group(Layout(first.schema, first.zero_threshold, first.custom_values, pos, neg,
                                 r[:0], hint[:0]), at, r, hint))
    return out


def rate_columns(hc: HistCols, t: I64, lo: I64, hi: I64, step_times: I64, range_ms: int, is_rate: bool,
                 todo: BOOL) -> tuple[BOOL, list[tuple[Layout, BOOL]]]:
    """``rate`` (``is_rate``) or ``increase`` of the ``todo`` windows ``[lo, hi)`` (flat
    indexes of a range vector's samples, shape (series, steps)) on histogram columns: the
    windows whose samples are all histograms of one kind, two or more, none with a gauge
    hint or a negative bucket, and no counter reset after the first: which were done, and
    per kind the layout of their results (a row per done window of that kind, in the
    order of ``np.nonzero``) with the windows it holds.  Bit for bit what ``histrange``'s
    ``rate_fn`` gives for them (the same single float operations in the same order)."""
    n_flat = t.shape[0]
    done = np.zeros(lo.shape, dtype=bool)
    out: list[tuple[Layout, BOOL]] = []
    cand = todo & (hi - lo >= 2)
    if not cand.any():
        return done, out
    for g in _groups(hc):
        good = np.zeros(n_flat, dtype=bool)
        if g.layout.zero_threshold != g.layout.zero_threshold:
            continue  # a NaN threshold: ``detect_reset`` takes its general way there
        bad = g.hint == GAUGE
        if g.r.shape[1] > 3:
            bad |= (g.r[:, 3:] < 0).any(axis=1)
        good[g.at] = ~bad
        reset = np.zeros(n_flat, dtype=bool)
        if len(g.at) > 1:
            prev, cur = g.r[:-1], g.r[1:]
            down = cur[:, 0] < prev[:, 0]
            if g.layout.schema != CUSTOM_BUCKETS_SCHEMA:
                down |= cur[:, 1] < prev[:, 1]
            if g.r.shape[1] > 3:
                down |= (cur[:, 3:] < prev[:, 3:]).any(axis=1)
            h1 = g.hint[1:]
            reset[g.at[1:]] = (h1 == COUNTER_RESET) | ((h1 != NOT_COUNTER_RESET) & down)
        cg = np.zeros(n_flat + 1, dtype=np.int64)
        np.cumsum(good, out=cg[1:])
        cr = np.zeros(n_flat + 1, dtype=np.int64)
        np.cumsum(reset, out=cr[1:])
        a = np.where(cand, lo, 0)
        b = np.where(cand, hi, 1)
        clean = cand & (cg[b] - cg[a] == b - a) & (cr[b] - cr[np.minimum(a + 1, b)] == 0)
        if not clean.any():
            continue
        js, is_ = np.nonzero(clean)
        first, last = lo[js, is_], hi[js, is_] - 1
        loc = np.empty(n_flat, dtype=np.int64)
        loc[g.at] = np.arange(len(g.at), dtype=np.int64)
        factor = _extrapolation(t, first, last, step_times[is_], range_ms, is_rate)
        diff = g.r[loc[last]] - g.r[loc[first]]
        keep = diff[:, 3:] != 0  # ``compact`` before ``mul``, as histrange does
        scaled = diff * factor[:, None]
        lay = g.layout
        res = Layout(lay.schema, lay.zero_threshold, lay.custom_values, lay.pos, lay.neg, scaled,
                     np.full(len(js), GAUGE, dtype=np.int8), None if bool(keep.all()) else keep)
        done |= clean
        out.append((res, clean))
    return done, out


def _sequential_sums(r: F64, starts: I64) -> F64:
    """The sum of each segment of rows (``starts``), added one row after the other from its
    first, as ``FloatHistogram.add`` does (``np.add.reduceat`` adds in another order and
    differs in the last bits): the k-th rows of every segment are added in one step."""
    acc: F64 = r[starts].copy()
    seg = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, r.shape[0]]))
    rank = np.arange(r.shape[0]) - starts[seg]
    if r.shape[0] == len(starts):
        return acc
    order = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[order], np.arange(1, int(rank.max()) + 2))
    for a, b in itertools.pairwise(bounds.tolist()):
        idx = order[a:b]
        acc[seg[idx]] += r[idx]
    return acc


def group_sums(hc: HistCols, hm: BOOL, gidx: I64,
               g: int) -> dict[tuple[int, int], tuple[FloatHistogram, int]]:
    """``sum`` of the histogram points ``hm`` (series, steps) of each group (``gidx``: the
    group of each series) and step, where they are all of one kind (schema, zero threshold,
    custom bounds): ``{(group, step): (sum, how many)}``.  Added in series order on the
    union of their buckets, as ``sum_dense`` and the one-by-one ``add`` do (bit for bit);
    the cells mixing kinds are left out (the caller adds their objects, reconciling)."""
    out: dict[tuple[int, int], tuple[FloatHistogram, int]] = {}
    rs_all, js_all = np.nonzero(hm)
    if not rs_all.size:
        return out
    n = hm.shape[1]
    lid_all = hc.lid[rs_all, js_all]
    cell_all = gidx[rs_all] * n + js_all
    total = np.bincount(cell_all, minlength=g * n)
    kinds: dict[tuple[object, ...], list[int]] = {}
    for li in np.unique(lid_all).tolist():
        kinds.setdefault(hc.layouts[li].kind, []).append(li)
    for members in kinds.values():
        mine = np.isin(lid_all, members) if len(kinds) > 1 else np.ones(len(lid_all), dtype=bool)
        cnt = np.bincount(cell_all[mine], minlength=g * n)
        whole = (cnt == total) & (total > 0)
        sel = mine & whole[cell_all]
        if not sel.any():
            continue
        rs, js, cells = rs_all[sel], js_all[sel], cell_all[sel]
        order = np.lexsort((rs, cells))  # by cell, then series order within it
        rs, js, cells = rs[order], js[order], cells[order]
        flat = HistCols(hc.lid[rs, js], hc.row[rs, js], hc.layouts)
        (grp,) = _groups(flat)
        starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
        sums = _sequential_sums(grp.r, starts)
        hint = grp.hint
        h_min = np.minimum.reduceat(hint, starts)
        h_max = np.maximum.reduceat(hint, starts)
        gauge = np.logical_or.reduceat(hint == GAUGE, starts)
        hints = np.where(gauge, GAUGE, np.where(h_min == h_max, h_min, UNKNOWN)).tolist()
        sizes = np.diff(np.r_[starts, len(cells)]).tolist()
        lay = grp.layout
        pos, neg = lay.pos, lay.neg
        np_ = len(pos)
        schema, thr, cv = lay.schema, lay.zero_threshold, lay.custom_values
        for c, row, hint_c, size in zip(cells[starts].tolist(), sums.tolist(), hints, sizes, strict=True):
            h = FloatHistogram(schema, row[0], row[2], thr, row[1],
                               {i: x for i, x in zip(pos, row[3 : 3 + np_], strict=True) if x != 0},
                               {i: x for i, x in zip(neg, row[3 + np_ :], strict=True) if x != 0},
                               list(cv), hint_c)
            out[(c // n, c % n)] = (h, size)
    return out
