"""Remote write's native histogram messages (``prompb.Histogram``, 1.0 and 2.0 alike) to
``FloatHistogram`` samples.

An integer histogram carries its bucket counts as deltas (each bucket's count minus the
previous bucket's, across all spans); a float histogram carries absolute counts.  The reset
hint's numbers are the model's (unknown, reset, not reset, gauge).
"""

from __future__ import annotations

import itertools
import math

from guardia.model.histogram import (
    CUSTOM_BUCKETS_SCHEMA,
    MAX_SCHEMA,
    MIN_SCHEMA,
    FloatHistogram,
    HistogramError,
    buckets_from_spans,
)
from guardia.storage.remote.decode import RemoteWriteError


def _buckets(spans: object, deltas: list[int], counts: list[float], is_float: bool,
             where: str) -> dict[int, float]:
    try:
        return buckets_from_spans(spans, deltas, counts if is_float else None)  # type: ignore[arg-type]
    except HistogramError as e:
        raise RemoteWriteError(f"{where}: {e}") from None


def decode_histogram(raw: bytes, where: str = "histogram") -> tuple[int, FloatHistogram]:
    """(timestamp, histogram) of one Histogram message; malformed ones are refused."""
    from guardia.storage.remote.proto import Histogram as HistogramMessage  # see decode._decode
    from guardia.storage.remote.proto import ProtobufDecodeError

    try:
        m = HistogramMessage.FromString(raw)
    except ProtobufDecodeError as e:
        raise RemoteWriteError(f"protobuf: {where}: {e}") from None
    schema = int(m.schema)
    if not (MIN_SCHEMA <= schema <= MAX_SCHEMA or schema == CUSTOM_BUCKETS_SCHEMA):
        raise RemoteWriteError(f"{where}: schema {schema} is not -4..8 or -53 (custom buckets)")
    is_float = (m.WhichOneof("count") == "count_float" or m.WhichOneof("zero_count") == "zero_count_float"
                or bool(m.positive_counts or m.negative_counts))
    h = FloatHistogram(
        schema=schema,
        count=float(m.count_float) if is_float else float(m.count_int),
        sum=float(m.sum),
        zero_threshold=float(m.zero_threshold),
        zero_count=float(m.zero_count_float) if is_float else float(m.zero_count_int),
        positive=_buckets(m.positive_spans, list(m.positive_deltas), list(m.positive_counts), is_float,
                          where),
        negative=_buckets(m.negative_spans, list(m.negative_deltas), list(m.negative_counts), is_float,
                          where),
        custom_values=list(m.custom_values),
        counter_reset_hint=int(m.reset_hint) if 0 <= m.reset_hint <= 3 else 0,
    )
    bounds = h.custom_values
    if h.uses_custom_buckets and (
        h.negative or any(not a < b for a, b in itertools.pairwise(bounds)) or any(map(math.isinf, bounds))
    ):
        raise RemoteWriteError(f"{where}: custom buckets need increasing finite bounds, no negative buckets")
    return int(m.timestamp), h
