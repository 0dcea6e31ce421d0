"""Native histogram samples to remote write's ``Histogram`` message (1.0's ``prometheus.Histogram``
and 2.0's ``io.prometheus.write.v2.Histogram`` have the same fields and numbers), written by
hand like the float encoders.

guardia keeps every histogram as a float histogram, but sends one whose counts are all whole
numbers (every scraped one) as an *integer* histogram, bucket counts as deltas, as Prometheus
sends what it scraped: it is the smaller message, and receivers that know only integer
histograms (Prometheus before 2.45 reads nothing else from remote write) take it.  Rates and
other rule results, whose counts are fractions, go as float histograms with absolute counts.

The count and zero count are each one of a protobuf ``oneof``: the field is written even when
it is 0, which is how a receiver tells an integer histogram from a float one.
"""

from __future__ import annotations

import math
import struct

from guardia.model.histogram import FloatHistogram
from guardia.model.varint import encode_varint

_F64 = struct.Struct("<d")
_MAX_INT = 2**63


def _zz(n: int) -> int:
    return ((n << 1) ^ (n >> 63)) & 0xFFFFFFFFFFFFFFFF


def _whole(c: float) -> bool:
    return math.isfinite(c) and 0 <= c < _MAX_INT and c == int(c)


def is_integer(h: FloatHistogram) -> bool:
    """Whether every count of ``h`` is a whole number (it can go as an integer histogram)."""
    return (_whole(h.count) and _whole(h.zero_count) and all(map(_whole, h.positive.values()))
            and all(map(_whole, h.negative.values())))


def _spans(field: int, indexes: list[int]) -> bytes:
    """``BucketSpan`` messages for sorted bucket indexes: one per run of consecutive indexes,
    the first offset absolute, the others the gap since the previous span."""
    out = bytearray()
    prev: int | None = None
    runs: list[list[int]] = []
    for i in indexes:
        if prev is not None and i == prev + 1:
            runs[-1][1] += 1
        else:
            runs.append([i - (prev + 1) if prev is not None else i, 1])
        prev = i
    for offset, length in runs:
        body = (b"\x08" + encode_varint(_zz(offset)) if offset else b"") + b"\x10" + encode_varint(length)
        out += encode_varint(field << 3 | 2) + encode_varint(len(body)) + body
    return bytes(out)


def _packed(field: int, payload: bytes) -> bytes:
    return encode_varint(field << 3 | 2) + encode_varint(len(payload)) + payload if payload else b""


def _side(buckets: dict[int, float], span_field: int, integer: bool) -> bytes:
    """One side's spans, then its deltas (integer) or counts (float)."""
    if not buckets:
        return b""
    idx = sorted(buckets)
    out = _spans(span_field, idx)
    if integer:
        deltas = bytearray()
        prev = 0
        for i in idx:
            c = int(buckets[i])
            deltas += encode_varint(_zz(c - prev))
            prev = c
        return out + _packed(span_field + 1, bytes(deltas))
    return out + _packed(span_field + 2, b"".join(_F64.pack(buckets[i]) for i in idx))


def histogram_message(t: int, h: FloatHistogram) -> bytes:
    """The ``Histogram`` message of one sample (without its field tag and length)."""
    integer = is_integer(h)
    out = bytearray()
    if integer:
        out += b"\x08" + encode_varint(int(h.count))  # count_int = 1
    else:
        out += b"\x11" + _F64.pack(h.count)  # count_float = 2
    out += b"\x19" + _F64.pack(h.sum)  # sum = 3
    if h.schema:
        out += b"\x20" + encode_varint(_zz(h.schema))  # schema = 4 (sint32)
    if h.zero_threshold:
        out += b"\x29" + _F64.pack(h.zero_threshold)  # zero_threshold = 5
    if integer:
        out += b"\x30" + encode_varint(int(h.zero_count))  # zero_count_int = 6
    else:
        out += b"\x39" + _F64.pack(h.zero_count)  # zero_count_float = 7
    out += _side(h.negative, 8, integer)  # negative_spans 8, _deltas 9, _counts 10
    out += _side(h.positive, 11, integer)  # positive_spans 11, _deltas 12, _counts 13
    if h.counter_reset_hint:
        out += b"\x70" + encode_varint(h.counter_reset_hint)  # reset_hint = 14
    if t:
        out += b"\x78" + encode_varint(t)  # timestamp = 15
    if h.custom_values:
        out += _packed(16, b"".join(_F64.pack(v) for v in h.custom_values))  # custom_values = 16
    return bytes(out)


def encode_v1(series: list[tuple[bytes, list[tuple[int, FloatHistogram]]]]) -> bytes:
    """An uncompressed 1.0 ``WriteRequest``: per series (its encoded ``labels`` fields, as
    ``encode.encode_labels`` makes them) one ``TimeSeries`` with its histograms (field 4) in
    order."""
    parts: list[bytes] = []
    for label_fields, samples in series:
        body = [label_fields]
        for t, h in samples:
            m = histogram_message(t, h)
            body += (b"\x22", encode_varint(len(m)), m)
        ts = b"".join(body)
        parts += (b"\x0a", encode_varint(len(ts)), ts)
    return b"".join(parts)
