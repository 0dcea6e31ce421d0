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


# Rows of a grouped sum's reordered copy made at once: a few MB, so the copy reuses freed
# heap memory instead of mapping (and faulting in) a fresh array as large as the input.
_CHUNK_CELLS = 1 << 18


def grouped_sum(
    values: F64, present: np.ndarray, gidx: np.ndarray, ngroups: int, order: np.ndarray | None = None
) -> F64:
    """Per group and step: the sum of present values, as accurate as Prometheus's.

    The fast path is a plain (or, for big groups, pairwise) numpy sum; only cells whose
    error bound is not negligible against the result (cancellation, mixed magnitudes)
    are re-added with Neumaier compensation in series order.  ``order`` is
    ``argsort(gidx, kind="stable")`` when the caller already has it.

    Rows are put in group order (and absent points made 0) a chunk of whole groups at a
    time; each group's sum depends on its own rows alone, so the chunks give what one
    reordered copy of the whole input gives, without that copy.
    """
    if order is None:
        order = np.argsort(gidx, kind="stable")
    counts = np.bincount(gidx, minlength=ngroups)
    bounds = np.zeros(ngroups, dtype=np.int64)
    np.cumsum(counts[:-1], out=bounds[1:])
    k, n = values.shape
    s: F64 = np.empty((ngroups, n))
    if k == 0 or n == 0:
        s[...] = 0.0
        return s
    in_order = bool((order[1:] > order[:-1]).all())
    # Absent points count as 0; the engine's vectors mostly hold +0.0 there already
    # (compared as bits: -0.0 and NaN are not 0 here), and then need no masking.
    clean = bool(present.all()) or not bool(np.any(values.view(np.uint64), where=~present))
    # Without negative terms the sum of magnitudes is the sum itself (NaN fails the test).
    nonneg = bool(np.min(values, where=present, initial=0.0) >= 0)
    factor = counts.astype(np.float64)
    big = counts >= _PAIRWISE_FROM
    factor[big] = np.log2(counts[big]) + 1
    g0 = 0
    per_chunk = max(1, _CHUNK_CELLS // n)
    while g0 < ngroups:
        # whole groups, at least one, up to the chunk's rows
        r0 = int(bounds[g0])
        g1 = max(g0 + 1, int(np.searchsorted(bounds, r0 + per_chunk, side="right")))
        g1 = min(g1, ngroups)
        r1 = int(bounds[g1 - 1] + counts[g1 - 1])
        if in_order:
            blk = values[r0:r1] if clean else np.where(present[r0:r1], values[r0:r1], 0.0)
        else:
            rows = order[r0:r1]
            blk = values[rows]
            if not clean:
                np.copyto(blk, 0.0, where=~present[rows])
        _sum_chunk(blk, bounds[g0:g1] - r0, counts[g0:g1], big[g0:g1], factor[g0:g1], nonneg, s[g0:g1])
        g0 = g1
    return s


def _sum_chunk(blk: F64, bounds: np.ndarray, counts: np.ndarray, big: np.ndarray, factor: F64, nonneg: bool,
               out: F64) -> None:
    """``grouped_sum`` of whole groups whose rows ``blk`` holds in group order."""
    n = blk.shape[1]
    with np.errstate(all="ignore"):
        if not big.all():
            out[...] = np.add.reduceat(blk, bounds, axis=0)
        for g in np.flatnonzero(big).tolist():
            a = int(bounds[g])
            out[g] = _pairwise_rows(blk[a : a + int(counts[g])])
        mag = out if nonneg else np.add.reduceat(np.abs(blk), bounds, axis=0)
        risky = np.isfinite(mag) & (factor[:, None] * _EPS * mag > REL_TOL * np.abs(out))
    rg, rc = np.nonzero(risky)
    if len(rg):
        out[rg, rc] = segment_sums(blk.ravel(), bounds[rg] * n + rc, counts[rg], stride=n)


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
