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
from guardia.model.matchers import Matcher
from guardia.model.samples import stale_mask
from guardia.promql.rangefuncs import extrapolate
from guardia.promql.windows import filter_flat, row_blocks
from guardia.storage.interface import SeriesSet

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
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

    def left(self, k0: int, k1: int) -> F64:
        """The left edges of intervals ``k0 .. k1 - 1`` (ms, as floats: exact below 2**53)."""
        return (self.origin + np.arange(k0, k1, dtype=np.int64) * self.step).astype(np.float64)

    @property
    def offset_dtype(self) -> type[np.signedinteger]:  # type: ignore[type-arg]
        """Sample times are kept as offsets from their interval's left edge: 4 bytes a cell
        for any interval up to 24 days."""
        return np.int32 if self.step < 2**31 else np.int64


@dataclass(slots=True)
class Cells:
    """Per series (rows) and interval (columns): what ``rate()`` needs of its samples.

    Counts and times are 4-byte integers (times as offsets in ``(0, step]`` from the
    interval's left edge), and the reset losses exist only once a reset was seen: a
    week of 24,000 series is 9 M cells, and every byte a cell carries is 9 MB of memory
    faulted in fresh (the largest cost after decoding, on a virtual machine)."""

    labels: list[Labels]
    grid: Grid
    n: npt.NDArray[np.signedinteger]  # type: ignore[type-arg]
    first_dt: npt.NDArray[np.signedinteger]  # type: ignore[type-arg]
    last_dt: npt.NDArray[np.signedinteger]  # type: ignore[type-arg]
    first_v: F64
    last_v: F64
    lost: F64 | None  # resets between two samples of the interval: the value before each drop
    lost_edge: F64 | None  # a reset between the interval's first sample and the sample before it

    def first_t(self, rows: slice, k0: int, k1: int) -> F64:
        """First sample times (ms, floats) of intervals ``k0 .. k1 - 1`` of ``rows``."""
        out = self.first_dt[rows, k0:k1].astype(np.float64)
        out += self.grid.left(k0, k1)
        return out

    def last_t(self, rows: slice, k0: int, k1: int) -> F64:
        out = self.last_dt[rows, k0:k1].astype(np.float64)
        out += self.grid.left(k0, k1)
        return out


def _empty(labels: list[Labels], grid: Grid) -> Cells:
    shape = (len(labels), grid.count)
    dt = grid.offset_dtype
    return Cells(labels, grid, np.zeros(shape, dtype=np.int32), np.zeros(shape, dtype=dt),
                 np.zeros(shape, dtype=dt), np.zeros(shape), np.zeros(shape), None, None)


def cells(found: SeriesSet, grid: Grid) -> Cells:
    """Reduce a select over the whole grid (stale markers dropped, as range selectors do)."""
    out = _empty(list(found.labels), grid)
    s = len(out.labels)
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
    dt = t - (g.origin + col * g.step)
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
    out.first_dt.reshape(-1)[view][c] = dt[fi]
    out.last_dt.reshape(-1)[view][c] = dt[li]
    out.first_v.reshape(-1)[view][c] = v[fi]
    out.last_v.reshape(-1)[view][c] = v[li]
    # counter resets: a sample below the one before it in the same series
    drop = np.flatnonzero((v[1:] < v[:-1]) & (sid[1:] == sid[:-1])) + 1
    if drop.size:
        inside = cell[drop] == cell[drop - 1]
        shape = (len(out.labels), k)
        if out.lost is None:
            out.lost = np.zeros(shape)
        if out.lost_edge is None:
            out.lost_edge = np.zeros(shape)
        out.lost.reshape(-1)[view] = np.bincount(cell[drop[inside]], weights=v[drop[inside] - 1],
                                                 minlength=size)
        out.lost_edge.reshape(-1)[view] = np.bincount(cell[drop[~inside]], weights=v[drop[~inside] - 1],
                                                      minlength=size)


def _every(idx: I64) -> slice | I64:
    """``idx`` as a slice when it is evenly spaced (a regular scrape: every sixth sample
    starts an interval): a strided view copies faster than a gather."""
    if idx.shape[0] > 1:
        d = int(idx[1] - idx[0])
        if d > 0 and bool((np.diff(idx) == d).all()):
            return slice(int(idx[0]), int(idx[-1]) + 1, d)
    return idx


