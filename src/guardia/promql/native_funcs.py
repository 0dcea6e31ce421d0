"""Functions of native histogram points: quantile, fraction, count, sum, avg, stddev, stdvar.

Each works on one histogram at a time, as Prometheus's ``HistogramQuantile``,
``HistogramFraction`` and ``funcHistogramStdDev/StdVar`` do: exponential buckets are
interpolated on a logarithmic scale, custom buckets and the zero bucket linearly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from guardia.model.histogram import Bucket, FloatHistogram
from guardia.promql.dedupe import drop_name
from guardia.promql.kahan import kahan_inc_scalar
from guardia.promql.values import F64, Vector


def quantile(q: float, h: FloatHistogram) -> float:
    """The ``q`` quantile of one histogram."""
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if h.count == 0 or q != q:
        return math.nan
    forward = h.sum != h.sum or q < 0.5
    buckets = list(h.all_buckets())
    if forward:
        rank = q * h.count
    else:
        buckets.reverse()
        rank = (1 - q) * h.count
    count = 0.0
    bucket: Bucket | None = None
    for b in buckets:
        bucket = b
        if b.count == 0:
            continue
        count += b.count
        if count >= rank:
            break
    if bucket is None:
        return math.nan
    lower, upper = bucket.lower, bucket.upper
    if not h.uses_custom_buckets and lower < 0 < upper:
        if not h.negative and h.positive:
            lower = 0.0
        elif not h.positive and h.negative:
            upper = 0.0
    elif h.uses_custom_buckets:
        if lower == -math.inf:
            if upper <= 0:
                return upper
            lower = 0.0
        elif upper == math.inf:
            return lower
    count = min(count, h.count)
    if count < rank:
        return upper
    rank = rank - (count - bucket.count) if forward else count - rank
    fraction = rank / bucket.count
    if h.uses_custom_buckets or (lower <= 0 <= upper):
        return lower + (upper - lower) * fraction
    log_lo, log_hi = math.log2(abs(lower)), math.log2(abs(upper))
    if lower > 0:
        return float(2 ** (log_lo + (log_hi - log_lo) * fraction))
    return float(-(2 ** (log_hi + (log_lo - log_hi) * (1 - fraction))))


def fraction(lower: float, upper: float, h: FloatHistogram) -> float:
    """The share of observations between ``lower`` and ``upper``."""
    if h.count == 0 or lower != lower or upper != upper:
        return math.nan
    if lower >= upper:
        return 0.0
    rank = lower_rank = upper_rank = 0.0
    lower_set = upper_set = False
    for b in h.all_buckets():
        lo, hi = b.lower, b.upper
        zero = False
        if not h.uses_custom_buckets and lo <= 0 <= hi:
            zero = True
            if not h.negative and h.positive:
                lo = 0.0
            elif not h.positive and h.negative:
                hi = 0.0
        linear = h.uses_custom_buckets or zero
        if not lower_set and lo >= lower:
            lower_rank, lower_set = rank, True
        if not upper_set and lo >= upper:
            upper_rank, upper_set = rank, True
        if lower_set and upper_set:
            break
        if not lower_set and lo < lower < hi:
            lower_rank, lower_set = rank + b.count * _within(lower, lo, hi, linear), True
        if not upper_set and lo < upper < hi:
            upper_rank, upper_set = rank + b.count * _within(upper, lo, hi, linear), True
        if lower_set and upper_set:
            break
        rank += b.count
    if not lower_set or lower_rank > h.count:
        lower_rank = h.count
    if not upper_set or upper_rank > h.count:
        upper_rank = h.count
    return (upper_rank - lower_rank) / h.count


def _within(v: float, lo: float, hi: float, linear: bool) -> float:
    """How far into the bucket ``(lo, hi]`` the value ``v`` lies, as a share of its
    observations: linearly, or on a logarithmic scale for exponential buckets."""
    if linear:
        return (v - lo) / (hi - lo)
    log_lo, log_hi, log_v = math.log2(abs(lo)), math.log2(abs(hi)), math.log2(abs(v))
    if v > 0:
        return (log_v - log_lo) / (log_hi - log_lo)
    return 1 - (log_v - log_hi) / (log_lo - log_hi)


def stdvar(h: FloatHistogram) -> float:
    """Variance estimated from the buckets: each bucket's count at its geometric mean
    (arithmetic for custom buckets, zero for the zero bucket)."""
    mean = h.sum / h.count if h.count else math.nan
    var = c = 0.0
    for b in h.all_buckets():
        if b.count == 0:
            continue
        if h.uses_custom_buckets:
            val = (b.upper + b.lower) / 2.0
        elif b.lower <= 0 <= b.upper:
            val = 0.0
        else:
            val = math.sqrt(b.upper * b.lower)
            if b.upper < 0:
                val = -val
        d = val - mean
        var, c = kahan_inc_scalar(b.count * d * d, var, c)
    var += c
    return var / h.count if h.count else math.nan


SCALARS: dict[str, Callable[[FloatHistogram], float]] = {
    "histogram_count": lambda h: h.count,
    "histogram_sum": lambda h: h.sum,
    "histogram_avg": lambda h: h.sum / h.count if h.count else math.nan,
    "histogram_stdvar": stdvar,
    "histogram_stddev": lambda h: math.sqrt(stdvar(h)),
}


def per_point(vec: Vector, fn: Callable[[FloatHistogram, int], float]) -> Vector:
    """A float for every histogram point (``fn(histogram, step)``); floats are dropped."""
    hm = vec.hist_mask()
    values: F64 = np.zeros(vec.values.shape)
    hs = vec.hists
    if hs is not None:
        for i, j in zip(*np.nonzero(hm), strict=True):
            values[i, j] = fn(hs[i, j], int(j))
    return Vector(drop_name(vec.labels), values, hm).compact()
