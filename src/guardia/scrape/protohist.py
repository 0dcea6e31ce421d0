"""A repeating protobuf scrape's native histograms read straight into columns.

``protoingest.native_histogram`` builds one ``FloatHistogram`` per native histogram (about
25 µs each: spans walked and deltas summed in Python), and the store then turns the objects
back into columns at commit.  When a body repeats the last scrape's structure (``protofast``:
same skeleton digest, so the same schemas, zero thresholds and spans), every native
histogram's layout is the remembered one: only its values are read here, a few attribute
reads per histogram, and the bucket counts come from one ``cumsum`` per bucket width over
all histograms at once.  The result is ``model.histcols`` columns for
``Appender.append_histograms``: no object per histogram on the way to the head.

``NativePlan.columns`` gives exactly what ``native_histogram`` gives (the same floats bit for
bit, the same hints, bucket indexes with a zero count included) or None whenever it might
not: a float histogram (float counts), a bucket count of the wrong length, a count that
goes negative, counts that do not add up (the full path names the error), or numbers too
large to sum exactly in 64-bit floats.  None sends the scrape through the object path.
A plan is made only when no histogram needs its resolution lowered
(``native_histogram_bucket_limit``, ``native_histogram_min_bucket_factor``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from guardia.model.histcols import HistCols, Layout
from guardia.model.histogram import GAUGE, MAX_SCHEMA, MIN_SCHEMA, UNKNOWN

_F64 = struct.Struct("<d")
_EXACT = float(2**53)  # integer counts below this add up exactly in float64
_BIG_DELTA = 2**40  # deltas beyond this might overflow int64 once summed: object path


def _indexes(spans: Sequence[Any]) -> tuple[int, ...] | None:
    """Bucket indexes along the spans (``buckets_from_spans``'s walk); None for a later
    span with a negative offset (refused by the object path, which names it)."""
    out: list[int] = []
    idx = 0
    for i, sp in enumerate(spans):
        off = int(sp.offset)
        if i > 0 and off < 0:
            return None
        idx = off if i == 0 else idx + off
        n = int(sp.length)
        out.extend(range(idx, idx + n))
        idx += n
    return tuple(out)


@dataclass(slots=True, eq=False)
class _Width:
    """The histograms with ``npos`` positive and ``nneg`` negative buckets: one gather."""

    npos: int
    nneg: int
    members: npt.NDArray[np.intp]  # positions (in the plan's order) of these histograms
    # per layout among them: (layout number, rows of ``members`` that hold it)
    parts: list[tuple[int, npt.NDArray[np.intp]]]


@dataclass(slots=True, eq=False)
class NativePlan:
    """The layouts of a scrape's native histograms, in ``read_values``'s order."""

    keys: list[tuple[int, float, tuple[int, ...], tuple[int, ...]]]  # schema, threshold, pos, neg
    hints: list[npt.NDArray[np.int8]]  # per layout: the hint of each of its rows
    lid: npt.NDArray[np.int32]  # per histogram: its layout
    row: npt.NDArray[np.int64]  # per histogram: its row in its layout
    npos: npt.NDArray[np.int64]  # per histogram: positive buckets expected
    nneg: npt.NDArray[np.int64]
    widths: list[_Width]

    @staticmethod
    def make(msgs: Sequence[Any], gauges: Sequence[bool], max_schema: int,
             bucket_limit: int) -> NativePlan | None:
        """The plan of ``msgs`` (protobuf ``Histogram``s with native buckets), or None when
        one needs the object path every time (schema out of range or to be lowered)."""
        groups: dict[tuple[int, bytes, tuple[int, ...], tuple[int, ...]], int] = {}
        keys: list[tuple[int, float, tuple[int, ...], tuple[int, ...]]] = []
        hint_lists: list[list[int]] = []
        n = len(msgs)
        lid = np.empty(n, dtype=np.int32)
        row = np.empty(n, dtype=np.int64)
        npos = np.empty(n, dtype=np.int64)
        nneg = np.empty(n, dtype=np.int64)
        for j, (h, gauge) in enumerate(zip(msgs, gauges, strict=True)):
            schema = int(h.schema)
            if not MIN_SCHEMA <= schema <= MAX_SCHEMA or schema > max_schema:
                return None
            pos, neg = _indexes(h.positive_span), _indexes(h.negative_span)
            if pos is None or neg is None or (bucket_limit and len(pos) + len(neg) > bucket_limit):
                return None
            zt = float(h.zero_threshold)
            k = (schema, _F64.pack(zt), pos, neg)
            got = groups.get(k)
            if got is None:
                got = groups[k] = len(keys)
                keys.append((schema, zt, pos, neg))
                hint_lists.append([])
            lid[j] = got
            row[j] = len(hint_lists[got])
            hint_lists[got].append(GAUGE if gauge else UNKNOWN)
            npos[j], nneg[j] = len(pos), len(neg)
        widths: list[_Width] = []
        by_width: dict[tuple[int, int], list[int]] = {}
        for j in range(n):
            by_width.setdefault((int(npos[j]), int(nneg[j])), []).append(j)
        for (p, q), js in by_width.items():
            members = np.array(js, dtype=np.intp)
            lids = lid[members]
            parts = [(int(li), np.flatnonzero(lids == li)) for li in np.unique(lids).tolist()]
            widths.append(_Width(p, q, members, parts))
        return NativePlan(keys, [np.array(h, dtype=np.int8) for h in hint_lists], lid, row, npos, nneg,
                          widths)

    def columns(self, msgs: Sequence[Any]) -> HistCols | None:
        """``msgs``' histograms as columns (position j: ``msgs[j]``), or None when the object
        path must answer (see the module's docstring)."""
        n = len(msgs)
        if n != self.lid.size:
            return None
        scf = np.array([h.sample_count_float for h in msgs], dtype=np.float64)
        zcf = np.array([h.zero_count_float for h in msgs], dtype=np.float64)
        if bool((scf > 0).any()) or bool((zcf > 0).any()):
            return None  # float histograms: the object path
        count = np.array([float(h.sample_count) for h in msgs], dtype=np.float64)
        zero = np.array([float(h.zero_count) for h in msgs], dtype=np.float64)
        total = np.array([h.sample_sum for h in msgs], dtype=np.float64)
        if n and (float(count.max()) >= _EXACT or float(zero.max()) >= _EXACT):
            return None
        lp = np.fromiter((len(h.positive_delta) for h in msgs), dtype=np.int64, count=n)
        ln = np.fromiter((len(h.negative_delta) for h in msgs), dtype=np.int64, count=n)
        if not (np.array_equal(lp, self.npos) and np.array_equal(ln, self.nneg)):
            return None
        flat: list[int] = []
        ext = flat.extend
        for h in msgs:
            ext(h.positive_delta)
            ext(h.negative_delta)
        deltas = np.array(flat, dtype=np.int64)
        if deltas.size and (int(deltas.max()) > _BIG_DELTA or int(deltas.min()) < -_BIG_DELTA):
            return None
        start = np.zeros(n, dtype=np.int64)
        if n > 1:
            np.cumsum((lp + ln)[:-1], out=start[1:])
        mats: list[npt.NDArray[np.float64] | None] = [None] * len(self.keys)
        for w in self.widths:
            p, q = w.npos, w.nneg
            k = w.members.size
            m = np.empty((k, 3 + p + q), dtype=np.float64)
            if p + q:
                cells = deltas[start[w.members][:, None] + np.arange(p + q)[None, :]]
                runs = np.empty_like(cells)
                np.cumsum(cells[:, :p], axis=1, out=runs[:, :p])
                np.cumsum(cells[:, p:], axis=1, out=runs[:, p:])
                if bool((runs < 0).any()):
                    return None  # a bucket count goes negative: the full path says so
                m[:, 3:] = runs
            m[:, 0] = count[w.members]
            m[:, 1] = zero[w.members]
            m[:, 2] = total[w.members]
            # Prometheus's validation as native_histogram does it: exact in integers here
            in_buckets = m[:, 1] + (m[:, 3:].sum(axis=1) if p + q else 0.0)
            if float(in_buckets.max(initial=0.0)) >= _EXACT:
                return None
            if bool((in_buckets > m[:, 0] * (1 + 1e-12)).any()) or bool(
                    ((in_buckets != m[:, 0]) & ~np.isnan(m[:, 2])).any()):
                return None
            for li, rows in w.parts:
                mats[li] = m[rows] if len(w.parts) > 1 or rows.size != k else m
        layouts: list[Layout] = []
        for (schema, zt, pos, neg), hint, mat in zip(self.keys, self.hints, mats, strict=True):
            assert mat is not None
            layouts.append(Layout(schema, zt, (), pos, neg, mat, hint))
        return HistCols(self.lid, self.row, layouts)


__all__ = ["NativePlan"]
