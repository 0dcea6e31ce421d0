"""Remote write 1.0 payloads (a decompressed protobuf ``WriteRequest``) to arrays of samples.

A ``WriteRequest`` is a flat list of ``TimeSeries{labels, samples}``; the costly parts are
per-series label sets and per-sample varints, so nothing here takes a Python step per label or
per sample.  upb (the protobuf library's C parser) splits the request into one bytes object
per series, through a schema that leaves each series as raw bytes.  A label set seen before is
never decoded again: the raw bytes of a series' label block key a cache of storage refs, and
the last bytes of every series are checked at once with numpy for the two steady-state shapes
(labels, then one sample field with a value, or with the value 0.0 left out).  Series in one of
them are looked up, through C-level ``map``, by the bytes before that tail; only the others
(first sight, several samples, histograms) walk their label fields.  Values and timestamps
are decoded in bulk from the same view of the tails.

A payload is decoded and validated completely before anything is stored, so a bad request can
be refused whole, with a reason (``RemoteWriteError``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import itemgetter

import numpy as np
import numpy.typing as npt

from guardia.model import Labels
from guardia.model.varint import VarintError
from guardia.model.varint import read_varint as _varint

MAX_DECOMPRESSED_BYTES = 128 * 1024 * 1024
_unpack_double = struct.Struct("<d").unpack_from


class RemoteWriteError(ValueError):
    """A payload the receiver refuses (HTTP 400), with a reason the sender can act on."""


@dataclass(slots=True)
class DecodedWrite:
    """Samples of one request: ``refs`` index storage refs, or ``-1 - i`` for ``new_keys[i]``."""

    refs: npt.NDArray[np.int64]
    timestamps: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    new_keys: list[bytes]
    skipped_histograms: int = 0  # native histogram samples found (kept in ``histograms``)
    # (the series' label bytes, one Exemplar message's bytes): rare, decoded by the receiver
    exemplars: list[tuple[bytes, bytes]] = field(default_factory=list)
    # (the series' label bytes, one Histogram message's bytes), decoded by the receiver
    histograms: list[tuple[bytes, bytes]] = field(default_factory=list)


def _skip_field(buf: bytes, pos: int, tag: int) -> int:
    """Skip an unknown field (forward compatibility), by its wire type."""
    wt = tag & 7
    if wt == 0:
        return _varint(buf, pos)[1]
    if wt == 1:
        return pos + 8
    if wt == 2:
        ln, pos = _varint(buf, pos)
        return pos + ln
    if wt == 5:
        return pos + 4
    raise RemoteWriteError(f"protobuf: unsupported wire type {wt}")


def _tag(buf: bytes, pos: int) -> tuple[int, int]:
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    return _varint(buf, pos)


def _decode_sample(buf: bytes, start: int, end: int) -> tuple[float, int]:
    """A Sample message in the general form (fields omitted when zero, any order)."""
    v = 0.0
    t = 0
    p = start
    while p < end:
        tag, p = _tag(buf, p)
        if tag == 0x09:
            v = _unpack_double(buf, p)[0]
            p += 8
        elif tag == 0x10:
            t, p = _varint(buf, p)
            if t >= 1 << 63:
                t -= 1 << 64
        else:
            p = _skip_field(buf, p, tag)
    if p != end:
        raise RemoteWriteError("protobuf: sample overruns its message")
    return v, t


def decode_write_request(buf: bytes, cache: dict[bytes, int]) -> DecodedWrite:
    """Decode a (decompressed) WriteRequest; ``cache`` maps label-block bytes to refs."""
    try:
        return _decode(buf, cache)
    except (IndexError, VarintError):
        raise RemoteWriteError("protobuf: unexpected end of message (truncated payload?)") from None


_PAD = bytes(32)


def _explain_malformed(buf: bytes) -> None:
    """Raise the precise reason a payload upb refused is malformed, walking its top level."""
    n = len(buf)
    pos = 0
    try:
        while pos < n:
            tag, pos = _tag(buf, pos)
            pos = _skip_field(buf, pos, tag)
    except (IndexError, VarintError):
        raise RemoteWriteError("protobuf: unexpected end of message (truncated payload?)") from None
    if pos != n:
        raise RemoteWriteError("protobuf: field overruns the message (truncated payload?)")


def _varints_at(arr: npt.NDArray[np.uint8], pos: npt.NDArray[np.int64]) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64]
]:
    """Decode up to 5-byte varints starting at every ``pos`` at once: (length, value).

    A length of 0 marks a varint longer than 5 bytes (a field over 32 GiB: malformed here).
    """
    b0 = arr[pos]
    if not (b0 & 0x80).any():  # the usual case: every length below 128
        return np.ones(pos.shape[0], dtype=np.int64), b0.astype(np.int64)
    b = arr[pos[:, None] + np.arange(5)].astype(np.int64)
    more = b >= 0x80
    alive = np.cumprod(more, axis=1)  # alive[:, k]: bytes 0..k all had the continuation bit
    used = np.ones_like(b, dtype=bool)
    used[:, 1:] = alive[:, :-1].astype(bool)
    vlen = used.sum(axis=1)
    vlen[alive[:, 4].astype(bool)] = 0
    shifts = np.array([0, 7, 14, 21, 28], dtype=np.int64)
    val = (np.where(used, (b & 0x7F) << shifts, 0)).sum(axis=1)
    return vlen, val


def _slow_samples(
    buf: bytes, p: int, end: int, ref: int, refs: list[int], vals: list[float], tss: list[int],
    exemplars: list[bytes] | None = None, hists: list[bytes] | None = None,
) -> int:
    """Samples of one series in the general form; returns how many histograms it held.
    The series' Exemplar and Histogram messages go to ``exemplars`` and ``hists`` as bytes."""
    histograms = 0
    while p < end:
        tag, p = _tag(buf, p)
        if tag == 0x12:
            sl, p = _varint(buf, p)
            if p + sl > end:
                raise RemoteWriteError("protobuf: sample overruns its time series")
            v, ts = _decode_sample(buf, p, p + sl)
            refs.append(ref)
            vals.append(v)
            tss.append(ts)
            p += sl
        elif tag == 0x0A:
            raise RemoteWriteError("protobuf: labels must come before samples in a time series")
        elif tag == 0x1A and exemplars is not None:
            el, p = _varint(buf, p)
            if p + el > end:
                raise RemoteWriteError("protobuf: exemplar overruns its time series")
            exemplars.append(buf[p:p + el])
            p += el
        elif tag == 0x22:
            histograms += 1
            hl, p = _varint(buf, p)
            if p + hl > end:
                raise RemoteWriteError("protobuf: histogram overruns its time series")
            if hists is not None:
                hists.append(buf[p:p + hl])
            p += hl
        else:
            p = _skip_field(buf, p, tag)
    if p != end:
        raise RemoteWriteError("protobuf: field overruns its time series")
    return histograms


