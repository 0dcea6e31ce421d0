"""Remote write 1.0 and 2.0 and remote read message types built with ``descriptor_pb2`` (no protoc).

These generated classes (upb backend) are the independent reference used to encode payloads
in tests and benchmarks, and by anything that needs to send remote write.  The receiver uses
only ``RawWriteRequest``, the same message with each series kept as bytes: upb splits a
request into series in C, and the receiver decodes the series themselves in bulk.
"""

from __future__ import annotations

import functools
from typing import Any

from google.protobuf import (  # type: ignore[import-untyped]
    descriptor_pb2,
    descriptor_pool,
    message_factory,
)
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from guardia.model.protodesc import add_message

_F = descriptor_pb2.FieldDescriptorProto


def _build() -> dict[str, Any]:
    fd = descriptor_pb2.FileDescriptorProto(
        name="guardia_remote_write.proto", package="prometheus", syntax="proto3"
    )

    msg = functools.partial(add_message, fd, "")

    opt, rep = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    msg("Label", [("name", 1, _F.TYPE_STRING, opt, ""), ("value", 2, _F.TYPE_STRING, opt, "")])
    msg("Sample", [("value", 1, _F.TYPE_DOUBLE, opt, ""), ("timestamp", 2, _F.TYPE_INT64, opt, "")])
    msg(
        "Exemplar",
        [
            ("labels", 1, _F.TYPE_MESSAGE, rep, ".prometheus.Label"),
            ("value", 2, _F.TYPE_DOUBLE, opt, ""),
            ("timestamp", 3, _F.TYPE_INT64, opt, ""),
        ],
    )
    msg(
        "TimeSeries",
        [
            ("labels", 1, _F.TYPE_MESSAGE, rep, ".prometheus.Label"),
            ("samples", 2, _F.TYPE_MESSAGE, rep, ".prometheus.Sample"),
            ("exemplars", 3, _F.TYPE_MESSAGE, rep, ".prometheus.Exemplar"),
            ("histograms", 4, _F.TYPE_MESSAGE, rep, ".prometheus.Histogram"),
        ],
    )
    # Native histograms (prompb.Histogram; remote write 2.0's has the same fields and numbers)
    msg("BucketSpan", [("offset", 1, _F.TYPE_SINT32, opt, ""), ("length", 2, _F.TYPE_UINT32, opt, "")])
    msg(
        "Histogram",
        [
            ("count_int", 1, _F.TYPE_UINT64, opt, ""),
            ("count_float", 2, _F.TYPE_DOUBLE, opt, ""),
            ("sum", 3, _F.TYPE_DOUBLE, opt, ""),
            ("schema", 4, _F.TYPE_SINT32, opt, ""),
            ("zero_threshold", 5, _F.TYPE_DOUBLE, opt, ""),
            ("zero_count_int", 6, _F.TYPE_UINT64, opt, ""),
            ("zero_count_float", 7, _F.TYPE_DOUBLE, opt, ""),
            ("negative_spans", 8, _F.TYPE_MESSAGE, rep, ".prometheus.BucketSpan"),
            ("negative_deltas", 9, _F.TYPE_SINT64, rep, ""),
            ("negative_counts", 10, _F.TYPE_DOUBLE, rep, ""),
            ("positive_spans", 11, _F.TYPE_MESSAGE, rep, ".prometheus.BucketSpan"),
            ("positive_deltas", 12, _F.TYPE_SINT64, rep, ""),
            ("positive_counts", 13, _F.TYPE_DOUBLE, rep, ""),
            ("reset_hint", 14, _F.TYPE_INT32, opt, ""),
            ("timestamp", 15, _F.TYPE_INT64, opt, ""),
            ("custom_values", 16, _F.TYPE_DOUBLE, rep, ""),
        ],
    )
    # count and zero count are each a oneof: which field is present tells integer from float
    hist = fd.message_type[-1]
    for k, name in enumerate(("count", "zero_count")):
        hist.oneof_decl.add(name=name)
        for f in hist.field:
            if f.name in (f"{name}_int", f"{name}_float"):
                f.oneof_index = k
    msg(
        "MetricMetadata",
        [
            ("type", 1, _F.TYPE_INT32, opt, ""),
            ("metric_family_name", 2, _F.TYPE_STRING, opt, ""),
            ("help", 4, _F.TYPE_STRING, opt, ""),
            ("unit", 5, _F.TYPE_STRING, opt, ""),
        ],
    )
    msg(
        "WriteRequest",
        [
            ("timeseries", 1, _F.TYPE_MESSAGE, rep, ".prometheus.TimeSeries"),
            ("metadata", 3, _F.TYPE_MESSAGE, rep, ".prometheus.MetricMetadata"),
        ],
    )
    # remote read (samples response type)
    msg("LabelMatcher", [("type", 1, _F.TYPE_INT32, opt, ""), ("name", 2, _F.TYPE_STRING, opt, ""),
                         ("value", 3, _F.TYPE_STRING, opt, "")])
    msg("ReadHints", [("step_ms", 1, _F.TYPE_INT64, opt, ""), ("func", 2, _F.TYPE_STRING, opt, ""),
                      ("start_ms", 3, _F.TYPE_INT64, opt, ""), ("end_ms", 4, _F.TYPE_INT64, opt, ""),
                      ("grouping", 5, _F.TYPE_STRING, rep, ""), ("by", 6, _F.TYPE_BOOL, opt, ""),
                      ("range_ms", 7, _F.TYPE_INT64, opt, "")])
    msg("Query", [("start_timestamp_ms", 1, _F.TYPE_INT64, opt, ""),
                  ("end_timestamp_ms", 2, _F.TYPE_INT64, opt, ""),
                  ("matchers", 3, _F.TYPE_MESSAGE, rep, ".prometheus.LabelMatcher"),
                  ("hints", 4, _F.TYPE_MESSAGE, opt, ".prometheus.ReadHints")])
    msg("ReadRequest", [("queries", 1, _F.TYPE_MESSAGE, rep, ".prometheus.Query"),
                        ("accepted_response_types", 2, _F.TYPE_INT32, rep, "")])
    msg("QueryResult", [("timeseries", 1, _F.TYPE_MESSAGE, rep, ".prometheus.TimeSeries")])
    msg("ReadResponse", [("results", 1, _F.TYPE_MESSAGE, rep, ".prometheus.QueryResult")])
    # The receiver's view of the same bytes: each TimeSeries left as its raw bytes, so the
    # C parser splits a request into series and Python never hops through it field by field.
    msg("RawWriteRequest", [("timeseries", 1, _F.TYPE_BYTES, rep, "")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"prometheus.{name}"))
        for name in ("Label", "Sample", "Exemplar", "TimeSeries", "WriteRequest", "MetricMetadata",
                     "RawWriteRequest", "Histogram", "BucketSpan",
                     "ReadRequest", "ReadResponse")
    }


