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
from guardia.promql.windows import filter_flat
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


def extrapolated_rate(first_v: F64, first_t: I64, last_v: F64, last_t: I64, count: I64, lost: F64,
                      start: F64 | float, end: F64 | float, range_ms: int) -> tuple[F64, BOOL]:
    """Prometheus's ``extrapolatedRate`` for a counter's ``rate()``, from a window's first and
    last sample, its sample count and what resets lost in it; the operations in the order
    ``guardia.promql.rangefuncs`` does them, so the figures agree to the last bits."""
    ok = count >= 2
    result = last_v - first_v
    result = result + lost
    ft = first_t.astype(np.float64)
    lt = last_t.astype(np.float64)
    with np.errstate(all="ignore"):
        sampled = (lt - ft) * 1e-3
        dur_start = (ft - start) * 1e-3
        dur_end = (end - lt) * 1e-3
        c = np.maximum(count - 1, 1)
        half = sampled / c
        threshold = half * 1.1
        far_start = dur_start >= threshold
        far_end = dur_end >= threshold
        half = half * 0.5
        dur_start = np.where(far_start, half, dur_start)
        to_zero = first_v / result
        to_zero = to_zero * sampled
        use_zero = (result > 0) & (first_v >= 0) & (to_zero < dur_start)
        dur_start = np.where(use_zero, to_zero, dur_start)
        dur_end = np.where(far_end, half, dur_end)
        factor = dur_start + dur_end
        factor = factor + sampled
        factor = factor / sampled
        factor = factor / (range_ms / 1000.0)
        rate: F64 = result * factor
    return rate, ok


def window_rate(cc: Cells, start: int, end: int) -> tuple[F64, BOOL] | None:
    """``rate(sel[end - start])`` at ``end`` for every series; None off the grid."""
    span = cc.grid.index(start, end)
    if span is None:
        return None
    k0, k1 = span
    n = cc.n[:, k0:k1]
    count = n.sum(axis=1)
    has = n > 0
    width = k1 - k0
    kf = np.argmax(has, axis=1)
    kl = width - 1 - np.argmax(has[:, ::-1], axis=1)
    rows = np.arange(n.shape[0])
    edge = cc.lost_edge[:, k0:k1].copy()
    edge[rows, kf] = 0.0  # the sample before the window's first is outside it
    lost = cc.lost[:, k0:k1].sum(axis=1) + edge.sum(axis=1)
    return extrapolated_rate(cc.first_v[:, k0:k1][rows, kf], cc.first_t[:, k0:k1][rows, kf],
                             cc.last_v[:, k0:k1][rows, kl], cc.last_t[:, k0:k1][rows, kl], count, lost,
                             float(start), float(end), end - start)


def interval_rates(cc: Cells, start: int, end: int) -> tuple[I64, F64, BOOL] | None:
    """``rate(sel[step])`` every step over ``(start, end]``: (step times, rates, present)."""
    span = cc.grid.index(start, end)
    if span is None:
        return None
    k0, k1 = span
    g = cc.grid
    ends = g.origin + (np.arange(k0, k1, dtype=np.int64) + 1) * g.step
    sl = (slice(None), slice(k0, k1))
    rate, ok = extrapolated_rate(cc.first_v[sl], cc.first_t[sl], cc.last_v[sl], cc.last_t[sl], cc.n[sl],
                                 cc.lost[sl], (ends - g.step).astype(np.float64)[None, :],
                                 ends.astype(np.float64)[None, :], g.step)
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
