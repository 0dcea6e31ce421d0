"""OTLP histogram points that become native histograms (exponential ones, and explicit-bucket
ones under ``convert_histograms_to_nhcb``), kept as points and turned into ``model.histcols``
columns for the store in one pass.

Translating a point into a ``FloatHistogram`` walked its buckets in Python and the store then
turned the objects back into columns: the native path cost more than the classic one it
replaces.  Here the translation records each point (its series, time and message), and
``columns`` reads all points' buckets at once: the nonzero ones kept, exponential indexes
shifted down to schema 8 (``(offset + i) >> down``, plus one: OTLP bucket ``i`` is
Prometheus bucket ``i + 1``) with merged buckets summed, and the points grouped by layout as
``HistCols.from_objects`` groups the objects; positions are in the order the receiver has
always appended them (by series in first-seen order, then by time).  ``objects`` builds the
``FloatHistogram``s the translation used to, for readers that want them, and ``columns``
gives None when it could differ from them (bucket totals at or above 2**53, where the order
of a merge's additions could show), so the receiver then appends the objects.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from guardia.model.histcols import HistCols
from guardia.model.histogram import CUSTOM_BUCKETS_SCHEMA, FloatHistogram
from guardia.model.labels import Labels
from guardia.storage.remote.histcolumns import LayoutKey, gather_layouts

I64 = npt.NDArray[np.int64]
_F64 = struct.Struct("<d")
_EXACT = 2**53


@dataclass(slots=True)
class HistogramPoints:
    """Points to store as native histograms, in translation order: (series, ms time, the
    OTLP data point, schema, how many scale steps to merge down)."""

    points: list[tuple[Labels, int, Any, int, int]] = field(default_factory=list)

    def add_exponential(self, labels: Labels, t: int, p: Any, scale: int, down: int) -> None:
        self.points.append((labels, t, p, scale - down, down))

    def add_nhcb(self, labels: Labels, t: int, p: Any) -> None:
        self.points.append((labels, t, p, CUSTOM_BUCKETS_SCHEMA, 0))

    def __len__(self) -> int:
        return len(self.points)

    def _order(self) -> list[int]:
        """Points in append order: by series (first seen first), then by time, stably."""
        rank: dict[Labels, int] = {}
        keys = [(rank.setdefault(ls, len(rank)), t) for ls, t, _, _, _ in self.points]
        return sorted(range(len(keys)), key=keys.__getitem__)

    def objects(self) -> dict[Labels, list[tuple[int, FloatHistogram]]]:
        """The translation's histograms by series, each series' in translation order."""
        out: dict[Labels, list[tuple[int, FloatHistogram]]] = {}
        for labels, t, p, schema, down in self.points:
            out.setdefault(labels, []).append((t, _object(p, schema, down)))
        return out

    def columns(self) -> tuple[list[Labels], I64, HistCols] | None:
        """(series, times, columns) of every point in append order, the same histograms as
        ``objects`` bit for bit; None where they might differ (see the module's docstring)."""
        order = self._order()
        pts = [self.points[i] for i in order]
        n = len(pts)
        heads: list[float] = []
        conts: list[Any] = []  # bucket count containers: positive then negative of each point
        offs: list[int] = []
        for _, _, p, schema, _ in pts:
            heads += (float(p.count), float(p.sum) if p.HasField("sum") else 0.0)
            if schema == CUSTOM_BUCKETS_SCHEMA:
                heads += (0.0, 0.0)
                conts += (p.bucket_counts, ())
                offs += (0, 0)
            else:
                heads += (float(p.zero_threshold), float(p.zero_count))
                pos, neg = p.positive, p.negative
                conts += (pos.bucket_counts, neg.bucket_counts)
                offs += (pos.offset, neg.offset)
        lens = np.fromiter(map(len, conts), dtype=np.int64, count=2 * n)
        c = np.fromiter(itertools.chain.from_iterable(conts), dtype=np.uint64, count=int(lens.sum()))
        side = np.repeat(np.arange(2 * n, dtype=np.int64), lens)  # which point's side each count is
        i = np.arange(c.size, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
        down = np.repeat(np.array([d for _, _, _, _, d in pts], dtype=np.int64), 2)
        nz = c != 0
        side, i, c = side[nz], i[nz], c[nz]
        k = ((np.array(offs, dtype=np.int64)[side] + i) >> down[side]) + 1
        nhcb = np.array([s == CUSTOM_BUCKETS_SCHEMA for _, _, _, s, _ in pts], dtype=bool)
        custom = np.repeat(nhcb, 2)[side]
        k[custom] -= 1  # NHCB buckets are the bucket positions themselves
        # merged buckets: runs of one index within a side, summed (exact below 2**53)
        new = np.ones(k.size, dtype=bool)
        new[1:] = (k[1:] != k[:-1]) | (side[1:] != side[:-1])
        starts = np.flatnonzero(new)
        if c.size and int(c.max()) >= _EXACT:
            return None
        vals = c.astype(np.float64)
        if starts.size != k.size:
            vals = np.add.reduceat(vals, starts) if starts.size else vals[:0]
            if vals.size and float(vals.max()) >= _EXACT:
                return None
        k, side = k[starts], side[starts]
        per_side = np.bincount(side, minlength=2 * n)
        bounds = np.concatenate([[0], np.cumsum(per_side)]).tolist()
        kb = k.tobytes()  # layouts told apart by their indexes' bytes: cheaper keys than tuples
        groups: dict[tuple[int, bytes, tuple[float, ...], bytes, bytes], int] = {}
        lid = np.empty(n, dtype=np.int32)
        for j, (_, _, p, schema, _) in enumerate(pts):
            a, b, e = bounds[2 * j], bounds[2 * j + 1], bounds[2 * j + 2]
            cv = tuple(float(x) for x in p.explicit_bounds) if schema == CUSTOM_BUCKETS_SCHEMA else ()
            key = (schema, _F64.pack(heads[4 * j + 2]), cv, kb[8 * a:8 * b], kb[8 * b:8 * e])
            lid[j] = groups.setdefault(key, len(groups))
        keys: list[LayoutKey] = [
            (schema, zt, cv, tuple(np.frombuffer(pk, dtype=np.int64).tolist()),
             tuple(np.frombuffer(nk, dtype=np.int64).tolist()))
            for schema, zt, cv, pk, nk in groups
        ]
        head = np.array(heads, dtype=np.float64).reshape(n, 4)[:, [0, 3, 1]]  # count, zero count, sum
        width = np.asarray(np.diff(np.array(bounds[::2], dtype=np.int64)), dtype=np.int64)
        cols = gather_layouts(lid, width, head, np.zeros(n, dtype=np.int8), vals, keys)
        ts = np.array([t for _, t, _, _, _ in pts], dtype=np.int64)
        return [ls for ls, _, _, _, _ in pts], ts, cols


def _object(p: Any, schema: int, down: int) -> FloatHistogram:
    """One point's histogram, as Prometheus 3 converts it."""
    if schema == CUSTOM_BUCKETS_SCHEMA:
        h = FloatHistogram(schema=CUSTOM_BUCKETS_SCHEMA, count=float(p.count),
                           sum=float(p.sum) if p.HasField("sum") else 0.0,
                           custom_values=[float(b) for b in p.explicit_bounds])
        for i, c in enumerate(p.bucket_counts):
            if c:
                h.positive[i] = float(c)
        return h
    h = FloatHistogram(schema=schema, count=float(p.count), sum=float(p.sum) if p.HasField("sum") else 0.0,
                       zero_threshold=float(p.zero_threshold), zero_count=float(p.zero_count))
    for side, buckets in ((h.positive, p.positive), (h.negative, p.negative)):
        for i, c in enumerate(buckets.bucket_counts):
            if c:
                k = ((buckets.offset + i) >> down) + 1
                side[k] = side.get(k, 0.0) + float(c)
    return h


__all__ = ["HistogramPoints"]