class Stream:
    """Cells built from samples handed over a piece at a time (``select_pieces``): rows of
    some series, each piece after the previous ones of the same series in time.  No array
    of all samples is ever built: for a week of 24,000 series that array alone is 900 MB,
    whose first touch costs more than reducing the samples.

    A piece whose rows share their timestamps (one target's scrapes: nearly all of them)
    fills a block of (its rows) x (its intervals) cells with a few whole-array operations.
    Pieces of one series come in time order, so only a piece's first interval can already
    hold samples (of the piece before it, across a block boundary inside the interval).
    """

    def __init__(self, labels: list[Labels], grid: Grid) -> None:
        self.cells = _empty(labels, grid)
        self.grid = grid
        s = len(labels)
        # each series' latest sample so far: its value and interval (-1: none yet)
        self.prev_v = np.zeros(s)
        self.prev_col = np.full(s, -1, dtype=np.int64)

    @property
    def out(self) -> Cells:
        return self.cells

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
        g, cc = self.grid, self.cells
        col = self._col(row)
        dt = row - (g.origin + col * g.step)
        run = np.flatnonzero(np.diff(col)) + 1
        first = np.concatenate(([0], run))
        last = np.concatenate((run - 1, [col.shape[0] - 1]))
        cs = col[first]
        c0, c1 = int(cs[0]), int(cs[-1]) + 1
        q0 = int(q[0])
        nrows = q.shape[0]
        # the rows of a piece are usually neighbouring series, its intervals a run of
        # neighbours: then the block is a slice (a view), not a gather
        rows_slice = int(q[-1]) - q0 + 1 == nrows and bool((q[1:] > q[:-1]).all())
        rows: slice | I64 = slice(q0, q0 + nrows) if rows_slice else q
        whole = rows_slice and c1 - c0 == cs.shape[0]
        block: tuple[slice | I64, ...] = (rows, slice(c0, c1)) if whole else np.ix_(q, cs)
        # the first interval may hold the samples of this series' previous piece
        held = cc.n[rows, c0] > 0
        if bool(held.any()):
            qh = q[held]
            keep_dt, keep_v = cc.first_dt[qh, c0], cc.first_v[qh, c0]
        cc.n[block] += (last - first + 1).astype(np.int32)
        cc.first_dt[block] = dt[first]
        cc.last_dt[block] = dt[last]
        cc.first_v[block] = vals[:, _every(first)]
        cc.last_v[block] = vals[:, _every(last)]
        if bool(held.any()):
            cc.first_dt[qh, c0] = keep_dt
            cc.first_v[qh, c0] = keep_v
        # resets inside the piece, and between it and each series' sample before it: one
        # comparison over the flat values (the pairs across rows are dropped after), since
        # over the 2-D views it is five times slower, and nearly always finds nothing
        flat = vals.reshape(-1)
        down = flat[1:] < flat[:-1]
        if bool(down.any()):
            at = np.flatnonzero(down) + 1
            width = row.shape[0]
            at = at[at % width != 0]
            r, i = np.divmod(at, width)
            self._lost(q[r], col[i - 1], col[i], flat[at - 1])
        self._edges(q, np.full(nrows, c0, dtype=np.int64), vals[:, 0])
        self.prev_v[rows] = vals[:, -1]
        self.prev_col[rows] = c1 - 1

    def _add_flat(self, q: I64, t: I64, v: F64, starts: I64) -> None:
        g, cc = self.grid, self.cells
        k = g.count
        counts = np.diff(starts)
        sid = np.repeat(q, counts)
        col = self._col(t)
        dt = t - (g.origin + col * g.step)
        cell = sid * k + col  # series-major flat index
        new = np.ones(cell.shape[0], dtype=np.bool_)
        new[1:] = cell[1:] != cell[:-1]
        fi = np.flatnonzero(new)
        li = np.empty_like(fi)
        li[:-1] = fi[1:] - 1
        li[-1] = cell.shape[0] - 1
        c = cell[fi]  # distinct within a piece (rows are distinct series)
        n, ft, lt = cc.n.reshape(-1), cc.first_dt.reshape(-1), cc.last_dt.reshape(-1)
        fv, lv = cc.first_v.reshape(-1), cc.last_v.reshape(-1)
        fresh = n[c] == 0
        ft[c[fresh]] = dt[fi[fresh]]
        fv[c[fresh]] = v[fi[fresh]]
        n[c] += (li - fi + 1).astype(np.int32)
        lt[c] = dt[li]
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
        cc = self.cells
        shape = cc.n.shape
        if cc.lost is None:
            cc.lost = np.zeros(shape)
        if cc.lost_edge is None:
            cc.lost_edge = np.zeros(shape)
        inside = col_before == col
        np.add.at(cc.lost, (q[inside], col[inside]), before[inside])
        np.add.at(cc.lost_edge, (q[~inside], col[~inside]), before[~inside])

    def _edges(self, q: I64, col: I64, first_v: F64) -> None:
        """A piece's first samples against each series' sample before them (earlier pieces)."""
        dropped = (self.prev_col[q] >= 0) & (first_v < self.prev_v[q])
        if not bool(dropped.any()):
            return
        qd = q[dropped]
        self._lost(qd, self.prev_col[qd], col[dropped], self.prev_v[qd])


