"""Remote write 1.0 requests built in bulk: one ``TimeSeries`` per sample, as Prometheus sends.

A request is a run of ``TimeSeries`` messages, each ``labels`` then one ``Sample``.  The label
part of a series never changes, so it is encoded once, when the series is first sent, together
with the field header of its ``TimeSeries`` (whose length depends only on the labels, because
the sample part has a fixed size: a double and a timestamp varint of 6 bytes, what every
millisecond timestamp between 2001 and 2109 takes).  A batch is then two numpy gathers into
one buffer (the series' prefixes, then the fixed 18-byte sample tails), with no Python step per
sample; samples with a timestamp outside that range take the general path.  The buffer is
compressed with snappy's block format, as the protocol requires.
"""

from __future__ import annotations

import struct

import cramjam
import numpy as np
import numpy.typing as npt

from guardia.model import Labels
from guardia.model.varint import encode_varint

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

TS_MIN = 1 << 35  # timestamps whose varint is exactly 6 bytes
TS_MAX = 1 << 42
_TAIL = 18  # \x12 len(16) \x09 double(8) \x10 varint(6)
_SAMPLE_FIELD = b"\x12\x10\x09"


def encode_labels(labels: Labels) -> bytes:
    """The ``labels`` fields of a TimeSeries (sorted by name, as the protocol asks)."""
    out = bytearray()
    for k, v in labels:
        kb, vb = k.encode(), v.encode()
        pair = b"\x0a" + encode_varint(len(kb)) + kb + b"\x12" + encode_varint(len(vb)) + vb
        out += b"\x0a" + encode_varint(len(pair)) + pair
    return bytes(out)


def series_prefix(label_fields: bytes) -> bytes:
    """What precedes a series' sample tail in a request: the TimeSeries tag, its length, labels."""
    return b"\x0a" + encode_varint(len(label_fields) + _TAIL) + label_fields


class PrefixTable:
    """Each series ref's encoded prefix, stored end to end in one growing byte array."""

    def __init__(self) -> None:
        self.pool = np.zeros(1 << 16, dtype=np.uint8)
        self.used = 0
        self.offset = np.full(1024, -1, dtype=np.int64)
        self.length = np.zeros(1024, dtype=np.int64)
        self.label_fields: dict[int, bytes] = {}

    def has(self, refs: I64) -> npt.NDArray[np.bool_]:
        inside = refs < self.offset.shape[0]
        out = np.zeros(refs.shape[0], dtype=bool)
        out[inside] = self.offset[refs[inside]] >= 0
        return out

    def add(self, ref: int, label_fields: bytes) -> None:
        prefix = series_prefix(label_fields)
        if ref >= self.offset.shape[0]:
            grow = max(ref + 1, self.offset.shape[0] * 2)
            self.offset = np.concatenate([self.offset, np.full(grow - self.offset.shape[0], -1, np.int64)])
            self.length = np.concatenate([self.length, np.zeros(grow - self.length.shape[0], np.int64)])
        n = len(prefix)
        if self.used + n > self.pool.shape[0]:
            bigger = np.zeros(max(self.pool.shape[0] * 2, self.used + n), dtype=np.uint8)
            bigger[: self.used] = self.pool[: self.used]
            self.pool = bigger
        self.pool[self.used : self.used + n] = np.frombuffer(prefix, dtype=np.uint8)
        self.offset[ref] = self.used
        self.length[ref] = n
        self.used += n
        self.label_fields[ref] = label_fields

    def encode(self, refs: I64, timestamps: I64, values: F64) -> bytes:
        """An uncompressed WriteRequest with one TimeSeries per sample (refs all ``has``)."""
        plen = self.length[refs]
        in_range = (timestamps >= TS_MIN) & (timestamps < TS_MAX)
        if not in_range.all():
            return self._encode_general(refs, timestamps, values)
        n = refs.shape[0]
        rec = plen + _TAIL
        ends = np.cumsum(rec)
        starts = ends - rec
        out = np.empty(int(ends[-1]) if n else 0, dtype=np.uint8)
        # prefixes: every byte's destination and source, by repeating each record's start
        total = int(plen.sum())
        within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(plen) - plen, plen)
        out[np.repeat(starts, plen) + within] = self.pool[np.repeat(self.offset[refs], plen) + within]
        tails = np.empty((n, _TAIL), dtype=np.uint8)
        tails[:, 0:3] = np.frombuffer(_SAMPLE_FIELD, dtype=np.uint8)
        tails[:, 3:11] = values.astype("<f8").view(np.uint8).reshape(n, 8)
        tails[:, 11] = 0x10
        t = timestamps.astype(np.uint64)
        for i in range(6):
            b = (t >> np.uint64(7 * i)) & np.uint64(0x7F)
            if i < 5:
                b |= np.uint64(0x80)
            tails[:, 12 + i] = b.astype(np.uint8)
        out[(starts + plen)[:, None] + np.arange(_TAIL)] = tails
        return out.tobytes()

    def _encode_general(self, refs: I64, timestamps: I64, values: F64) -> bytes:
        pack = struct.Struct("<d").pack
        parts: list[bytes] = []
        for r, t, v in zip(refs.tolist(), timestamps.tolist(), values.tolist(), strict=True):
            sample = b"\x09" + pack(v) + b"\x10" + encode_varint(t)
            body = self.label_fields[r] + b"\x12" + encode_varint(len(sample)) + sample
            parts.append(b"\x0a" + encode_varint(len(body)) + body)
        return b"".join(parts)


def compress(payload: bytes) -> bytes:
    """Snappy block format (not the framed one), as remote write requires."""
    return bytes(cramjam.snappy.compress_raw(payload))
