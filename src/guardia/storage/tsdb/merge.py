"""Assemble per-series sample arrays from many sources, sorted and without duplicates.

A query sees one series spread over several places: blocks, closed head pages, the open
chunk, out-of-order buffers.  Each source hands over *fragments*: for some query series
(``qidx``) a number of samples each (``counts``), concatenated.  Fragments are scattered
straight into one flat output (series after series) with computed destinations, so the
cost is a few numpy calls per source, not per series.  Sources normally arrive in time
order; when they overlap (out-of-order data, backfilled blocks) the result is re-sorted
and duplicate timestamps keep the first source's sample.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]


class Fragment:
    """Rows of samples; each row strictly increasing in time (every source stores them so).

    ``qidx``: positions of the series in the query's series list, one per row; ``counts``:
    samples per row.  When every row has the same timestamps (one target's scrapes) a
    source may pass just that ``row``; ``ts`` is then only built if a slow path needs it.
    """

    __slots__ = ("_ts", "counts", "qidx", "row", "vs")

    def __init__(self, qidx: I64, counts: I64, ts: I64 | None, vs: F64, row: I64 | None = None) -> None:
        if ts is None and row is None:
            raise ValueError("a fragment needs timestamps or a shared row")
        self.qidx = qidx
        self.counts = counts
        self._ts = ts
        self.vs = vs
        self.row = row

    @property
    def ts(self) -> I64:
        if self._ts is None:
            assert self.row is not None
            self._ts = np.tile(self.row, self.counts.shape[0])
        return self._ts


def excl_cumsum(c: npt.NDArray[np.int64] | I32) -> I64:
    out = np.zeros(c.shape[0], dtype=np.int64)
    if c.shape[0] > 1:
        np.cumsum(c[:-1], out=out[1:])
    return out


def gather_rows(starts: I64, counts: I64, rows: I64) -> tuple[I64, I64]:
    """Flat indices of the given rows of a row-concatenated array, and their counts."""
    c = counts[rows]
    total = int(c.sum())
    idx = np.repeat(starts[rows] - excl_cumsum(c), c) + np.arange(total, dtype=np.int64)
    return idx, c


def assemble(m: int, frags: list[Fragment], mint: int, maxt: int) -> tuple[I64, I64, F64]:
    """Per-series (counts, ts, vs) for ``m`` query series from fragments in time order."""
    frags = [g for g in (trim(f, mint, maxt) for f in frags) if g.counts.shape[0]]
    grid = _assemble_grid(m, frags)
    if grid is not None:
        return grid
    return _assemble_scatter(m, frags, mint, maxt)


def trim(f: Fragment, mint: int, maxt: int) -> Fragment:
    """The fragment without samples outside [mint, maxt], and without emptied rows."""
    row = f.row
    if row is not None and row.shape[0] and f.counts.shape[0]:  # noqa: SIM102
        if int(row[0]) >= mint and int(row[-1]) <= maxt:
            return f
    if not f.ts.shape[0]:
        return Fragment(f.qidx[:0], f.counts[:0], f.ts, f.vs)
    starts = excl_cumsum(f.counts)
    # Rows are sorted: their first and last samples bound the fragment.
    if (
        bool((f.counts > 0).all())
        and int(f.ts[starts].min()) >= mint
        and int(f.ts[starts + f.counts - 1].max()) <= maxt
    ):
        return f
    keep = (f.ts >= mint) & (f.ts <= maxt)
    cs = np.zeros(keep.shape[0] + 1, dtype=np.int64)
    np.cumsum(keep, out=cs[1:])
    counts = cs[starts + f.counts] - cs[starts]
    rows = counts > 0
    return Fragment(f.qidx[rows], counts[rows], f.ts[keep], f.vs[keep])


def _assemble_grid(m: int, frags: list[Fragment]) -> tuple[I64, I64, F64] | None:
    """The common case, copied as blocks of a (series × samples) matrix; None if it isn't.

    It applies when every fragment has equally long rows, lands at the same position in
    each of its series, follows the previous fragment of each series in time, and every
    series ends up with the same number of samples (one scrape interval, as a dashboard
    query over many targets): then no per-sample destination has to be computed.
    """
    cursor = np.zeros(m, dtype=np.int64)
    last = np.full(m, np.iinfo(np.int64).min, dtype=np.int64)
    plan: list[tuple[Fragment, int, int]] = []
    for f in frags:
        c = int(f.counts[0])
        if bool((f.counts != c).any()) or _has_dups(f.qidx):
            return None
        cur = cursor[f.qidx]
        c0 = int(cur[0])
        if bool((cur != c0).any()):
            return None
        if f.row is not None:
            first_t: I64 | int = int(f.row[0])
            last_t: I64 | int = int(f.row[-1])
        else:
            mat = f.ts.reshape(-1, c)
            first_t, last_t = mat[:, 0], mat[:, -1]
        if bool((first_t <= last[f.qidx]).any()):
            return None  # overlapping or out of order: sort and dedupe instead
        last[f.qidx] = last_t
        cursor[f.qidx] = c0 + c
        plan.append((f, c0, c))
    present = cursor > 0
    width = int(cursor.max()) if m else 0
    if bool((cursor[present] != width).any()):
        return None
    rowpos = np.cumsum(present) - 1
    p = int(present.sum())
    out_t = np.empty((p, width), dtype=np.int64)
    out_v = np.empty((p, width), dtype=np.float64)
    for f, c0, c in plan:
        rows = rowpos[f.qidx]
        r0 = int(rows[0])
        # A slice only for rows in ascending order: a fragment remapped to another series
        # order (block writing) may hold a permutation of a contiguous range.
        contiguous = int(rows[-1]) - r0 + 1 == rows.shape[0] and bool((rows[1:] > rows[:-1]).all())
        sel: slice | I64 = slice(r0, r0 + rows.shape[0]) if contiguous else rows
        out_t[sel, c0 : c0 + c] = f.row if f.row is not None else f.ts.reshape(-1, c)
        out_v[sel, c0 : c0 + c] = f.vs.reshape(-1, c)
    counts = np.where(present, width, 0).astype(np.int64)
    return counts, out_t.ravel(), out_v.ravel()


def _assemble_scatter(m: int, frags: list[Fragment], mint: int, maxt: int) -> tuple[I64, I64, F64]:
    """The general case: per-sample destinations, then a sort if sources overlap."""
    total = np.zeros(m, dtype=np.int64)
    for f in frags:
        if _has_dups(f.qidx):
            np.add.at(total, f.qidx, f.counts)
        else:
            total[f.qidx] += f.counts
    n = int(total.sum())
    out_t = np.empty(n, dtype=np.int64)
    out_v = np.empty(n, dtype=np.float64)
    start = excl_cumsum(total)
    cursor = start.copy()
    for f in frags:
        if _has_dups(f.qidx):
            # Rare (out-of-order buffers give one row per sample): place row by row.
            for q, c, lo in zip(f.qidx.tolist(), f.counts.tolist(), excl_cumsum(f.counts).tolist(),
                                strict=True):
                d = cursor[q]
                out_t[d : d + c] = f.ts[lo : lo + c]
                out_v[d : d + c] = f.vs[lo : lo + c]
                cursor[q] += c
            continue
        base = cursor[f.qidx]
        dest = np.repeat(base - excl_cumsum(f.counts), f.counts) + np.arange(f.ts.shape[0])
        out_t[dest] = f.ts
        out_v[dest] = f.vs
        cursor[f.qidx] += f.counts
    sid = np.repeat(np.arange(m, dtype=np.int64), total)
    if n > 1:
        same = sid[1:] == sid[:-1]
        if (same & (out_t[1:] <= out_t[:-1])).any():
            order = np.lexsort((out_t, sid))  # stable: first source wins on ties
            sid, out_t, out_v = sid[order], out_t[order], out_v[order]
            dup = np.zeros(n, dtype=np.bool_)
            dup[1:] = (sid[1:] == sid[:-1]) & (out_t[1:] == out_t[:-1])
            if dup.any():
                keep = ~dup
                sid, out_t, out_v = sid[keep], out_t[keep], out_v[keep]
    if n:
        keep = (out_t >= mint) & (out_t <= maxt)
        if not keep.all():
            sid, out_t, out_v = sid[keep], out_t[keep], out_v[keep]
    counts = np.bincount(sid, minlength=m).astype(np.int64)
    return counts, out_t, out_v


def _has_dups(qidx: I64) -> bool:
    """Whether a series appears twice.  Counted rather than sorted: a block's rows come in
    its own order (not the query's), and a sort of every fragment's 16,000 positions
    cost more than copying their samples."""
    if qidx.shape[0] < 2 or bool((qidx[1:] > qidx[:-1]).all()):
        return False
    return bool(np.bincount(qidx).max() > 1)
