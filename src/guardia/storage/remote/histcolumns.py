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
from guardia.storage.remote import histwire

I64 = npt.NDArray[np.int64]
_F64 = struct.Struct("<d")
_BIG_DELTA = 1 << 40  # |delta| up to this, segments up to _LONG: partial sums stay far inside int64
_LONG = 1 << 22
_EXACT = 1 << 53  # integer counts below this convert to float the same whichever way
LayoutKey = tuple[int, bytes, tuple[float, ...], tuple[int, ...], tuple[int, ...]]


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

    wire = histwire.read(list(raws))
    if wire is not None:
        got = _from_wire(wire)
        if got is not None:
            return got
    parse = Histogram.FromString
    try:
        msgs = [parse(r) for r in raws]
    except ProtobufDecodeError:
        return None
    return _columns(msgs)


def _from_wire(w: histwire.Wire) -> tuple[I64, HistCols] | None:
    """``_columns`` of messages read by ``histwire``: the shapes looked up per message (one
    dict lookup of their bytes), everything else whole-array; None where the upb path must
    decide (it answers None too for what the object path refuses)."""
    from guardia.storage.remote.proto import Histogram, ProtobufDecodeError

    n = w.n
    val = w.val
    raw_schema = val[:, histwire.SCHEMA]
    if bool((raw_schema >= np.uint64(1 << 32)).any()):
        return None
    schema = ((raw_schema >> np.uint64(1)).astype(np.int64) ^ -(raw_schema & np.uint64(1)).astype(np.int64))
    if w.is_float.all():
        count, zero = w.doubles(histwire.COUNT_FLOAT), w.doubles(histwire.ZERO_COUNT_FLOAT)
    else:
        ci, zi = val[:, histwire.COUNT_INT], val[:, histwire.ZERO_COUNT_INT]
        if bool((ci >= np.uint64(_EXACT)).any()) or bool((zi >= np.uint64(_EXACT)).any()):
            return None
        count, zero = ci.astype(np.float64), zi.astype(np.float64)
    buf = w.buf
    cut = buf.__getitem__
    pf, pt = w.span_from[:, 0].tolist(), w.span_to[:, 0].tolist()
    nf, nt = w.span_from[:, 1].tolist(), w.span_to[:, 1].tolist()
    shapes_in = list(zip(schema.tolist(), val[:, histwire.ZERO_THRESHOLD].tolist(),
                         map(cut, map(slice, w.cv_from.tolist(), w.cv_to.tolist())),
                         map(cut, map(slice, pf, pt)), w.nvals[:, 0].tolist(),
                         map(cut, map(slice, nf, nt)), w.nvals[:, 1].tolist(), strict=True))
    groups: dict[LayoutKey, int] = {}
    keys: list[LayoutKey] = []
    shapes: dict[tuple[Any, ...], tuple[int, int] | None] = {}
    for shape in dict.fromkeys(shapes_in):
        sch, zt, cvb, psb, npos, nsb, nneg = shape
        cv = tuple(np.frombuffer(cvb, dtype="<f8").tolist())
        if any(x != x for x in cv):
            return None  # NaN bounds: no two equal, as the objects group them
        try:
            ps = [(s.offset, s.length) for s in Histogram.FromString(psb).positive_spans]
            ns = [(s.offset, s.length) for s in Histogram.FromString(nsb).negative_spans]
        except ProtobufDecodeError:
            return None
        shapes[shape] = _layout_of((sch, struct.pack("<Q", zt), cv, tuple(ps), npos, tuple(ns), nneg),
                                   groups, keys)
    got = list(map(shapes.__getitem__, shapes_in))
    if None in got:
        return None
    lid_w = np.array(got, dtype=np.int64).reshape(n, 2)
    lids = lid_w[:, 0].astype(np.int32)
    width = lid_w[:, 1]
    if w.is_float.all():
        values = np.asarray(w.values, dtype=np.float64)
    else:
        seg = w.nvals.reshape(-1)
        values_or_none = _summed(np.asarray(w.values, dtype=np.int64), seg)
        if values_or_none is None:
            return None
        values = values_or_none
    head = np.empty((n, 3), dtype=np.float64)
    head[:, 0], head[:, 1], head[:, 2] = count, zero, w.doubles(histwire.SUM)
    raw_hint = (val[:, histwire.RESET_HINT] & np.uint64(0xFFFFFFFF)).astype(np.int64)
    raw_hint[raw_hint >= 1 << 31] -= 1 << 32
    hints: npt.NDArray[np.int8] = np.where((raw_hint >= 0) & (raw_hint <= 3), raw_hint, 0).astype(np.int8)
    ts: I64 = val[:, histwire.TIMESTAMP].view(np.int64).copy()
    return ts, gather_layouts(lids, width, head, hints, values, keys)


