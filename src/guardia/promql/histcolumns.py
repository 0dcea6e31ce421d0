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

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from guardia.model.histogram import COUNTER_RESET, GAUGE, NOT_COUNTER_RESET, FloatHistogram, adjust_hint
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
    first_t, last_t = t[first], t[last]
    end = step_times[idx]
    start = end - range_ms
    sampled = (last_t - first_t) / 1000
    avg = sampled / (last - first)
    to_start = (first_t - start) / 1000
    to_end = (end - last_t) / 1000
    threshold = avg * 1.1
    to_start = np.where(to_start >= threshold, avg / 2, to_start)
    to_end = np.where(to_end >= threshold, avg / 2, to_end)
    factor = (sampled + to_start + to_end) / sampled
    if is_rate:
        factor = factor / (range_ms / 1000)
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
