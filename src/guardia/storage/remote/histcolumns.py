"""Remote write's native histogram messages (1.0 and 2.0) straight into ``model.histcols`` columns.

``histograms.decode_histogram`` builds a ``FloatHistogram`` per message (bucket dicts walked
along the spans in Python) and the store turns the objects back into columns at commit:
three times the CPU of the same observations sent as classic float buckets.  Here each
message is read once by upb, the few fields a histogram has are read per message, and the
bucket counts of all integer histograms come from one ``cumsum`` over their deltas; the
histograms are grouped by layout (schema, zero threshold bits, custom bounds, bucket
indexes) exactly as ``HistCols.from_objects`` groups the objects, so the store gets the
same columns, the WAL the same record, the head the same data.

``decode_columns`` answers None whenever the result might differ from the object path's or
the object path would refuse a message (a schema out of range, spans that do not match the
buckets, a count going negative, bad custom bounds, deltas too large to sum exactly in
int64, a message that does not parse): the caller then runs the object path, which names
the error exactly as before.
"""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from guardia.model.histcols import HistCols, Layout
from guardia.model.histogram import CUSTOM_BUCKETS_SCHEMA, MAX_SCHEMA, MIN_SCHEMA

I64 = npt.NDArray[np.int64]
_F64 = struct.Struct("<d")
_BIG_DELTA = 1 << 40  # |delta| up to this, segments up to _LONG: partial sums stay far inside int64
_LONG = 1 << 22
_Key = tuple[int, bytes, tuple[float, ...], tuple[int, ...], tuple[int, ...]]


def _indexes(spans: Sequence[tuple[int, int]], want: int) -> tuple[int, ...] | None:
    """Bucket indexes along the spans, as ``buckets_from_spans`` lays them out; None when
    the object path refuses them (a later negative offset, not ``want`` buckets)."""
    if sum(n for _, n in spans) != want:
        return None
    out: list[int] = []
    idx = 0
    for i, (off, n) in enumerate(spans):
        if i > 0 and off < 0:
            return None
        idx = off if i == 0 else idx + off
        out.extend(range(idx, idx + n))
        idx += n
    return tuple(out)


def decode_columns(raws: Sequence[bytes]) -> tuple[I64, HistCols] | None:
    """(timestamps, columns) of the ``Histogram`` messages ``raws`` (position k: ``raws[k]``),
    or None when the object path must answer (see the module's docstring)."""
    from guardia.storage.remote.proto import Histogram, ProtobufDecodeError  # see decode._decode

    parse = Histogram.FromString
    try:
        msgs = [parse(r) for r in raws]
    except ProtobufDecodeError:
        return None
    return _columns(msgs)