def _build_v2() -> dict[str, Any]:
    """Remote write 2.0's ``io.prometheus.write.v2`` messages.  Native histograms and exemplars
    are kept as raw bytes (histograms are decoded with 1.0's ``Histogram``: same fields)."""
    fd = descriptor_pb2.FileDescriptorProto(
        name="guardia_remote_write_v2.proto", package="io.prometheus.write.v2", syntax="proto3"
    )
    opt, rep = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    p = ".io.prometheus.write.v2."

    msg = functools.partial(add_message, fd, "")

    msg("Sample", [("value", 1, _F.TYPE_DOUBLE, opt, ""), ("timestamp", 2, _F.TYPE_INT64, opt, "")])
    msg("Metadata", [("type", 1, _F.TYPE_INT32, opt, ""), ("help_ref", 3, _F.TYPE_UINT32, opt, ""),
                     ("unit_ref", 4, _F.TYPE_UINT32, opt, "")])
    msg("TimeSeries", [
        ("labels_refs", 1, _F.TYPE_UINT32, rep, ""),
        ("samples", 2, _F.TYPE_MESSAGE, rep, p + "Sample"),
        ("histograms", 3, _F.TYPE_BYTES, rep, ""),
        ("exemplars", 4, _F.TYPE_BYTES, rep, ""),
        ("metadata", 5, _F.TYPE_MESSAGE, opt, p + "Metadata"),
        ("created_timestamp", 6, _F.TYPE_INT64, opt, ""),
    ])
    msg("Request", [("symbols", 4, _F.TYPE_STRING, rep, ""), ("timeseries", 5, _F.TYPE_MESSAGE, rep,
                                                              p + "TimeSeries")])
    msg("Exemplar", [("labels_refs", 1, _F.TYPE_UINT32, rep, ""), ("value", 2, _F.TYPE_DOUBLE, opt, ""),
                     ("timestamp", 3, _F.TYPE_INT64, opt, "")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    find = pool.FindMessageTypeByName
    return {name: message_factory.GetMessageClass(find(f"io.prometheus.write.v2.{name}"))
            for name in ("Request", "TimeSeries", "Exemplar")}


_CLASSES = _build()
_V2 = _build_v2()
V2Request: Any = _V2["Request"]
V2Exemplar: Any = _V2["Exemplar"]
WriteRequest: Any = _CLASSES["WriteRequest"]
TimeSeries: Any = _CLASSES["TimeSeries"]
Exemplar: Any = _CLASSES["Exemplar"]
Histogram: Any = _CLASSES["Histogram"]
BucketSpan: Any = _CLASSES["BucketSpan"]
RawWriteRequest: Any = _CLASSES["RawWriteRequest"]
ReadRequest: Any = _CLASSES["ReadRequest"]
ReadResponse: Any = _CLASSES["ReadResponse"]
ProtobufDecodeError: type[Exception] = DecodeError


def encode_write_request(series: list[tuple[dict[str, str], list[tuple[int, float]]]]) -> bytes:
    """Serialize ``[(labels, [(t_ms, value), ...]), ...]`` to WriteRequest bytes (uncompressed)."""
    req = WriteRequest()
    for labels, samples in series:
        ts = req.timeseries.add()
        for k, v in sorted(labels.items()):
            ts.labels.add(name=k, value=v)
        for t, value in samples:
            ts.samples.add(value=value, timestamp=t)
    return bytes(req.SerializeToString())