def _decode(buf: bytes, cache: dict[bytes, int]) -> DecodedWrite:
    """Series boundaries from upb, lookups through C-level ``map``, the rest numpy."""
    # protobuf is imported on the first request: with our message classes it is ~3 MiB
    # resident, in every server, and most never receive remote write
    from guardia.storage.remote.proto import ProtobufDecodeError as _ProtobufDecodeError
    from guardia.storage.remote.proto import RawWriteRequest as _RawWriteRequest

    try:
        # upb splits the top level into one bytes object per TimeSeries in C; metadata and
        # unknown fields are kept aside by the parser and never looked at
        series_list = list(_RawWriteRequest.FromString(buf).timeseries)
    except _ProtobufDecodeError:
        _explain_malformed(buf)
        raise RemoteWriteError("protobuf: malformed WriteRequest") from None
    count = len(series_list)
    if not count:
        return DecodedWrite(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), [])
    lens = np.fromiter(map(len, series_list), np.int64, count)
    # From here on, positions are in the series laid end to end after _TAIL zero bytes, so
    # the last _TAIL bytes of every series can be viewed at once as an (n, _TAIL) array.
    padded = b"".join((_FRONT_PAD, *series_list, _PAD))
    arr = np.frombuffer(padded, dtype=np.uint8)
    ends = np.cumsum(lens) + _TAIL
    tails = _windows(arr, _TAIL)[ends - _TAIL]

    # The two steady-state shapes: labels, then one Sample field holding a value and a
    # 6-byte ms timestamp, or holding only the timestamp (a 0.0 value is left out).  Each
    # series in one of them is looked up by the label bytes before its tail; a hit is that
    # series (its labels were validated when first seen; a tail starting with a sample tag
    # cannot be mistaken for a label field).
    valued = (lens > _TAIL) & (tails[:, _VALUED_AT] == _VALUED_WANT).all(axis=1)
    get = cache.get
    if valued.all():  # the usual request: no numpy calls for the other shape
        guess = np.fromiter(map(get, map(_VALUED_LABELS, series_list), repeat(_MISS)), np.int64, count)
        values = _tail_values(tails)
        ok = guess != _MISS
    else:
        zero = (lens > _ZERO_TAIL) & (tails[:, _ZERO_AT] == _ZERO_WANT).all(axis=1) & ~valued
        guess = np.full(count, _MISS, dtype=np.int64)
        for shape, cut in ((valued, _VALUED_LABELS), (zero, _ZERO_LABELS)):
            picked = compress(series_list, shape.tolist())
            guess[shape] = np.fromiter(map(get, map(cut, picked), repeat(_MISS)), np.int64, int(shape.sum()))
        values = np.where(zero, 0.0, _tail_values(tails))
        ok = (guess != _MISS) & (valued | zero)
    if ok.all():
        return DecodedWrite(guess, _tail_timestamps(tails), values, [])
    hit = np.flatnonzero(ok)
    others = np.flatnonzero(~ok)
    rest = _decode_others(padded, arr, (ends - lens)[others], ends[others], cache)
    return DecodedWrite(
        np.concatenate([guess[hit], rest.refs]),
        np.concatenate([_tail_timestamps(tails[hit]), rest.timestamps]),
        np.concatenate([values[hit], rest.values]),
        rest.new_keys,
        rest.skipped_histograms,
        rest.exemplars,
        rest.histograms,
    )


