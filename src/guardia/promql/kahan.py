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


def group_ranks(gidx: np.ndarray, ngroups: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """For r = 0, 1, ...: (rows that are the r-th member of their group, their groups)."""
    order = np.argsort(gidx, kind="stable")
    sg = gidx[order]
    counts = np.bincount(sg, minlength=ngroups)
    first = np.zeros(ngroups, dtype=np.int64)
    np.cumsum(counts[:-1], out=first[1:])
    rank = np.arange(len(sg)) - first[sg]
    out = []
    for r in range(int(counts.max()) if len(counts) else 0):
        sel = rank == r
        out.append((order[sel], sg[sel]))
    return out


def grouped_sum(values: F64, present: np.ndarray, gidx: np.ndarray, ngroups: int) -> tuple[F64, F64]:
    """Per group and step: compensated sum of present values (sum, compensation)."""
    n = values.shape[1]
    s = np.zeros((ngroups, n))
    c = np.zeros((ngroups, n))
    for rows, grp in group_ranks(gidx, ngroups):
        inc = np.where(present[rows], values[rows], 0.0)
        s[grp], c[grp] = kahan_inc(inc, s[grp], c[grp])
    return s, c


def window_sum(v: F64) -> tuple[float, float]:
    s = c = 0.0
    for x in v.tolist():
        s, c = kahan_inc_scalar(x, s, c)
    return s, c
