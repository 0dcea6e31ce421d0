"""The protobuf exposition format: a body of varint-length-delimited ``MetricFamily`` messages.

A target answering ``application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily;
encoding=delimited`` (client_golang and most Go exporters do when asked) sends each metric
family as one protobuf message of ``io.prometheus.client`` (metrics.proto, proto2), preceded
by its length as a varint.  It is the only exposition format that carries native histograms.

The message classes are built here from a descriptor written in Python (no protoc, no
generated code: the way ``storage/remote/proto`` builds remote write's), so the C (upb)
decoder splits each family; what the scrape keeps from it is read by ``protoingest``.  No
Python package ships these classes (prometheus_client writes only the text formats).

A malformed body is refused as a whole with the byte offset of the message that failed, so
the target's error says where to look.
"""

from __future__ import annotations

import functools
from typing import Any

from guardia.model.protodesc import add_message
from guardia.model.varint import VarintError, read_varint

__all__ = [
    "COUNTER", "GAUGE", "GAUGE_HISTOGRAM", "HISTOGRAM", "SUMMARY", "UNTYPED",
    "ProtoParseError", "decode_families", "message_class",
]

# MetricType enum values of metrics.proto
COUNTER, GAUGE, SUMMARY, UNTYPED, HISTOGRAM, GAUGE_HISTOGRAM = 0, 1, 2, 3, 4, 5

@functools.cache
def message_class() -> Any:
    """The ``MetricFamily`` class, built on the first protobuf scrape: the protobuf runtime is
    imported then, not by every process that scrapes (an agent scraping text never loads it)."""
    from google.protobuf import (  # type: ignore[import-untyped]
        descriptor_pb2,
        descriptor_pool,
        message_factory,
    )

    _F = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(
        name="guardia_io_prometheus_client.proto", package="io.prometheus.client", syntax="proto2"
    )
    opt, rep = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    d, s, u64, i64, s32, s64, u32, msg_t = (
        _F.TYPE_DOUBLE, _F.TYPE_STRING, _F.TYPE_UINT64, _F.TYPE_INT64, _F.TYPE_SINT32, _F.TYPE_SINT64,
        _F.TYPE_UINT32, _F.TYPE_MESSAGE,
    )

    msg = functools.partial(add_message, fd, ".io.prometheus.client.")

    # google.protobuf.Timestamp has this wire shape; declaring it here keeps one file
    msg("Timestamp", [("seconds", 1, i64, opt, ""), ("nanos", 2, _F.TYPE_INT32, opt, "")])
    msg("LabelPair", [("name", 1, s, opt, ""), ("value", 2, s, opt, "")])
    msg("Gauge", [("value", 1, d, opt, "")])
    msg("Exemplar", [("label", 1, msg_t, rep, "LabelPair"), ("value", 2, d, opt, ""),
                     ("timestamp", 3, msg_t, opt, "Timestamp")])
    msg("Counter", [("value", 1, d, opt, ""), ("exemplar", 2, msg_t, opt, "Exemplar"),
                    ("created_timestamp", 3, msg_t, opt, "Timestamp")])
    msg("Quantile", [("quantile", 1, d, opt, ""), ("value", 2, d, opt, "")])
    msg("Summary", [("sample_count", 1, u64, opt, ""), ("sample_sum", 2, d, opt, ""),
                    ("quantile", 3, msg_t, rep, "Quantile"),
                    ("created_timestamp", 4, msg_t, opt, "Timestamp")])
    msg("Untyped", [("value", 1, d, opt, "")])
    msg("Bucket", [("cumulative_count", 1, u64, opt, ""), ("cumulative_count_float", 4, d, opt, ""),
                   ("upper_bound", 2, d, opt, ""), ("exemplar", 3, msg_t, opt, "Exemplar")])
    msg("BucketSpan", [("offset", 1, s32, opt, ""), ("length", 2, u32, opt, "")])
    msg("Histogram", [
        ("sample_count", 1, u64, opt, ""),
        ("sample_count_float", 4, d, opt, ""),
        ("sample_sum", 2, d, opt, ""),
        ("bucket", 3, msg_t, rep, "Bucket"),
        ("created_timestamp", 15, msg_t, opt, "Timestamp"),
        ("schema", 5, s32, opt, ""),
        ("zero_threshold", 6, d, opt, ""),
        ("zero_count", 7, u64, opt, ""),
        ("zero_count_float", 8, d, opt, ""),
        ("negative_span", 9, msg_t, rep, "BucketSpan"),
        ("negative_delta", 10, s64, rep, ""),
        ("negative_count", 11, d, rep, ""),
        ("positive_span", 12, msg_t, rep, "BucketSpan"),
        ("positive_delta", 13, s64, rep, ""),
        ("positive_count", 14, d, rep, ""),
        ("exemplars", 16, msg_t, rep, "Exemplar"),
    ])
    msg("Metric", [
        ("label", 1, msg_t, rep, "LabelPair"),
        ("gauge", 2, msg_t, opt, "Gauge"),
        ("counter", 3, msg_t, opt, "Counter"),
        ("summary", 4, msg_t, opt, "Summary"),
        ("untyped", 5, msg_t, opt, "Untyped"),
        ("histogram", 7, msg_t, opt, "Histogram"),
        ("timestamp_ms", 6, i64, opt, ""),
    ])
    # ``type`` is an enum in metrics.proto; an int32 has the same wire form and keeps values
    # this decoder does not know (a newer type) instead of hiding them in unknown fields
    msg("MetricFamily", [("name", 1, s, opt, ""), ("help", 2, s, opt, ""),
                         ("type", 3, _F.TYPE_INT32, opt, ""), ("metric", 4, msg_t, rep, "Metric"),
                         ("unit", 5, s, opt, "")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("io.prometheus.client.MetricFamily"))



class ProtoParseError(ValueError):
    """A body that is not a sequence of delimited ``MetricFamily`` messages; names the offset."""

    def __init__(self, offset: int, msg: str) -> None:
        super().__init__(f"protobuf body, byte offset {offset}: {msg}")
        self.offset = offset


def decode_families(body: bytes) -> list[Any]:
    """Every ``MetricFamily`` of a delimited body, in order."""
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    family = message_class()
    out: list[Any] = []
    pos = 0
    n = len(body)
    view = memoryview(body)
    while pos < n:
        start = pos
        try:
            size, pos = read_varint(body, pos)
        except VarintError as e:
            raise ProtoParseError(start, f"bad length prefix of message {len(out) + 1}: {e}") from None
        end = pos + size
        if end > n:
            raise ProtoParseError(start, f"message {len(out) + 1} announces {size} bytes but only "
                                         f"{n - pos} remain (truncated body?)")
        try:
            out.append(family.FromString(view[pos:end]))
        except DecodeError as e:
            raise ProtoParseError(start, f"message {len(out) + 1} ({size} bytes) is not a valid "
                                         f"MetricFamily: {e}") from None
        pos = end
    return out
