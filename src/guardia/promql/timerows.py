"""Series that share their sample times, found once per selector read.

One scrape writes all of a target's series at one timestamp, so a selector over a metric
of many targets reads few distinct rows of times: one per target (one in all when the
targets are scraped together).  Window bounds, "is there a sample within the lookback"
and the time arithmetic of ``rate`` & co. depend on the times alone, so they are worked
out once per distinct row and spread to the series of the row, instead of being computed
for every (series, step) cell.

Rows are matched exactly (every timestamp compared), never by a summary of them, so a
result never depends on whether rows were shared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
IDX = npt.NDArray[np.intp]

# Rows are only worth sharing when each is used by a few series at least: below this
# share the grouping costs more than the per-row arithmetic saves.
MIN_SERIES_PER_ROW = 4


def excl_cumsum(c: I64) -> I64:
    out = np.zeros(len(c), dtype=np.int64)
    np.cumsum(c[:-1], out=out[1:])
    return out


@dataclass(slots=True)
class TimeRows:
    """Which distinct row of sample times each series has.

    ``row[j]`` is series j's row; row r's times are ``times[tstarts[r]:tstarts[r+1]]``
    (the times of series ``rep[r]``).  ``single`` is true when every series has row 0,
    which lets callers broadcast instead of gathering."""

    row: IDX  # (k,)
    rep: IDX  # (m,)
    times: I64
    tstarts: I64  # (m + 1,)

    @property
    def single(self) -> bool:
        return len(self.rep) == 1

    @property
    def sizes(self) -> I64:
        """Series per row."""
        out: I64 = np.bincount(self.row, minlength=len(self.rep)).astype(np.int64)
        return out

    def spread(self, per_row: np.ndarray, rows: slice | None = None) -> np.ndarray:
        """A ``(m, n)`` array of per-row values as ``(k, n)`` for the series ``rows``
        (all by default): a broadcast view when there is one row, a gather otherwise."""
        if self.single:
            k = len(self.row) if rows is None else len(range(*rows.indices(len(self.row))))
            return np.broadcast_to(per_row[:1], (k, per_row.shape[1]))
        sel = self.row if rows is None else self.row[rows]
        return np.take(per_row, sel, axis=0)

    def expand(self, per_row: I64, starts: I64, rows: slice | None = None) -> I64:
        """Per-row offsets (``(m, n)``, relative to each row's first sample) as flat
        indices of the series ``rows``: the series' start plus its row's offset."""
        first = starts[:-1] if rows is None else starts[:-1][rows]
        out: I64 = np.add(first[:, None], self.spread(per_row, rows))
        return out


def find(t: I64, starts: I64) -> TimeRows | None:
    """The distinct rows of sample times of the series ``starts`` cuts ``t`` into, or
    None when they are not shared enough to pay (fewer than ``MIN_SERIES_PER_ROW`` series
    per row on average)."""
    k = len(starts) - 1
    if k < MIN_SERIES_PER_ROW or len(t) == 0:
        return None
    cnt = np.diff(starts)
    a, b = starts[:-1], starts[1:]
    nonempty = cnt > 0
    first = np.where(nonempty, t[np.minimum(a, len(t) - 1)], 0)
    last = np.where(nonempty, t[np.maximum(b - 1, 0)], 0)
    # Candidate rows: equal sample count, first and last time; the first series of each
    # (lexsort is stable) is its representative and every sample of the others is
    # compared with the same position of its row.  Series that differ somewhere are
    # grouped again among themselves, so a few odd ones (a missed scrape) cost a round,
    # not their row's sharing.
    c0 = int(cnt[0])
    # all series equally long (the usual case): the samples are a (series x times) matrix
    grid = t[int(a[0]) : int(a[0]) + k * c0].reshape(k, c0) if bool((cnt == c0).all()) else None
    row = np.empty(k, dtype=np.intp)
    reps: list[IDX] = []
    m = 0
    pending = np.arange(k, dtype=np.intp)
    while len(pending):
        pc, pf, pl = cnt[pending], first[pending], last[pending]
        if bool((pc == pc[0]).all() and (pf == pf[0]).all() and (pl == pl[0]).all()):
            cand = np.zeros(len(pending), dtype=np.intp)
            rep = pending[:1]
        else:
            order = np.lexsort((pl, pf, pc))
            new = np.empty(len(order), dtype=bool)
            new[0] = True
            new[1:] = (pc[order][1:] != pc[order][:-1]) | (pf[order][1:] != pf[order][:-1]) | (
                pl[order][1:] != pl[order][:-1])
            cand = np.empty(len(order), dtype=np.intp)
            cand[order] = np.cumsum(new) - 1
            rep = pending[order[new]]
        if (m + len(rep)) * MIN_SERIES_PER_ROW > k:
            return None
        if grid is not None:
            differs = _differs_in_grid(grid, pending, rep, cand)
        else:
            differs = _differs_flat(t, a, pc, pending, rep[cand])
        row[pending[~differs]] = m + cand[~differs]
        reps.append(rep)
        m += len(rep)
        pending = pending[differs]
    rep = np.concatenate(reps)
    rc = cnt[rep]
    tstarts = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(rc, out=tstarts[1:])
    times = t[np.repeat(a[rep] - tstarts[:-1], rc) + np.arange(int(tstarts[-1]), dtype=np.int64)]
    return TimeRows(row, rep, times, tstarts)


def _differs_in_grid(grid: I64, series: IDX, rep: IDX, cand: IDX) -> npt.NDArray[np.bool_]:
    """Whether each of ``series`` (rows of ``grid``) differs from its candidate's
    representative ``rep[cand]``, compared in cache-sized blocks of series."""
    out = np.empty(len(series), dtype=bool)
    whole = len(series) == grid.shape[0]  # series is every row, in order
    step = max(1, (1 << 15) // max(grid.shape[1], 1))
    for s0 in range(0, len(series), step):
        s1 = min(s0 + step, len(series))
        mine = grid[s0:s1] if whole else grid[series[s0:s1]]
        theirs = grid[rep[0]][None, :] if len(rep) == 1 else grid[rep[cand[s0:s1]]]
        np.any(mine != theirs, axis=1, out=out[s0:s1])
    return out


def _differs_flat(t: I64, a: I64, counts: I64, series: IDX, theirs: IDX) -> npt.NDArray[np.bool_]:
    """``_differs_in_grid`` for series of different lengths: ``theirs`` is each one's
    representative (of the same length)."""
    pos = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(excl_cumsum(counts), counts)
    bad = t[np.repeat(a[series], counts) + pos] != t[np.repeat(a[theirs], counts) + pos]
    out = np.zeros(len(series), dtype=bool)
    if bad.any():
        out[np.repeat(np.arange(len(series)), counts)[bad]] = True
    return out


@dataclass(slots=True)
class RowWindows:
    """Window bounds of a range vector per distinct row of times: ``lo``/``hi`` are
    ``(m, n)`` offsets into each row (the window of step i is ``[lo, hi)`` of the row)."""

    rows: TimeRows
    lo: I64
    hi: I64

    def row_times(self) -> tuple[I64, I64]:
        """The rows' times and where each starts, for gathers by ``tstarts[r] + offset``."""
        return self.rows.times, self.rows.tstarts
