"""The histogram WAL record (``histograms.encode_samples``) written from columns.

``encode_samples`` walks one ``FloatHistogram`` at a time; a commit of 1,000 histograms of
20 buckets is some 50,000 varints written by Python.  Here the same bytes come from numpy:
each histogram is a row of *cells* (the label bytes, the timestamp varint, the flags byte,
varints, float64s), every histogram of one layout has the same cells, so the cells of all
of them are sized, placed (a running sum of sizes) and written a few array operations per
kind of cell.  The bytes are those of ``encode_samples``, bit for bit (tested on random
histograms): the format is unchanged for the WAL, checkpoints and remote write's reader.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from guardia.model.histcols import HistCols, Layout
from guardia.model.varint import encode_varint

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

_VARINT, _F64, _BYTE = 0, 1, 2
_WHOLE_FLAG = 16
_LIMIT = float(2**53)


_THRESHOLDS = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)


def _varint_sizes(v: U64) -> I64:
    out: I64 = np.searchsorted(_THRESHOLDS, v, side="right").astype(np.int64)
    out += 1
    return out


def _zz(v: I64) -> U64:
    out: U64 = ((v << 1) ^ (v >> 63)).view(np.uint64)
    return out


def _whole(layout: Layout, rows: I64) -> npt.NDArray[np.bool_]:
    """Rows whose counts (zero count, count, every bucket) are all whole numbers a varint
    holds: ``histograms._all_whole``."""
    m = layout.m[rows]
    c = np.concatenate([m[:, :2], m[:, 3:]], axis=1)
    with np.errstate(invalid="ignore"):
        ok = (c >= 0) & (c < _LIMIT) & (np.floor(c) == c)
    out: npt.NDArray[np.bool_] = ok.all(axis=1)
    return out


def _cells(layout: Layout, rows: I64, whole: bool) -> tuple[list[int], U64]:
    """The kinds of a histogram's cells after its label bytes, and their values (rows, cells):
    varint values, float64 bits or the flags byte."""
    m = layout.m[rows]
    k = len(rows)
    kinds: list[int] = [_BYTE, _VARINT, _F64, _F64]
    cols: list[U64] = [
        (layout.hint[rows].astype(np.uint64) | np.uint64(_WHOLE_FLAG if whole else 0)),
        np.full(k, int(_zz(np.array([layout.schema], dtype=np.int64))[0]), dtype=np.uint64),
        np.full(k, layout.zero_threshold, dtype=np.float64).view(np.uint64),
        m[:, 2].copy().view(np.uint64),
    ]
    if whole:
        kinds += [_VARINT, _VARINT]
        cols += [m[:, 1].astype(np.uint64), m[:, 0].astype(np.uint64)]
    else:
        kinds += [_F64, _F64]
        cols += [m[:, 1].copy().view(np.uint64), m[:, 0].copy().view(np.uint64)]
    cv = layout.custom_values
    kinds.append(_VARINT)
    cols.append(np.full(k, len(cv), dtype=np.uint64))
    for x in cv:
        kinds.append(_F64)
        cols.append(np.full(k, x, dtype=np.float64).view(np.uint64))
    col = 3
    for side in (layout.pos, layout.neg):
        kinds.append(_VARINT)
        cols.append(np.full(k, len(side), dtype=np.uint64))
        prev = 0
        for i in side:
            kinds.append(_VARINT)
            cols.append(np.full(k, int(_zz(np.array([i - prev], dtype=np.int64))[0]), dtype=np.uint64))
            prev = i
            if whole:
                kinds.append(_VARINT)
                cols.append(m[:, col].astype(np.uint64))
            else:
                kinds.append(_F64)
                cols.append(m[:, col].copy().view(np.uint64))
            col += 1
    return kinds, np.stack(cols, axis=1)


def encode_columns(label_bytes: Sequence[bytes], ts: I64, cols: HistCols) -> bytes:
    """One WAL record of histograms: sample ``k`` is ``label_bytes[k]`` (the encoded label
    set), timestamp ``ts[k]`` and the histogram at position ``k`` of ``cols`` (1-D, a
    histogram at every position)."""
    n = len(label_bytes)
    head = encode_varint(n)
    if n == 0:
        return head
    lens = np.fromiter(map(len, label_bytes), dtype=np.int64, count=n)
    tz = _zz(np.asarray(ts, dtype=np.int64))
    t_len = _varint_sizes(tz)
    # the cells of each (layout, whole) group, and each sample's size
    groups: list[tuple[I64, npt.NDArray[np.int64], U64, I64]] = []
    size = lens + t_len
    lid = cols.lid
    one = int(lid[0]) if bool((lid == lid[0]).all()) else None
    for li in [one] if one is not None else np.unique(lid).tolist():
        at = np.arange(n, dtype=np.int64) if one is not None else np.flatnonzero(lid == li)
        layout = cols.layouts[li]
        rows = cols.row[at]
        whole = _whole(layout, rows)
        for w in (True, False):
            if bool(whole.all()) if w else not bool((~whole).any()):
                sel_at, sel_rows = (at, rows) if w else (at[:0], rows[:0])
            else:
                sel = whole if w else ~whole
                sel_at, sel_rows = at[sel], rows[sel]
            if not len(sel_at):
                continue
            kinds, vals = _cells(layout, sel_rows, w)
            kv = np.array(kinds)
            csize = np.empty(vals.shape, dtype=np.int64)
            csize[:, kv == _F64] = 8
            csize[:, kv == _BYTE] = 1
            var = np.flatnonzero(kv == _VARINT)
            small = (vals[:, var] < 0x80).all(axis=0)
            csize[:, var[small]] = 1
            big = var[~small]
            if big.size:
                csize[:, big] = _varint_sizes(vals[:, big])
            kv[var[small]] = _BYTE  # one byte, as is
            groups.append((sel_at, kv, vals, csize))
            size[sel_at] += csize.sum(axis=1)
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(size, out=start[1:])
    start += len(head)
    out = np.zeros(int(start[-1]), dtype=np.uint8)
    out[: len(head)] = np.frombuffer(head, dtype=np.uint8)
    # label bytes, then the timestamp
    lb = np.frombuffer(b"".join(label_bytes), dtype=np.uint8)
    src_start = np.zeros(n, dtype=np.int64)
    np.cumsum(lens[:-1], out=src_start[1:])
    dst = np.repeat(start[:-1] - src_start, lens) + np.arange(lb.shape[0], dtype=np.int64)
    out[dst] = lb
    _put_varints(out, start[:-1] + lens, tz, t_len)
    for at, kv, vals, csize in groups:
        off = np.empty(csize.shape, dtype=np.int64)
        off[:, 0] = 0
        np.cumsum(csize[:, :-1], axis=1, out=off[:, 1:])
        off += (start[at] + lens[at] + t_len[at])[:, None]
        c = np.flatnonzero(kv == _BYTE)
        out[off[:, c]] = vals[:, c]
        c = np.flatnonzero(kv == _VARINT)
        if c.size:
            _put_varints(out, off[:, c].reshape(-1), vals[:, c].reshape(-1), csize[:, c].reshape(-1))
        c = np.flatnonzero(kv == _F64)
        if c.size:
            o = off[:, c]
            v = np.ascontiguousarray(vals[:, c]).astype("<u8", copy=False).view(np.uint8)
            v = v.reshape(o.shape[0], o.shape[1], 8)
            out[o[:, :, None] + np.arange(8)] = v  # little-endian, as _F64.pack
    return out.tobytes()


def _put_varints(out: npt.NDArray[np.uint8], at: I64, v: U64, sizes: I64) -> None:
    """Varints ``v`` of ``sizes`` bytes written at ``at``: every one has a first byte, and
    each later byte is written for the fewer that still have one."""
    b = 0
    while at.size:
        more = sizes > b + 1
        byte = (v >> np.uint64(7 * b)) & np.uint64(0x7F)
        byte |= more.astype(np.uint64) << np.uint64(7)
        out[at + b] = byte
        b += 1
        if not more.any():
            break
        at, v, sizes = at[more], v[more], sizes[more]
