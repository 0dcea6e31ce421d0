"""Metric metadata (TYPE/HELP/UNIT) as remote write 1.0 carries it: a ``WriteRequest`` with only
its ``metadata`` field, resent every ``metadata_config.send_interval`` (Prometheus's way: the
receiver keeps the latest).  Where the metadata comes from is the caller's business: the
server hands in a function over what scraping has seen."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from guardia.model.varint import encode_varint

Metadata = tuple[str, str, str, str]
"""(metric family name, type, help, unit), type as exposition text writes it."""

MetadataSource = Callable[[], Iterable[Metadata]]

# prometheus.MetricMetadata.MetricType
METRIC_TYPES = {"unknown": 0, "counter": 1, "gauge": 2, "histogram": 3, "gaugehistogram": 4, "summary": 5,
          "info": 6, "stateset": 7}


def _string(field: int, s: str) -> bytes:
    b = s.encode()
    return bytes([field << 3 | 2]) + encode_varint(len(b)) + b if b else b""


def encode_metadata(items: Iterable[Metadata]) -> bytes:
    """An uncompressed WriteRequest holding ``items`` as ``MetricMetadata`` (field 3)."""
    out = bytearray()
    for family, mtype, help_, unit in items:
        t = METRIC_TYPES.get(mtype, 0)
        body = (b"\x08" + encode_varint(t) if t else b"") + _string(2, family) + _string(4, help_) + \
            _string(5, unit)
        out += b"\x1a" + encode_varint(len(body)) + body
    return bytes(out)
