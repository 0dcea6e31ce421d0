"""Vectorised window bounds over many series at once.

All series' samples are concatenated in one sorted-per-series array.  Prefixing each
timestamp with its series number (``series * span + t``) makes the whole array globally
sorted, so one ``searchsorted`` finds the window bounds of every series at every step.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from guardia.promql.values import F64, I64

# Cells per block of series in the window functions: each temporary is ~512 KiB, so
# blocks stay in cache and reuse freed heap memory instead of faulting in fresh pages.
_BLOCK_CELLS = 1 << 16


def row_blocks(k: int, n: int) -> list[slice]:
    """Slices of ``k`` series in blocks of about ``_BLOCK_CELLS`` (series x steps) cells."""
    rows = max(1, _BLOCK_CELLS // max(n, 1))
    return [slice(a, min(a + rows, k)) for a in range(0, k, rows)]


def filter_flat(t: I64, v: F64, starts: I64, keep: np.ndarray) -> tuple[I64, F64, I64]:
    """Drop samples where ``keep`` is False, keeping per-series boundaries right."""
    if keep.all():
        return t, v, starts
    cum = np.zeros(len(keep) + 1, dtype=np.int64)
    np.cumsum(keep, out=cum[1:])
    return t[keep], v[keep], cum[starts]


# Up to this many query times, counting samples per series beats building sort keys.
FEW_STEPS = 4


def _count_search(t: I64, starts: I64, q: I64, side: Literal["left", "right"]) -> I64:
    """``search`` for a few query times shared by all series (instant queries).

    Samples are sorted within each series, so the index past the samples at or before
    ``q`` is the series' start plus how many of its samples are: one comparison over the
    flat array and one ``reduceat`` per time, no per-sample keys.
    """
    k = len(starts) - 1
    out = np.empty((k, len(q)), dtype=np.int64)
    # A trailing zero makes every start a valid reduceat index, including empty series
    # at the end; empty series are masked (reduceat gives them one element, not zero).
    hit = np.zeros(len(t) + 1, dtype=np.uint8)
    empty = starts[1:] == starts[:-1]
    for i, qi in enumerate(q.tolist()):
        if side == "right":
            np.less_equal(t, qi, out=hit[:-1].view(np.bool_))
        else:
            np.less(t, qi, out=hit[:-1].view(np.bool_))
        cnt = np.add.reduceat(hit, starts[:-1], dtype=np.int64)
        cnt[empty] = 0
        cnt += starts[:-1]
        out[:, i] = cnt
    return out


def search(t: I64, starts: I64, q: I64, side: Literal["left", "right"] = "right") -> I64:
    """Per-series ``searchsorted``: result ``[j, i]`` indexes the flat array for series ``j``.

    ``q`` is either ``(n,)`` (the same query times for all series) or ``(k, n)``.
    """
    k = len(starts) - 1
    q2 = np.broadcast_to(q, (k, q.shape[-1])) if q.ndim == 1 else q
    if k == 0:
        return np.zeros((0, q.shape[-1]), dtype=np.int64)
    if len(t) == 0:
        return np.broadcast_to(starts[:-1, None], q2.shape).copy()
    if q.ndim == 1 and q.shape[0] <= FEW_STEPS:
        return _count_search(t, starts, q, side)
    base = min(int(t.min()), int(q2.min()))
    span = max(int(t.max()), int(q2.max())) - base + 1
    if span * (k + 1) < 2**62:
        seg = np.repeat(np.arange(k, dtype=np.int64), np.diff(starts))
        keys = seg * span + (t - base)
        qk = np.arange(k, dtype=np.int64)[:, None] * span + (q2 - base)
        out: I64 = np.searchsorted(keys, qk.ravel(), side=side).reshape(q2.shape).astype(np.int64)
        return out
    res = np.empty(q2.shape, dtype=np.int64)
    for j in range(k):
        a, b = int(starts[j]), int(starts[j + 1])
        res[j] = a + np.searchsorted(t[a:b], q2[j], side=side)
    return res