def _windows(arr: npt.NDArray[np.uint8], width: int) -> npt.NDArray[np.uint8]:
    """``[i]`` is the ``width`` bytes starting at ``i``: a strided view, no copy.  (numpy's
    ``sliding_window_view`` does the same after checks that cost ~20 µs a call.)"""
    view: npt.NDArray[np.uint8] = np.ndarray(
        (arr.shape[0] - width + 1, width), dtype=np.uint8, buffer=arr, offset=0, strides=(1, 1)
    )
    return view


# The steady-state tails, from the end of the labels to the end of the series:
#   valued: 12 10 | 09 <8-byte double> | 10 <6-byte varint>   (Sample tag, length 16)
#   zero:                      12 07 | 10 <6-byte varint>     (Sample tag, length 7)
# A 6-byte varint holds every ms timestamp from 1971 to 2109.  Both end the same way, so
# one (n, 18) view of the last 18 bytes serves both.
_TAIL = 18
_ZERO_TAIL = 9
_VALUED_AT = np.array([0, 1, 2, 11])
_VALUED_WANT = np.array([0x12, 16, 0x09, 0x10], dtype=np.uint8)
_ZERO_AT = np.array([9, 10, 11])
_ZERO_WANT = np.array([0x12, 7, 0x10], dtype=np.uint8)
_VALUED_LABELS = itemgetter(slice(None, -_TAIL))
_ZERO_LABELS = itemgetter(slice(None, -_ZERO_TAIL))
_FRONT_PAD = bytes(_TAIL)
_MISS = -(1 << 62)


