"""Exemplars to remote write 1.0's ``prometheus.Exemplar`` (``send_exemplars: true``), written by
hand like the sample encoders.

Each series' exemplars go in a ``TimeSeries`` of their own, with no samples, as Prometheus
sends them: the receiver stores a TimeSeries' exemplars whatever else it carries, and the
sample batches stay exactly as they are without exemplars.  2.0's form is in ``encode_v2``
(its labels are symbol references).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING

from guardia.model.varint import encode_varint
from guardia.storage.remote.encode import encode_labels

if TYPE_CHECKING:
    from guardia.storage.exemplars import Exemplar

_F64 = struct.Struct("<d")


def exemplar_message(ex: Exemplar) -> bytes:
    """One ``Exemplar`` (without its tag and length): labels (1), value (2), timestamp (3)."""
    return encode_labels(ex.labels) + b"\x11" + _F64.pack(ex.value) + b"\x18" + encode_varint(
        ex.timestamp_ms & 0xFFFFFFFFFFFFFFFF)


def encode_v1(series: Sequence[tuple[bytes, Sequence[Exemplar]]]) -> bytes:
    """An uncompressed 1.0 ``WriteRequest``: per series (its encoded ``labels`` fields) one
    ``TimeSeries`` carrying its exemplars (field 3) oldest first."""
    parts: list[bytes] = []
    for label_fields, exemplars in series:
        body = [label_fields]
        for ex in exemplars:
            m = exemplar_message(ex)
            body += (b"\x1a", encode_varint(len(m)), m)
        ts = b"".join(body)
        parts += (b"\x0a", encode_varint(len(ts)), ts)
    return b"".join(parts)