def _columns(msgs: Sequence[Any]) -> tuple[I64, HistCols] | None:
    n = len(msgs)
    groups: dict[_Key, int] = {}
    keys: list[_Key] = []
    members: list[list[int]] = []
    hints: list[list[int]] = []
    lid = np.empty(n, dtype=np.int32)
    row = np.empty(n, dtype=np.int64)
    head = np.empty((n, 3), dtype=np.float64)  # count, zero count, sum
    ts: list[int] = []
    ideltas: list[int] = []  # integer histograms' deltas, positive then negative, in order
    iseg: list[int] = []  # the lengths of those runs (a side of a histogram each)
    fcounts: list[float] = []  # float histograms' counts, positive then negative
    is_int = np.empty(n, dtype=np.bool_)
    width = np.empty(n, dtype=np.int64)
    span_cache: dict[tuple[tuple[tuple[int, int], ...], int], tuple[int, ...] | None] = {}
    for j, m in enumerate(msgs):
        schema = m.schema
        if not (MIN_SCHEMA <= schema <= MAX_SCHEMA or schema == CUSTOM_BUCKETS_SCHEMA):
            return None
        pc, nc = m.positive_counts, m.negative_counts
        is_float = (m.WhichOneof("count") == "count_float" or m.WhichOneof("zero_count") == "zero_count_float"
                    or bool(pc or nc))
        if is_float:
            pv: Sequence[Any] = pc
            nv: Sequence[Any] = nc
            head[j] = (m.count_float, m.zero_count_float, m.sum)
        else:
            pv, nv = m.positive_deltas, m.negative_deltas
            head[j] = (float(m.count_int), float(m.zero_count_int), m.sum)
        sides: list[tuple[int, ...]] = []
        for spans_msg, vals in ((m.positive_spans, pv), (m.negative_spans, nv)):
            sk = (tuple([(s.offset, s.length) for s in spans_msg]), len(vals))
            if sk in span_cache:
                idx = span_cache[sk]
            else:
                idx = span_cache[sk] = _indexes(*sk)
            if idx is None:
                return None
            sides.append(idx)
        pos, neg = sides
        cv = tuple(m.custom_values)
        if schema == CUSTOM_BUCKETS_SCHEMA and (
                neg or any(not a < b for a, b in itertools.pairwise(cv)) or any(map(math.isinf, cv))):
            return None
        zt = m.zero_threshold
        key = (schema, _F64.pack(zt), cv, pos, neg)
        g = groups.get(key)
        if g is None:
            g = groups[key] = len(keys)
            keys.append(key)
            members.append([])
            hints.append([])
        lid[j] = g
        row[j] = len(members[g])
        members[g].append(j)
        rh = m.reset_hint
        hints[g].append(rh if 0 <= rh <= 3 else 0)
        ts.append(m.timestamp)
        width[j] = len(pos) + len(neg)
        if is_float:
            is_int[j] = False
            fcounts.extend(pv)
            fcounts.extend(nv)
        else:
            is_int[j] = True
            ideltas.extend(pv)
            ideltas.extend(nv)
            iseg.append(len(pos))
            iseg.append(len(neg))
    values = _bucket_values(ideltas, iseg, fcounts, is_int, width)
    if values is None:
        return None
    start = np.zeros(n, dtype=np.int64)
    if n > 1:
        np.cumsum(width[:-1], out=start[1:])
    layouts: list[Layout] = []
    for (schema, _, cv, pos, neg), js, hs in zip(keys, members, hints, strict=True):
        at = np.array(js, dtype=np.int64)
        w = len(pos) + len(neg)
        mat = np.empty((at.size, 3 + w), dtype=np.float64)
        mat[:, :3] = head[at]
        if w:
            mat[:, 3:] = values[start[at][:, None] + np.arange(w)[None, :]]
        zt = msgs[js[0]].zero_threshold
        layouts.append(Layout(schema, zt, cv, pos, neg, mat, np.array(hs, dtype=np.int8)))
    return np.array(ts, dtype=np.int64), HistCols(lid, row, layouts)


def _bucket_values(ideltas: list[int], iseg: list[int], fcounts: list[float], is_int: npt.NDArray[np.bool_],
                   width: I64) -> npt.NDArray[np.float64] | None:
    """Every histogram's bucket counts, laid end to end in message order (positive then
    negative each): integer deltas summed per side in int64, float counts as they are.
    None for a count that goes negative or deltas too large to sum exactly here."""
    values = np.empty(int(width.sum()), dtype=np.float64)
    if ideltas:
        d = np.array(ideltas, dtype=np.int64)
        seg = np.array(iseg, dtype=np.int64)
        if int(d.max()) > _BIG_DELTA or int(d.min()) < -_BIG_DELTA or int(seg.max()) > _LONG:
            return None
        run = np.cumsum(d)
        seg = seg[seg > 0]
        first = np.zeros(seg.size, dtype=np.int64)
        np.cumsum(seg[:-1], out=first[1:])
        run -= np.repeat(run[first] - d[first], seg)  # each side's running sum from its own start
        if bool((run < 0).any()):
            return None  # the object path says which count goes negative
        values[_positions(is_int, width)] = run
    if fcounts:
        values[_positions(~is_int, width)] = np.array(fcounts, dtype=np.float64)
    return values


def _positions(sel: npt.NDArray[np.bool_], width: I64) -> I64:
    """Where the selected histograms' buckets are in the end-to-end layout, in order."""
    start = np.zeros(width.size, dtype=np.int64)
    if width.size > 1:
        np.cumsum(width[:-1], out=start[1:])
    w = width[sel]
    s = start[sel]
    packed = np.zeros(w.size, dtype=np.int64)
    if w.size > 1:
        np.cumsum(w[:-1], out=packed[1:])
    out: I64 = np.repeat(s - packed, w) + np.arange(int(w.sum()), dtype=np.int64)
    return out


__all__ = ["decode_columns"]