def _columns(msgs: Sequence[Any]) -> tuple[I64, HistCols] | None:
    """The columns of parsed messages: per message a few attribute reads and one lookup of
    its shape (schema, zero threshold bits, custom bounds, spans, bucket counts), which names
    its layout; the numbers are gathered in bulk after."""
    n = len(msgs)
    groups: dict[LayoutKey, int] = {}  # by layout, as from_objects groups (two spellings, one layout)
    keys: list[LayoutKey] = []
    shapes: dict[tuple[Any, ...], tuple[int, int] | None] = {}  # -> (layout, width) or None: refused
    lid: list[int] = []
    heads: list[float] = []  # count, zero count, sum of each message
    ts: list[int] = []
    hint: list[int] = []
    ints: list[Any] = []  # integer histograms' delta containers, positive then negative
    floats: list[Any] = []  # float histograms' count containers
    is_int: list[bool] = []
    width: list[int] = []
    pack = _F64.pack
    for m in msgs:
        pc, nc = m.positive_counts, m.negative_counts
        if pc or nc or m.WhichOneof("count") == "count_float" or \
                m.WhichOneof("zero_count") == "zero_count_float":
            pv, nv = pc, nc
            heads += (m.count_float, m.zero_count_float, m.sum)
            floats += (pv, nv)
            is_int.append(False)
        else:
            pv, nv = m.positive_deltas, m.negative_deltas
            heads += (float(m.count_int), float(m.zero_count_int), m.sum)
            ints += (pv, nv)
            is_int.append(True)
        shape = (m.schema, pack(m.zero_threshold), tuple(m.custom_values),
                 tuple([(s.offset, s.length) for s in m.positive_spans]), len(pv),
                 tuple([(s.offset, s.length) for s in m.negative_spans]), len(nv))
        got = shapes.get(shape, _NEW)
        if got is _NEW:
            got = shapes[shape] = _layout_of(shape, groups, keys)
        if got is None:
            return None
        lid.append(got[0])
        width.append(got[1])
        ts.append(m.timestamp)
        hint.append(m.reset_hint)
    w = np.array(width, dtype=np.int64)
    ii = np.array(is_int, dtype=np.bool_)
    values = _bucket_values(ints, floats, ii, w, groups_of=np.array(lid, dtype=np.int32), keys=keys)
    if values is None:
        return None
    lids = np.array(lid, dtype=np.int32)
    head = np.array(heads, dtype=np.float64).reshape(n, 3)
    raw_hints = np.array(hint, dtype=np.int32)
    hints: npt.NDArray[np.int8] = np.where((raw_hints >= 0) & (raw_hints <= 3), raw_hints, 0).astype(np.int8)
    return np.array(ts, dtype=np.int64), gather_layouts(lids, w, head, hints, values, keys)


