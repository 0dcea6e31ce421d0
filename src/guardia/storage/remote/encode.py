"""Remote write 1.0 requests built in bulk: one ``TimeSeries`` per sample, as Prometheus sends.

A request is a run of ``TimeSeries`` messages, each ``labels`` then one ``Sample``.  The label
part of a series never changes, so it is encoded once, when the series is first sent, together
with the field header of its ``TimeSeries`` (whose length depends only on the labels, because
the sample part has a fixed size: a double and a timestamp varint of 6 bytes, what every
millisecond timestamp between 2001 and 2109 takes).  A batch is then one ``bytes.join`` of the
series' prefixes interleaved with the fixed 18-byte sample tails: the sample field's head, the
value's 8 bytes (a memoryview slice of the batch's values as one little-endian array) and the
timestamp's field (encoded once per distinct timestamp: a batch holds a few scrapes).  No numpy:
an agent never imports it.  Samples with a timestamp outside that range take the general path.
The request is compressed with snappy's block format, as the protocol requires.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Sequence
from itertools import chain, repeat
from operator import itemgetter

from guardia.model import Labels
from guardia.model.varint import encode_varint, read_varint

TS_MIN = 1 << 35  # timestamps whose varint is exactly 6 bytes
TS_MAX = 1 << 42
_TAIL = 18  # \x12 len(16) \x09 double(8) \x10 varint(6)
_SAMPLE_FIELD = b"\x12\x10\x09"
_BIG_ENDIAN = sys.byteorder == "big"


def f64_le(values: Sequence[float]) -> memoryview:
    """``values`` as little-endian float64 bytes (a Python array's own buffer when it is one)."""
    a = values if isinstance(values, array) and values.typecode == "d" and not _BIG_ENDIAN \
        else array("d", values)
    if _BIG_ENDIAN:
        a.byteswap()
    return memoryview(a).cast("B")


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
    """Each series ref's encoded prefix (``b""`` while it has none)."""

    def __init__(self) -> None:
        self.prefix: list[bytes] = []

    def add(self, ref: int, label_fields: bytes) -> None:
        if ref >= len(self.prefix):
            self.prefix.extend([b""] * (ref + 1 - len(self.prefix)))
        self.prefix[ref] = series_prefix(label_fields)

    def encode(self, refs: Sequence[int], timestamps: Sequence[int], values: Sequence[float]) -> bytes:
        """An uncompressed WriteRequest with one TimeSeries per sample (every ref ``add``-ed).

        The request is the prefixes and the tails' parts interleaved by one ``bytes.join``."""
        n = len(refs)
        if not n:
            return b""
        distinct = set(timestamps)
        if min(distinct) < TS_MIN or max(distinct) >= TS_MAX:
            return self._encode_general(refs, timestamps, values)
        stamps = {t: b"\x10" + encode_varint(t) for t in distinct}
        vb = f64_le(values)
        doubles = [vb[i : i + 8] for i in range(0, 8 * n, 8)]
        prefixes = itemgetter(*refs)(self.prefix) if n > 1 else (self.prefix[refs[0]],)
        return b"".join(chain.from_iterable(zip(prefixes, repeat(_SAMPLE_FIELD), doubles,
                                                map(stamps.__getitem__, timestamps), strict=False)))

    def _encode_general(self, refs: Sequence[int], timestamps: Sequence[int],
                        values: Sequence[float]) -> bytes:
        pack = struct.Struct("<d").pack
        parts: list[bytes] = []
        for r, t, v in zip(refs, timestamps, values, strict=True):
            sample = b"\x09" + pack(v) + b"\x10" + encode_varint(int(t))
            prefix = self.prefix[r]
            body = prefix[read_varint(prefix, 1)[1] :] + b"\x12" + encode_varint(len(sample)) + sample
            parts.append(b"\x0a" + encode_varint(len(body)) + body)
        return b"".join(parts)


def compress(payload: bytes) -> bytes:
    """Snappy block format (not the framed one), as remote write requires."""
    import cramjam  # here: its compiled module is 1.5 MiB resident, and most servers never use it

    return bytes(cramjam.snappy.compress_raw(payload))
