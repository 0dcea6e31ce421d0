"""Native histogram samples as columns: many histograms without a Python object each.

A ``FloatHistogram`` per sample costs microseconds to build and to read back, and an hour
of 1,000 histogram series is 240,000 of them.  Here a run of histograms that share a
*layout* — schema, zero threshold, custom bounds and the same bucket indexes — is one
``Layout``: a float matrix with a row per histogram (count, zero count, sum, then one
column per positive and per negative bucket index) and its counter-reset hints.  A column
of samples (``HistCols``) is then two integer arrays beside the timestamps: which layout
and which row holds each sample (-1: no histogram there), so selecting, filtering and
reordering samples never touches the histograms themselves.

The store keeps its head this way (a commit's histograms of one layout are one ``Layout``),
and PromQL computes ``rate``/``increase`` and ``sum`` on the matrices.  ``objects`` builds
the ``FloatHistogram``s, exactly the ones that went in (bucket indexes with a zero count
included), for every code path that wants them.  A computed layout (a ``rate`` result)
may leave buckets out of some rows: ``keep`` says which buckets each row holds (its other
cells are 0).
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from guardia.model.histogram import FloatHistogram

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]
BOOL = npt.NDArray[np.bool_]
OBJ = npt.NDArray[np.object_]

_F64 = struct.Struct("<d")


@dataclass(slots=True, eq=False)
class Layout:
    """Histograms of one layout, a row each."""

    schema: int
    zero_threshold: float
    custom_values: tuple[float, ...]
    pos: tuple[int, ...]  # positive bucket indexes, ascending: columns 3 .. 3+len(pos)
    neg: tuple[int, ...]  # negative bucket indexes, ascending: the columns after
    m: F64  # (rows, 3 + len(pos) + len(neg)): count, zero count, sum, buckets
    hint: I8  # (rows,) counter reset hints
    keep: BOOL | None = None  # (rows, len(pos) + len(neg)): buckets a row holds; None: all

    def problem(self) -> str | None:
        """What is wrong with a layout built by hand (None: nothing): the bucket indexes
        must ascend, the matrix have a row of 3 + buckets columns per histogram and a hint
        per row."""
        for name, idx in (("pos", self.pos), ("neg", self.neg)):
            if any(b <= a for a, b in itertools.pairwise(idx)):
                return (f"Layout.{name} must list bucket indexes in ascending order, each once "
                        f"(got {list(idx)})")
        width = 3 + len(self.pos) + len(self.neg)
        if self.m.ndim != 2 or self.m.shape[1] != width:
            return (f"Layout.m must have 3 + {len(self.pos)} + {len(self.neg)} = {width} columns "
                    f"(count, zero count, sum, the buckets); got shape {self.m.shape}")
        if self.hint.shape != (self.m.shape[0],):
            return (f"Layout.hint must have one hint per row of m ({self.m.shape[0]}); "
                    f"got shape {self.hint.shape}")
        return None

    @property
    def kind(self) -> tuple[int, bytes, tuple[float, ...]]:
        """What two histograms must share to be added bucket by bucket without reconciling
        (the threshold by its bits: -0.0 is not 0.0 here)."""
        return self.schema, _F64.pack(self.zero_threshold), self.custom_values

    def histograms(self, rows: Sequence[int] | I64) -> list[FloatHistogram]:
        """The histograms of ``rows``."""
        idx = np.asarray(rows, dtype=np.int64)
        ms = self.m[idx].tolist()
        hints = self.hint[idx].tolist()
        schema, thr, cv, pos, neg = self.schema, self.zero_threshold, self.custom_values, self.pos, self.neg
        np_ = len(pos)
        out: list[FloatHistogram] = []
        append = out.append
        if self.keep is None:
            if neg:
                for r, hint in zip(ms, hints, strict=True):
                    append(FloatHistogram(schema, r[0], r[2], thr, r[1],
                                          dict(zip(pos, r[3 : 3 + np_], strict=True)),
                                          dict(zip(neg, r[3 + np_ :], strict=True)), list(cv), hint))
            else:
                for r, hint in zip(ms, hints, strict=True):
                    append(FloatHistogram(schema, r[0], r[2], thr, r[1], dict(zip(pos, r[3:], strict=True)),
                                          {}, list(cv), hint))
            return out
        keeps = self.keep[idx].tolist()
        for r, hint, k in zip(ms, hints, keeps, strict=True):
            p = {i: c for i, c, kk in zip(pos, r[3 : 3 + np_], k, strict=False) if kk}
            n = {i: c for i, c, kk in zip(neg, r[3 + np_ :], k[np_:], strict=True) if kk} if neg else {}
            append(FloatHistogram(schema, r[0], r[2], thr, r[1], p, n, list(cv), hint))
        return out


@dataclass(slots=True, eq=False)
class HistCols:
    """Where histogram samples are: ``layouts[lid[...]]`` row ``row[...]``; lid -1 for a
    position that holds no histogram (a float sample, or nothing).  Any array shape."""

    lid: I32
    row: I64
    layouts: list[Layout]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.lid.shape)

    def mask(self) -> BOOL:
        """Where the positions hold a histogram."""
        out: BOOL = self.lid >= 0
        return out

    def take(self, idx: Any) -> HistCols:
        """The positions ``idx`` (any numpy index) selects; the layouts are shared."""
        return HistCols(self.lid[idx], self.row[idx], self.layouts)

    def objects(self) -> OBJ:
        """The ``FloatHistogram`` at each position (None where there is none)."""
        out: OBJ = np.full(self.lid.shape, None, dtype=object)
        flat_lid = self.lid.reshape(-1)
        flat_out = out.reshape(-1)
        at = np.flatnonzero(flat_lid >= 0)
        if not at.size:
            return out
        lids = flat_lid[at]
        order = np.argsort(lids, kind="stable")
        at, lids = at[order], lids[order]
        cuts = np.flatnonzero(lids[1:] != lids[:-1]) + 1
        rows = self.row.reshape(-1)[at]
        for a, b in zip([0, *cuts.tolist()], [*cuts.tolist(), len(at)], strict=True):
            hs = self.layouts[int(lids[a])].histograms(rows[a:b])
            col = np.empty(len(hs), dtype=object)
            col[:] = hs
            flat_out[at[a:b]] = col
        return out

    @staticmethod
    def none(shape: tuple[int, ...]) -> HistCols:
        """No histogram anywhere."""
        return HistCols(np.full(shape, -1, dtype=np.int32), np.zeros(shape, dtype=np.int64), [])

    @staticmethod
    def concat(parts: Sequence[HistCols]) -> HistCols:
        """1-D columns back to back; parts that share one ``layouts`` list share it here."""
        if len(parts) == 1:
            return parts[0]
        layouts: list[Layout] = []
        offset: dict[int, int] = {}
        lids: list[I32] = []
        for p in parts:
            key = id(p.layouts)
            off = offset.get(key)
            if off is None:
                off = offset[key] = len(layouts)
                layouts.extend(p.layouts)
            lids.append(np.where(p.lid >= 0, p.lid + off, -1).astype(np.int32) if off else p.lid)
        if not parts:
            return HistCols(np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64), [])
        return HistCols(np.concatenate(lids), np.concatenate([p.row for p in parts]), layouts)

    @staticmethod
    def from_objects(hs: Sequence[FloatHistogram | None]) -> HistCols:
        """Columns of histograms (None: no histogram there), one layout per distinct
        layout among them."""
        n = len(hs)
        lid = np.full(n, -1, dtype=np.int32)
        row = np.zeros(n, dtype=np.int64)
        groups: dict[tuple[int, bytes, tuple[float, ...], tuple[int, ...], tuple[int, ...]], list[int]] = {}
        for k, h in enumerate(hs):
            if h is None:
                continue
            key = (h.schema, _F64.pack(h.zero_threshold), tuple(h.custom_values), tuple(h.positive),
                   tuple(h.negative))
            got = groups.get(key)
            if got is None:
                groups[key] = [k]
            else:
                got.append(k)
        layouts: list[Layout] = []
        for key, ks in groups.items():
            first = hs[ks[0]]
            assert first is not None
            pos_in, neg_in = key[3], key[4]
            pos, neg = tuple(sorted(pos_in)), tuple(sorted(neg_in))
            width = 3 + len(pos) + len(neg)
            sel: list[FloatHistogram] = [hs[k] for k in ks]  # type: ignore[misc]
            m = np.array([[h.count, h.zero_count, h.sum, *h.positive.values(), *h.negative.values()]
                          for h in sel], dtype=np.float64).reshape(len(ks), width)
            if pos != pos_in or neg != neg_in:
                order = [0, 1, 2, *(3 + pos_in.index(i) for i in pos),
                         *(3 + len(pos) + neg_in.index(i) for i in neg)]
                m = m[:, order]
            hint = np.fromiter((h.counter_reset_hint for h in sel), dtype=np.int8, count=len(ks))
            lid[ks] = len(layouts)
            row[ks] = np.arange(len(ks), dtype=np.int64)
            layouts.append(Layout(first.schema, first.zero_threshold, tuple(first.custom_values), pos, neg, m,
                                  hint))
        return HistCols(lid, row, layouts)