def gather_layouts(lids: npt.NDArray[np.int32], width: I64, head: npt.NDArray[np.float64],
                   hints: npt.NDArray[np.int8], values: npt.NDArray[np.float64],
                   keys: list[LayoutKey]) -> HistCols:
    """The columns: each layout's rows (its messages in order) gathered into its matrix.

    ``lids`` is each histogram's layout (an index into ``keys``: schema, zero threshold bits,
    custom bounds, positive and negative bucket indexes), ``width`` its bucket count (the
    layout's), ``head`` its count, zero count and sum, and ``values`` every histogram's buckets
    one after another.  The remote write and OTLP receivers both end here."""
    n = lids.size
    start = np.zeros(n, dtype=np.int64)
    if n > 1:
        np.cumsum(width[:-1], out=start[1:])
    order = np.argsort(lids, kind="stable")
    cuts = np.searchsorted(lids[order], np.arange(len(keys) + 1))
    row = np.empty(n, dtype=np.int64)
    layouts: list[Layout] = []
    for g, (schema, zt_bits, cv, pos, neg) in enumerate(keys):
        at = order[cuts[g]:cuts[g + 1]]
        row[at] = np.arange(at.size, dtype=np.int64)
        k = len(pos) + len(neg)
        mat = np.empty((at.size, 3 + k), dtype=np.float64)
        mat[:, :3] = head[at]
        if k:
            mat[:, 3:] = values[start[at][:, None] + np.arange(k)[None, :]]
        layouts.append(Layout(schema, _F64.unpack(zt_bits)[0], cv, pos, neg, mat, hints[at]))
    return HistCols(lids, row, layouts)


_NEW: Any = object()


def _layout_of(shape: tuple[Any, ...], groups: dict[LayoutKey, int],
               keys: list[LayoutKey]) -> tuple[int, int] | None:
    """The layout number and bucket count of a message shape (a new layout when first seen),
    or None when the object path refuses the shape (schema, spans, custom bounds)."""
    schema, zt_bits, cv, pspans, npos, nspans, nneg = shape
    if not (MIN_SCHEMA <= schema <= MAX_SCHEMA or schema == CUSTOM_BUCKETS_SCHEMA):
        return None
    pos, neg = _indexes(pspans, npos), _indexes(nspans, nneg)
    if pos is None or neg is None:
        return None
    if schema == CUSTOM_BUCKETS_SCHEMA and (
            neg or any(not a < b for a, b in itertools.pairwise(cv)) or any(map(math.isinf, cv))):
        return None
    key = (schema, zt_bits, cv, pos, neg)
    g = groups.get(key)
    if g is None:
        g = groups[key] = len(keys)
        keys.append(key)
    return g, len(pos) + len(neg)


def _bucket_values(ints: list[Any], floats: list[Any], is_int: npt.NDArray[np.bool_], width: I64,
                   groups_of: npt.NDArray[np.int32], keys: list[LayoutKey]) -> npt.NDArray[np.float64] | None:
    """Every histogram's bucket counts, laid end to end in message order (positive then
    negative each): integer deltas summed per side in int64, float counts as they are.
    None for a count that goes negative or deltas too large to sum exactly here."""
    values = np.empty(int(width.sum()), dtype=np.float64)
    if ints:
        d = np.fromiter(itertools.chain.from_iterable(ints), dtype=np.int64)
        npos = np.array([len(k[3]) for k in keys], dtype=np.int64)[groups_of[is_int]]
        seg = np.empty(2 * npos.size, dtype=np.int64)  # each side's length, positive then negative
        seg[0::2] = npos
        seg[1::2] = width[is_int] - npos
        run = _summed(d, seg)
        if run is None:
            return None
        values[_positions(is_int, width)] = run
    if floats:
        f = np.fromiter(itertools.chain.from_iterable(floats), dtype=np.float64)
        values[_positions(~is_int, width)] = f
    return values


def _summed(d: I64, seg: I64) -> npt.NDArray[np.float64] | None:
    """Deltas summed per run (``seg``: the runs' lengths, back to back) into counts, as
    floats; None for a count that goes negative (the object path names it) or deltas too
    large to sum exactly in int64."""
    if not d.size:
        return np.zeros(0, dtype=np.float64)
    if int(d.max()) > _BIG_DELTA or int(d.min()) < -_BIG_DELTA or int(seg.max()) > _LONG:
        return None
    run = np.cumsum(d)
    seg = seg[seg > 0]
    first = np.zeros(seg.size, dtype=np.int64)
    np.cumsum(seg[:-1], out=first[1:])
    run -= np.repeat(run[first] - d[first], seg)  # each side's running sum from its own start
    if bool((run < 0).any()):
        return None
    out: npt.NDArray[np.float64] = run.astype(np.float64)
    return out


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
