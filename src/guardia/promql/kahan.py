"""Compensated (Kahan-Neumaier) summation, as Prometheus uses for sums and means.

Plain float addition loses small terms next to huge ones (``2 + 8 + 1e100 - 1e100`` is 0,
not 10); Prometheus adds with a running compensation term, and so do we, vectorised over
steps and groups: the loop runs over the position of a series inside its group, never
over steps.
"""

from __future__ import annotations

import math

import numpy as np

from guardia.promql.values import F64


def kahan_inc(inc: F64, s: F64, c: F64) -> tuple[F64, F64]:
    """One Neumaier step for arrays: returns the new sum and compensation."""
    with np.errstate(all="ignore"):
        t = s + inc
        big_s = np.abs(s) >= np.abs(inc)
        c2 = np.where(big_s, c + ((s - t) + inc), c + ((inc - t) + s))
        c2 = np.where(np.isinf(t), 0.0, c2)
    return t, c2


def kahan_inc_scalar(inc: float, s: float, c: float) -> tuple[float, float]:
    t = s + inc
    if math.isinf(t):
        return t, 0.0
    if abs(s) >= abs(inc):
        return t, c + ((s - t) + inc)
    return t, c + ((inc - t) + s)


_EPS = 2.3e-16
# Accept a fast sum when its worst-case rounding error is below this share of the result
# (far below the 1e-6 Prometheus's own tests allow); otherwise add with compensation.
REL_TOL = 1e-10
_PAIRWISE_FROM = 32


def grouped_sum(
    values: F64, present: np.ndarray, gidx: np.ndarray, ngroups: int, order: np.ndarray | None = None
) -> F64:
    """Per group and step: the sum of present values, as accurate as Prometheus's.

    The fast path is a plain (or, for big groups, pairwise) numpy sum; only cells whose
    error bound is not negligible against the result (cancellation, mixed magnitudes)
    are re-added with Neumaier compensation in series order.  ``order`` is
    ``argsort(gidx, kind="stable")`` when the caller already has it.
    """
    if order is None:
        order = np.argsort(gidx, kind="stable")
    counts = np.bincount(gidx, minlength=ngroups)
    bounds = np.zeros(ngroups, dtype=np.int64)
    np.cumsum(counts[:-1], out=bounds[1:])
    # Absent points count as 0.  Rows already in group order (one group, or grouped input)
    # need no reordering copy, and where every point is present (a rate over counters
    # that cover the range) no masked copy either; otherwise one copy does both.
    in_order = bool((order[1:] > order[:-1]).all())
    if bool(present.all()):
        srt = values if in_order else values[order]
    elif in_order:
        srt = np.where(present, values, 0.0)
    else:
        srt = values[order]
        np.copyto(srt, 0.0, where=~present[order])
    n = srt.shape[1]
    with np.errstate(all="ignore"):
        factor = counts.astype(np.float64)
        big = counts >= _PAIRWISE_FROM
        s: F64 = np.empty((ngroups, n)) if big.all() else np.add.reduceat(srt, bounds, axis=0)
        for g in np.flatnonzero(big).tolist():
            a = int(bounds[g])
            s[g] = _pairwise_rows(srt[a : a + int(counts[g])])
            factor[g] = np.log2(counts[g]) + 1
        # Without negative terms the sum of magnitudes is the sum itself (NaN fails the test).
        mag = s if srt.size == 0 or bool(srt.min() >= 0) else np.add.reduceat(np.abs(srt), bounds, axis=0)
        risky = np.isfinite(mag) & (factor[:, None] * _EPS * mag > REL_TOL * np.abs(s))
    rg, rc = np.nonzero(risky)
    if len(rg):
        s[rg, rc] = segment_sums(srt.ravel(), bounds[rg] * n + rc, counts[rg], stride=n)
    return s


def _pairwise_rows(block: F64) -> F64:
    """Column sums by adding halves of the rows until one is left: pairwise summation (error
    grows with log2 of the row count) without transposing the block first."""
    while block.shape[0] > 1:
        half = block.shape[0] // 2
        top = block[:half] + block[half : 2 * half]
        if block.shape[0] % 2:
            top[0] += block[-1]
        block = top
    out: F64 = block[0]
    return out


def segment_sums(flat: F64, start: np.ndarray, count: np.ndarray, stride: int = 1) -> F64:
    """Compensated sums of many segments ``flat[start + i*stride]`` for ``i < count``.

    Vectorised over segments: the loop runs over the position inside a segment, with
    segments sorted by length so the active ones are always a prefix.
    """
    order = np.argsort(-count, kind="stable")
    st = np.asarray(start, dtype=np.int64)[order]
    cnt = np.asarray(count, dtype=np.int64)[order]
    s = np.zeros(len(st))
    c = np.zeros(len(st))
    longest = int(cnt[0]) if len(cnt) else 0
    # active[d] = number of segments longer than d
    active = np.searchsorted(-cnt, -np.arange(longest), side="left")
    for d in range(longest):
        k = int(active[d])
        s[:k], c[:k] = kahan_inc(flat[st[:k] + d * stride], s[:k], c[:k])
    out = np.empty(len(st))
    out[order] = s + c
    return out
