"""Counter rates for a whole report from one read per selector.

Every rate a report prints is Prometheus's extrapolated ``rate()`` over a run of whole
intervals of one grid: the window (24 h), the baseline before it (7 d) and each interval of
both (30 m) are all made of the grid's intervals.  PromQL reads the samples again for each
of them, and once more for each quantile and for the error ratio: on 100,000 series that
is a dozen reads of 24,000 series' week.  Here a counter selector is read once, over the
baseline and the window together, and reduced per series and interval to what ``rate()``
needs: the number of samples, the first and last sample, and what counter resets lost
inside the interval and across its left edge.  Any run of intervals then gives the rate
PromQL gives over that range (the same samples, the same extrapolation, sums and
quantiles through the engine's own ``grouped_sum`` and ``histogram_quantile``), so each
figure keeps the PromQL expression it equals as its query; tests compare the two.

Only an in-process store is read this way; over ``--url`` the PromQL goes to the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from guardia.model import Labels
from guardia.model.samples import stale_mask
from guardia.promql.rangefuncs import extrapolate
from guardia.promql.windows import filter_flat, row_blocks
from guardia.storage.interface import SeriesSet

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
BOOL = npt.NDArray[np.bool_]

# series per pass when reducing samples to cells: temporaries stay a few MiB per array
_SERIES_PER_PASS = 1024


@dataclass(frozen=True, slots=True)
class Grid:
    """Intervals ``(origin + k * step, origin + (k + 1) * step]`` for ``k < count``."""

    origin: int
    step: int
    count: int

    def index(self, start: int, end: int) -> tuple[int, int] | None:
        """The intervals making up ``(start, end]``; None when it is not whole intervals."""
        a, b = start - self.origin, end - self.origin
        if a < 0 or b > self.step * self.count or a % self.step or b % self.step or b <= a:
            return None
        return a // self.step, b // self.step


@dataclass(slots=True)
class Cells:
    """Per series (rows) and interval (columns): what ``rate()`` needs of its samples."""

    labels: list[Labels]
    grid: Grid
    n: I64
    first_t: I64
    last_t: I64
    first_v: F64
    last_v: F64
    lost: F64  # resets between two samples of the interval: the value before each drop
    lost_edge: F64  # a reset between the interval's first sample and the sample before it


def cells(found: SeriesSet, grid: Grid) -> Cells:
    """Reduce a select over the whole grid (stale markers dropped, as range selectors do)."""
    labels = list(found.labels)
    s, k = len(labels), grid.count
    shape = (s, k)
    out = Cells(labels, grid, np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64),
                np.zeros(shape, dtype=np.int64), np.zeros(shape), np.zeros(shape), np.zeros(shape),
                np.zeros(shape))
    starts = found.starts
    for a in range(0, s, _SERIES_PER_PASS):
        b = min(s, a + _SERIES_PER_PASS)
        lo, hi = int(starts[a]), int(starts[b])
        t, v, st = filter_flat(found.timestamps[lo:hi], found.values[lo:hi], starts[a : b + 1] - lo,
                               ~stale_mask(found.values[lo:hi]))
        if t.size:
            _reduce(out, a, b, t, v, st)
    return out


def _reduce(out: Cells, a: int, b: int, t: I64, v: F64, starts: I64) -> None:
    g = out.grid
    k = g.count
    rows = b - a
    sid = np.repeat(np.arange(rows, dtype=np.int64), np.diff(starts))
    col = (t - g.origin - 1) // g.step
    if bool((col < 0).any()) or bool((col >= k).any()):
        raise ValueError("samples outside the grid: read exactly its range")
    cell = sid * k + col
    size = rows * k
    n = np.bincount(cell, minlength=size)
    new = np.ones(cell.shape[0], dtype=np.bool_)
    new[1:] = cell[1:] != cell[:-1]
    fi = np.flatnonzero(new)
    li = np.empty_like(fi)
    li[:-1] = fi[1:] - 1
    li[-1] = cell.shape[0] - 1
    c = cell[fi]
    view = slice(a * k, b * k)
    out.n.reshape(-1)[view] = n
    out.first_t.reshape(-1)[view][c] = t[fi]
    out.last_t.reshape(-1)[view][c] = t[li]
    out.first_v.reshape(-1)[view][c] = v[fi]
    out.last_v.reshape(-1)[view][c] = v[li]
    # counter resets: a sample below the one before it in the same series
    drop = np.flatnonzero((v[1:] < v[:-1]) & (sid[1:] == sid[:-1])) + 1
    if drop.size:
        inside = cell[drop] == cell[drop - 1]
        out.lost.reshape(-1)[view] = np.bincount(cell[drop[inside]], weights=v[drop[inside] - 1],
                                                 minlength=size)
        out.lost_edge.reshape(-1)[view] = np.bincount(cell[drop[~inside]], weights=v[drop[~inside] - 1],
                                                      minlength=size)


class Stream:
    """Cells built from samples handed over a piece at a time (``select_pieces``): rows of
    some series, each piece after the previous ones of the same series in time.  No array
    of all samples is ever built: for a week of 24,000 series that array alone is 900 MB,
    whose first touch costs more than reducing the samples.

    The cells are kept interval-major while they fill (a piece writes one interval of
    many neighbouring series at a time: contiguous memory) and handed out as the usual
    (series, interval) views.
    """

    def __init__(self, labels: list[Labels], grid: Grid) -> None:
        self.labels = labels
        self.grid = grid
        s, k = len(labels), grid.count
        self.n = np.zeros((k, s), dtype=np.int64)
        self.first_t = np.zeros((k, s), dtype=np.int64)
        self.last_t = np.zeros((k, s), dtype=np.int64)
        self.first_v = np.zeros((k, s))
        self.last_v = np.zeros((k, s))
        self.lost = np.zeros((k, s))
        self.lost_edge = np.zeros((k, s))
        # each series' latest sample so far: its value and interval (-1: none yet)
        self.prev_v = np.zeros(s)
        self.prev_col = np.full(s, -1, dtype=np.int64)

    @property
    def out(self) -> Cells:
        return Cells(self.labels, self.grid, self.n.T, self.first_t.T, self.last_t.T, self.first_v.T,
                     self.last_v.T, self.lost.T, self.lost_edge.T)

    def add(self, q: I64, counts: I64, t: I64 | None, v: F64, row: I64 | None) -> None:
        """Rows ``q`` (series positions) with ``counts`` samples each: times ``t`` (flat) or
        one ``row`` of times shared by every row; values ``v`` (flat)."""
        stale = stale_mask(v)
        if row is not None and not bool(stale.any()) and row.shape[0]:
            self._add_shared(q, row, v.reshape(q.shape[0], row.shape[0]))
            return
        if t is None:
            assert row is not None
            t = np.tile(row, q.shape[0])
        starts = np.zeros(q.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        t, v, starts = filter_flat(t, v, starts, ~stale)
        keep = np.diff(starts) > 0
        if not bool(keep.any()):
            return
        q, starts = q[keep], np.concatenate((starts[:-1][keep], starts[-1:]))
        self._add_flat(q, t, v, starts)

    def _col(self, t: I64) -> I64:
        g = self.grid
        col: I64 = (t - g.origin - 1) // g.step
        if bool((col < 0).any()) or bool((col >= g.count).any()):
            raise ValueError("samples outside the grid: read exactly its range")
        return col

    def _add_shared(self, q: I64, row: I64, vals: F64) -> None:
        col = self._col(row)
        run = np.flatnonzero(np.diff(col)) + 1
        first = np.concatenate(([0], run))
        last = np.concatenate((run - 1, [col.shape[0] - 1]))
        q0 = int(q[0])
        # the rows of a piece are usually neighbouring series: a slice, not a gather
        rows: slice | I64 = slice(q0, q0 + q.shape[0]) if int(q[-1]) - q0 + 1 == q.shape[0] and bool(
            (q[1:] > q[:-1]).all()) else q
        for a, b in zip(first.tolist(), last.tolist(), strict=True):
            c = int(col[a])
            n = self.n[c]
            fresh = n[rows] == 0
            if bool(fresh.all()):
                self.first_t[c, rows] = row[a]
                self.first_v[c, rows] = vals[:, a]
            else:
                qf = q[fresh]
                self.first_t[c, qf] = row[a]
                self.first_v[c, qf] = vals[fresh, a]
            n[rows] += b - a + 1
            self.last_t[c, rows] = row[b]
            self.last_v[c, rows] = vals[:, b]
        # resets inside the piece, and between it and each series' sample before it
        r, i = np.nonzero(vals[:, 1:] < vals[:, :-1])
        i = i + 1
        self._lost(q[r], col[i - 1], col[i], vals[r, i - 1])
        self._edges(q, np.full(q.shape[0], int(col[0]), dtype=np.int64), vals[:, 0])
        self.prev_v[q] = vals[:, -1]
        self.prev_col[q] = int(col[-1])

    def _add_flat(self, q: I64, t: I64, v: F64, starts: I64) -> None:
        s = len(self.labels)
        counts = np.diff(starts)
        sid = np.repeat(q, counts)
        col = self._col(t)
        cell = col * s + sid  # interval-major flat index
        new = np.ones(cell.shape[0], dtype=np.bool_)
        new[1:] = cell[1:] != cell[:-1]
        fi = np.flatnonzero(new)
        li = np.empty_like(fi)
        li[:-1] = fi[1:] - 1
        li[-1] = cell.shape[0] - 1
        c = cell[fi]  # distinct within a piece (rows are distinct series)
        n, ft, lt = self.n.reshape(-1), self.first_t.reshape(-1), self.last_t.reshape(-1)
        fv, lv = self.first_v.reshape(-1), self.last_v.reshape(-1)
        fresh = n[c] == 0
        ft[c[fresh]] = t[fi[fresh]]
        fv[c[fresh]] = v[fi[fresh]]
        n[c] += li - fi + 1
        lt[c] = t[li]
        lv[c] = v[li]
        drop = np.flatnonzero((v[1:] < v[:-1]) & (sid[1:] == sid[:-1])) + 1
        self._lost(sid[drop], col[drop - 1], col[drop], v[drop - 1])
        self._edges(q, col[starts[:-1]], v[starts[:-1]])
        ends = starts[1:] - 1
        self.prev_v[q] = v[ends]
        self.prev_col[q] = col[ends]

    def _lost(self, q: I64, col_before: I64, col: I64, before: F64) -> None:
        """Drops at sample pairs of series ``q``: inside a cell, or across its left edge."""
        if not q.shape[0]:
            return
        inside = col_before == col
        np.add.at(self.lost, (col[inside], q[inside]), before[inside])
        np.add.at(self.lost_edge, (col[~inside], q[~inside]), before[~inside])

    def _edges(self, q: I64, col: I64, first_v: F64) -> None:
        """A piece's first samples against each series' sample before them (earlier pieces)."""
        dropped = (self.prev_col[q] >= 0) & (first_v < self.prev_v[q])
        if not bool(dropped.any()):
            return
        qd = q[dropped]
        self._lost(qd, self.prev_col[qd], col[dropped], self.prev_v[qd])


def extrapolated_rate(first_v: F64, first_t: I64, last_v: F64, last_t: I64, count: I64, lost: F64,
                      start: F64 | float, end: F64 | float, range_ms: int) -> tuple[F64, BOOL]:
    """Prometheus's ``extrapolatedRate`` for a counter's ``rate()``, from a window's first and
    last sample, its sample count and what resets lost in it; the operations in the order
    ``guardia.promql.rangefuncs`` does them (its own ``extrapolate``), so the figures agree
    to the last bits."""
    ok = count >= 2
    result = last_v - first_v
    result += lost
    extrapolate(result, first_v, first_t.astype(np.float64), last_t.astype(np.float64),
                count.astype(np.int64), start, end, range_ms, is_counter=True, is_rate=True)
    return result, ok


def window_rate(cc: Cells, start: int, end: int) -> tuple[F64, BOOL] | None:
    """``rate(sel[end - start])`` at ``end`` for every series; None off the grid."""
    span = cc.grid.index(start, end)
    if span is None:
        return None
    k0, k1 = span
    s = len(cc.labels)
    rate = np.empty(s)
    ok = np.empty(s, dtype=np.bool_)
    for rows in row_blocks(s, k1 - k0):  # temporaries in reused memory (see interval_rates)
        rate[rows], ok[rows] = _window_rate_rows(cc, rows, k0, k1, start, end)
    return rate, ok


def _window_rate_rows(cc: Cells, rows: slice, k0: int, k1: int, start: int, end: int) -> tuple[F64, BOOL]:
    n = cc.n[rows, k0:k1]
    count = n.sum(axis=1)
    has = n > 0
    width = k1 - k0
    kf = np.argmax(has, axis=1)
    kl = width - 1 - np.argmax(has[:, ::-1], axis=1)
    at = np.arange(n.shape[0])
    edge = cc.lost_edge[rows, k0:k1].copy()
    edge[at, kf] = 0.0  # the sample before the window's first is outside it
    lost = cc.lost[rows, k0:k1].sum(axis=1) + edge.sum(axis=1)
    return extrapolated_rate(cc.first_v[rows, k0:k1][at, kf], cc.first_t[rows, k0:k1][at, kf],
                             cc.last_v[rows, k0:k1][at, kl], cc.last_t[rows, k0:k1][at, kl], count, lost,
                             float(start), float(end), end - start)


def interval_rates(cc: Cells, start: int, end: int) -> tuple[I64, F64, BOOL] | None:
    """``rate(sel[step])`` every step over ``(start, end]``: (step times, rates, present)."""
    span = cc.grid.index(start, end)
    if span is None:
        return None
    k0, k1 = span
    g = cc.grid
    ends = g.origin + (np.arange(k0, k1, dtype=np.int64) + 1) * g.step
    starts_f = (ends - g.step).astype(np.float64)[None, :]
    ends_f = ends.astype(np.float64)[None, :]
    s = len(cc.labels)
    rate = np.empty((s, k1 - k0))
    ok = np.empty((s, k1 - k0), dtype=np.bool_)
    # blocks of series: a dozen temporaries of a few hundred KiB reuse freed memory, where
    # whole-size ones (70 MB each for 24,000 series x 384 intervals) fault in fresh pages
    for rows in row_blocks(s, k1 - k0):
        sl = (rows, slice(k0, k1))
        rate[rows], ok[rows] = extrapolated_rate(cc.first_v[sl], cc.first_t[sl], cc.last_v[sl], cc.last_t[sl],
                                                 cc.n[sl], cc.lost[sl], starts_f, ends_f, g.step)
    return ends, rate, ok


def group_index(labels: Sequence[Labels], by: Sequence[str]) -> tuple[list[Labels], I64]:
    """``sum by (by)``'s groups: their label sets and each series' group."""
    keep = set(by)
    keys: dict[Labels, int] = {}
    gidx = np.empty(len(labels), dtype=np.int64)
    for i, ls in enumerate(labels):
        key = Labels.from_sorted(p for p in ls if p[0] in keep)
        gidx[i] = keys.setdefault(key, len(keys))
    return list(keys), gidx