def _tail_values(tails: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    values: npt.NDArray[np.float64] = tails[:, 3:11].copy().view("<f8").reshape(-1)
    return values


def _tail_timestamps(tails: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """The 6-byte timestamp varints ending each steady-state tail, as few whole-array
    operations as possible: each numpy call costs more than its 2,000 elements do."""
    # the last 8 bytes as one little-endian word; the 2 value bytes before the varint are
    # shifted out
    x = np.ascontiguousarray(tails[:, _TAIL - 8 :]).view("<u8").reshape(-1) >> _U16
    if not ((x & _TS_CONT_MASK) == _TS_CONT_WANT).all():
        raise RemoteWriteError("protobuf: bad timestamp varint in a sample")
    return _varint_values(x, 6)


def _varint_values(x: npt.NDArray[np.uint64], nbytes: int) -> npt.NDArray[np.int64]:
    """Varints of at most ``nbytes`` (≤ 8) bytes, each held in a little-endian word with
    its continuation bits checked and the bytes past it zeroed: their 7-bit groups packed."""
    out = x & _U7F
    group = np.empty_like(x)
    for shift, mask in _GROUPS[: nbytes - 1]:  # byte i's 7 bits move down by i to bits 7i..7i+6
        np.right_shift(x, shift, out=group)
        group &= mask
        out |= group
    return out.view(np.int64)


_U16 = np.uint64(16)
_U7F = np.uint64(0x7F)
_TS_CONT_MASK = np.uint64(0x8080_8080_8080)  # continuation bits of the 6 bytes
_TS_CONT_WANT = np.uint64(0x0080_8080_8080)  # set on the first 5, clear on the last
_GROUPS = [(np.uint64(i), np.uint64(0x7F << (7 * i))) for i in range(1, 8)]


def _decode_others(
    buf: bytes, arr: npt.NDArray[np.uint8], first: npt.NDArray[np.int64], ends: npt.NDArray[np.int64],
    cache: dict[bytes, int],
) -> DecodedWrite:
    """The series at ``[first, ends)``: first seen, or not in a steady-state shape.  Their
    label fields are walked to find where the labels end."""
    new_keys: list[bytes] = []
    label_end = _walk_labels(arr, first, ends)
    series_refs = np.empty(first.shape[0], dtype=np.int64)
    new_index: dict[bytes, int] = {}
    for i, (a, b) in enumerate(zip(first.tolist(), label_end.tolist(), strict=True)):
        key = buf[a:b]
        r = cache.get(key)
        if r is None:
            slot = new_index.get(key)
            if slot is None:
                slot = new_index[key] = len(new_keys)
                new_keys.append(key)
            r = -1 - slot
        series_refs[i] = r
    found: list[tuple[int, bytes]] = []
    found_h: list[tuple[int, bytes]] = []
    refs, ts_arr, vals, histograms = _samples(buf, arr, label_end, ends, series_refs, found, found_h)
    exemplars = [(buf[int(first[i]):int(label_end[i])], raw) for i, raw in found]
    hists: list[tuple[bytes, bytes]] = []
    if found_h:
        keys = list(map(buf.__getitem__, map(slice, first.tolist(), label_end.tolist())))
        hists = [(keys[i], raw) for i, raw in found_h]
    return DecodedWrite(refs, ts_arr, vals, new_keys, histograms, exemplars, hists)


def _samples(
    buf: bytes,
    arr: npt.NDArray[np.uint8],
    le: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    series_refs: npt.NDArray[np.int64],
    exemplars: list[tuple[int, bytes]] | None = None,
    hists: list[tuple[int, bytes]] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64], int]:
    """The Sample fields of every series (from ``le`` to its end): (refs, timestamps,
    values, histograms skipped).

    All series are walked at once, one Sample field per round, so a sender that puts many
    samples in one series (an OpenTelemetry exporter, a backfill) costs numpy calls per
    round, not Python steps per sample.  A series of native histograms only is walked the
    same way (a Histogram field per round, its message's bytes kept for ``hists``).  A
    series holding anything else (exemplars, samples and histograms together, fields out of
    the usual order) is decoded by the general walker instead, which also names what is
    wrong with a malformed one.  ``hists`` gets the histograms in series order, each
    series' in field order, however they were found.
    """
    n = le.shape[0]
    cur = le.copy()
    odd = np.zeros(n, dtype=bool)
    starts: list[npt.NDArray[np.int64]] = []
    lengths: list[npt.NDArray[np.int64]] = []
    owners: list[npt.NDArray[np.int64]] = []
    h_parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []
    while True:
        live = np.flatnonzero((cur < ends) & ~odd)
        if not live.shape[0]:
            break
        c = cur[live]
        tag = arr[c]
        ln = arr[c + 1].astype(np.int64)
        hdr = np.full(live.shape[0], 2, dtype=np.int64)
        is_h = (tag == 0x22) if hists is not None else np.zeros(live.shape[0], dtype=bool)
        if is_h.any():  # a Histogram field: its length a varint of up to 5 bytes
            vlen, val = _varints_at(arr, c[is_h] + 1)
            ln[is_h] = np.where(vlen > 0, val, 1 << 40)
            hdr[is_h] = 1 + vlen
        nxt = c + hdr + ln
        fits = nxt <= ends[live]
        good_s = (tag == 0x12) & (ln < 0x80) & fits
        good_h = is_h & fits
        odd[live[~(good_s | good_h)]] = True
        if good_h.any():
            h_parts.append((live[good_h], c[good_h] + hdr[good_h], nxt[good_h]))
        cur[live[good_h]] = nxt[good_h]
        live, c, ln = live[good_s], c[good_s], ln[good_s]
        starts.append(c + 2)
        lengths.append(ln)
        owners.append(live)
        cur[live] = c + 2 + ln
    s = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)
    length = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
    owner = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
    # A Sample is {value (tag 1, double), timestamp (tag 2, varint)}; a 0.0 value is left
    # out.  A 0 timestamp (left out too) or another field order goes the general way.
    valued = (arr[s] == 0x09) & (length >= 11) & (length <= 20) & (arr[s + 9] == 0x10)
    zero = (arr[s] == 0x10) & (length >= 2) & (length <= 11)
    odd[owner[~(valued | zero)]] = True
    fast_h: list[tuple[int, bytes]] = []
    if h_parts:
        h_owner = np.concatenate([o for o, _, _ in h_parts])
        mixed = np.zeros(n, dtype=bool)
        mixed[h_owner] = True
        odd |= mixed & np.isin(np.arange(n), owner)  # samples and histograms: the general walker
        h_keep = ~odd[h_owner]
        h_from = np.concatenate([a for _, a, _ in h_parts])[h_keep]
        h_to = np.concatenate([b for _, _, b in h_parts])[h_keep]
        h_owner = h_owner[h_keep]
        order = np.argsort(h_owner, kind="stable")  # a series' histograms stay in field order
        raws = map(buf.__getitem__, map(slice, h_from[order].tolist(), h_to[order].tolist()))
        fast_h = list(zip(h_owner[order].tolist(), raws, strict=True))
    keep = ~odd[owner]
    vi = np.flatnonzero(valued & keep)
    zi = np.flatnonzero(zero & keep)
    windows = _windows(arr, 8)
    refs = np.concatenate([series_refs[owner[vi]], series_refs[owner[zi]]])
    vals = np.concatenate([windows[s[vi] + 1].copy().view("<f8").reshape(-1), np.zeros(zi.shape[0])])
    ts = np.concatenate([
        _timestamps(arr, s[vi] + 10, length[vi] - 10, windows),
        _timestamps(arr, s[zi] + 1, length[zi] - 1, windows),
    ])
    histograms = len(fast_h)
    s_refs: list[int] = []
    s_vals: list[float] = []
    s_ts: list[int] = []
    slow_h: list[tuple[int, bytes]] = []
    for i in np.flatnonzero(odd).tolist():
        mine: list[bytes] = []
        mine_h: list[bytes] = []
        histograms += _slow_samples(buf, int(le[i]), int(ends[i]), int(series_refs[i]), s_refs, s_vals, s_ts,
                                    mine, mine_h)
        if exemplars is not None:
            exemplars.extend((i, raw) for raw in mine)
        slow_h.extend((i, raw) for raw in mine_h)
    if hists is not None:
        hists.extend(sorted(fast_h + slow_h, key=_first) if fast_h and slow_h else fast_h or slow_h)
    if s_refs:
        refs = np.concatenate([refs, np.asarray(s_refs, dtype=np.int64)])
        vals = np.concatenate([vals, np.asarray(s_vals, dtype=np.float64)])
        ts = np.concatenate([ts, np.asarray(s_ts, dtype=np.int64)])
    return refs, ts, vals, histograms