def extrapolated_rate(first_v: F64, first_t: F64, last_v: F64, last_t: F64, count: I64,
                      lost: F64 | float, start: F64 | float, end: F64 | float,
                      range_ms: int) -> tuple[F64, BOOL]:
    """Prometheus's ``extrapolatedRate`` for a counter's ``rate()``, from a window's first and
    last sample, its sample count and what resets lost in it; the operations in the order
    ``guardia.promql.rangefuncs`` does them (its own ``extrapolate``), so the figures agree
    to the last bits.  ``first_t``, ``last_t`` (ms as floats) and ``count`` are scratch:
    overwritten."""
    ok = count >= 2
    result = last_v - first_v
    result += lost  # 0.0 where no reset was seen: the same +0.0 the zeros added
    extrapolate(result, first_v, first_t, last_t, count, start, end, range_ms, is_counter=True, is_rate=True)
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
    count = n.sum(axis=1, dtype=np.int64)
    has = n > 0
    width = k1 - k0
    kf = np.argmax(has, axis=1)
    kl = width - 1 - np.argmax(has[:, ::-1], axis=1)
    at = np.arange(n.shape[0])
    g = cc.grid
    left0 = g.origin + k0 * g.step
    first_t = cc.first_dt[rows, k0:k1][at, kf].astype(np.float64)
    first_t += (left0 + kf * g.step).astype(np.float64)
    last_t = cc.last_dt[rows, k0:k1][at, kl].astype(np.float64)
    last_t += (left0 + kl * g.step).astype(np.float64)
    lost: F64 | float = 0.0
    if cc.lost is not None and cc.lost_edge is not None:
        edge = cc.lost_edge[rows, k0:k1].copy()
        edge[at, kf] = 0.0  # the sample before the window's first is outside it
        lost = cc.lost[rows, k0:k1].sum(axis=1) + edge.sum(axis=1)
    return extrapolated_rate(cc.first_v[rows, k0:k1][at, kf], first_t, cc.last_v[rows, k0:k1][at, kl],
                             last_t, count, lost, float(start), float(end), end - start)


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
        lost: F64 | float = 0.0 if cc.lost is None else cc.lost[sl]
        rate[rows], ok[rows] = extrapolated_rate(cc.first_v[sl], cc.first_t(rows, k0, k1), cc.last_v[sl],
                                                 cc.last_t(rows, k0, k1), cc.n[sl].astype(np.int64), lost,
                                                 starts_f, ends_f, g.step)
    return ends, rate, ok


class LabelColumns:
    """The values of a few label names for every series, each name read once: grouping
    and matching 24,000 series go through columns of strings and a lookup per distinct
    value, not a label set built or a matcher run per series."""

    def __init__(self, labels: Sequence[Labels]) -> None:
        self.labels = labels
        self._dicts: list[dict[str, str]] | None = None
        self._cols: dict[str, list[str]] = {}

    def column(self, name: str) -> list[str]:
        """``name``'s value in every series ("" where absent, as a matcher sees it)."""
        got = self._cols.get(name)
        if got is None:
            if self._dicts is None:
                self._dicts = [dict(ls) for ls in self.labels]
            got = self._cols[name] = [d.get(name, "") for d in self._dicts]
        return got

    def group_index(self, by: Sequence[str]) -> tuple[list[Labels], I64]:
        """``sum by (by)``'s groups in order of first appearance: their label sets and each
        series' group."""
        keep = set(by)
        names = sorted(keep)
        keys: dict[tuple[str, ...], int] = {}
        gidx = np.fromiter((keys.setdefault(k, len(keys)) for k in zip(*(self.column(n) for n in names),
                                                                          strict=True)) if names
                           else (0 for _ in self.labels), dtype=np.int64, count=len(self.labels))
        groups = [Labels.from_sorted(p for p in zip(names, k, strict=True) if p[1] != "") for k in keys]
        if not names and self.labels:
            groups = [Labels()]
        return groups, gidx

    def matching(self, ms: Sequence[Matcher]) -> BOOL:
        """Which series every matcher of ``ms`` selects (each distinct value tried once)."""
        out = np.ones(len(self.labels), dtype=np.bool_)
        for m in ms:
            col = self.column(m.name)
            seen: dict[str, bool] = {}
            hit = np.fromiter((seen[v] if v in seen else seen.setdefault(v, m.matches(v)) for v in col),
                              dtype=np.bool_, count=len(col))
            out &= hit
        return out