def _first(item: tuple[int, bytes]) -> int:
    return item[0]


def _walk_labels(
    arr: npt.NDArray[np.uint8], first: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """End of the leading Label fields of each series: all series at once, a field per round."""
    cur = first.copy()
    active = np.ones(first.shape[0], dtype=bool)
    while True:
        active &= (cur < ends) & (arr[cur] == 0x0A)
        idx = np.flatnonzero(active)
        if idx.shape[0] == 0:
            return cur
        c = cur[idx]
        vlen, val = _varints_at(arr, c + 1)
        if (vlen == 0).any():
            raise RemoteWriteError("protobuf: malformed label length")
        cur[idx] = c + 1 + vlen + val
        if (cur > ends).any():
            raise RemoteWriteError("protobuf: label overruns its time series")


# Per varint length L (1..8): the bytes it occupies in a little-endian uint64, and the
# continuation bits they must carry (set on bytes 0..L-2, clear on byte L-1).
_LEN_BYTES = np.array([0] + [(1 << (8 * n)) - 1 for n in range(1, 8)] + [(1 << 64) - 1], dtype=np.uint64)
_CONT_MASK = np.array([0] + [sum(0x80 << (8 * i) for i in range(n)) for n in range(1, 9)], dtype=np.uint64)
_CONT_WANT = np.array(
    [0] + [sum(0x80 << (8 * i) for i in range(n - 1)) for n in range(1, 9)], dtype=np.uint64
)


def _timestamps(
    arr: npt.NDArray[np.uint8],
    toff: npt.NDArray[np.int64],
    tlen: npt.NDArray[np.int64],
    windows: npt.NDArray[np.uint8] | None = None,
) -> npt.NDArray[np.int64]:
    """int64 varints of known lengths (1..10 bytes) at ``toff``, decoded together."""
    if toff.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    if (tlen < 1).any() or (tlen > 10).any():
        raise RemoteWriteError("protobuf: bad timestamp varint in a sample")
    if windows is not None and (tlen <= 8).all():
        # the usual case (a ms timestamp is 6 bytes): each varint read as one uint64, its
        # 7-bit groups gathered with a few whole-array shifts
        x = windows[toff].copy().view("<u8").reshape(-1) & _LEN_BYTES[tlen]
        if not np.array_equal(x & _CONT_MASK[tlen], _CONT_WANT[tlen]):
            raise RemoteWriteError("protobuf: bad timestamp varint in a sample")
        return _varint_values(x, int(tlen.max()))
    j = np.arange(10)
    b = arr[toff[:, None] + j].astype(np.uint64)
    inside = j[None, :] < tlen[:, None]
    cont = (b & np.uint64(0x80)) != 0
    last_has_more = cont[np.arange(b.shape[0]), tlen - 1].any()
    if last_has_more or not np.array_equal((cont & inside).sum(axis=1), tlen - 1):
        raise RemoteWriteError("protobuf: bad timestamp varint in a sample")
    parts = np.where(inside, (b & np.uint64(0x7F)) << (np.uint64(7) * j.astype(np.uint64)), np.uint64(0))
    ts: npt.NDArray[np.int64] = parts.sum(axis=1, dtype=np.uint64).view(np.int64)
    return ts


def decode_labels(block: bytes) -> Labels:
    """A series' repeated Label fields to a label set, validated as Prometheus does."""
    pairs: dict[str, str] = {}
    p = 0
    n = len(block)
    try:
        while p < n:
            tag, p = _tag(block, p)
            ln, p = _varint(block, p)
            end = p + ln
            if tag != 0x0A or end > n:
                raise RemoteWriteError("protobuf: malformed label")
            name = value = ""
            while p < end:
                t, p = _tag(block, p)
                fl, p = _varint(block, p)
                raw = block[p : p + fl]
                if p + fl > end:
                    raise RemoteWriteError("protobuf: label field overruns its label")
                if t == 0x0A:
                    name = raw.decode("utf-8")
                elif t == 0x12:
                    value = raw.decode("utf-8")
                p += fl
            if not name:  # any other UTF-8 name is valid, as in Prometheus 3 (``k8s.pod.name``)
                raise RemoteWriteError(f"invalid label name {name!r} in a time series")
            if name in pairs:
                raise RemoteWriteError(f"duplicate label name {name!r} in a time series")
            pairs[name] = value
    except UnicodeDecodeError:
        raise RemoteWriteError("label name or value is not valid UTF-8") from None
    except (IndexError, VarintError):
        raise RemoteWriteError("protobuf: truncated label") from None
    labels = Labels(pairs)
    if not labels.name:
        raise RemoteWriteError(f"time series without a metric name (__name__): {dict(labels)}")
    return labels


def decompress(body: bytes) -> bytes:
    """Snappy block format, refusing a declared size beyond the limit before inflating."""
    import cramjam  # here: its compiled module is 1.5 MiB resident, and most servers never use it

    try:
        declared, _ = _varint(body, 0)
    except (IndexError, VarintError):
        raise RemoteWriteError("snappy: corrupt input (no length preamble)") from None
    if declared > MAX_DECOMPRESSED_BYTES:
        raise RemoteWriteError(
            f"snappy: decoded size {declared} exceeds the limit of {MAX_DECOMPRESSED_BYTES} bytes; "
            "send smaller batches (queue_config.max_samples_per_send)"
        )
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except Exception as e:
        raise RemoteWriteError(f"snappy: corrupt input: {e}") from None


def declared_size(body: bytes | bytearray) -> int:
    """The decompressed size a snappy block announces (its length preamble); a malformed
    preamble reads as huge, leaving the error to ``decompress``."""
    try:
        return _varint(body, 0)[0]
    except (IndexError, VarintError):
        return MAX_DECOMPRESSED_BYTES + 1
