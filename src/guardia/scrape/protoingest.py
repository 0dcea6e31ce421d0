"""A protobuf scrape body → float samples and native histogram samples, as Prometheus reads it.

Each ``MetricFamily`` gives the series the text format would give for the same metrics, so a
target keeps its series whichever format is negotiated: a counter, gauge or untyped metric
one sample named after the family; a summary ``<name>_count``, ``<name>_sum`` and one
``<name>{quantile="q"}`` per quantile; a classic histogram ``<name>_count``, ``<name>_sum``
and one ``<name>_bucket{le="b"}`` per bucket plus ``le="+Inf"`` (the count) when the target
left it out.  ``le`` and ``quantile`` values are written as Prometheus writes them for this
format (OpenMetrics floats: ``1.0``, ``0.25``, ``+Inf``).

A histogram with native buckets (spans, a zero bucket or a zero threshold, Prometheus's test)
becomes one native histogram sample named after the family when the job scrapes native
histograms (``scrape_native_histograms``); its classic buckets, when the target sent them
too, are stored beside it only with ``always_scrape_classic_histograms``.  When the job does
not scrape native histograms, every histogram is read as a classic one, or, with
``convert_classic_histograms_to_nhcb``, as a native histogram with custom buckets (NHCB) whose
classic series are kept only with ``always_scrape_classic_histograms``, as Prometheus 3 does.
A native histogram with more buckets than ``native_histogram_bucket_limit`` has its resolution halved until it
fits (an exponential schema at -4 that still does not fit fails the scrape, as in
Prometheus), and ``native_histogram_min_bucket_factor`` caps the schema.

Counters' and classic buckets' exemplars are kept (with the scrape's time when they carry
none); native histograms' only when they carry a timestamp, as Prometheus does.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from guardia.model import textparse as P
from guardia.model.histogram import (
    GAUGE,
    MAX_SCHEMA,
    MIN_SCHEMA,
    UNKNOWN,
    FloatHistogram,
    HistogramError,
    buckets_from_spans,
    from_classic,
    go_g,
)
from guardia.scrape.protoparse import (
    COUNTER,
    GAUGE_HISTOGRAM,
    HISTOGRAM,
    SUMMARY,
    UNTYPED,
)
from guardia.scrape.protoparse import GAUGE as GAUGE_TYPE

_TYPE_NAMES = {COUNTER: "counter", GAUGE_TYPE: "gauge", SUMMARY: "summary", UNTYPED: "unknown",
               HISTOGRAM: "histogram", GAUGE_HISTOGRAM: "gaugehistogram"}


class ProtoSeriesError(ValueError):
    """A family or metric that cannot be ingested (bad histogram, unknown type)."""


@dataclass(frozen=True, slots=True)
class HistogramOptions:
    native: bool = False  # scrape_native_histograms
    keep_classic: bool = False  # always_scrape_classic_histograms
    bucket_limit: int = 0  # native_histogram_bucket_limit (0: none)
    max_schema: int = MAX_SCHEMA  # from native_histogram_min_bucket_factor
    nhcb: bool = False  # convert_classic_histograms_to_nhcb
    ct_zero: bool = False  # --enable-feature=created-timestamp-zero-ingestion


def pick_schema(bucket_factor: float) -> int:
    """The highest schema whose buckets grow by at least ``bucket_factor`` (Prometheus's rule
    for ``native_histogram_min_bucket_factor``; 0 or ≤ 1 means no cap)."""
    if bucket_factor <= 1:
        bucket_factor = 1.00271
    floor = math.floor(-math.log2(math.log2(bucket_factor)))
    return int(min(max(floor, MIN_SCHEMA), MAX_SCHEMA))


@functools.lru_cache(maxsize=4096)  # bucket bounds and quantiles repeat on every scrape
def om_float(v: float) -> str:
    """Prometheus's ``formatOpenMetricsFloat``: Go's shortest ``%g`` with ``.0`` added to a
    whole number, so ``le`` and ``quantile`` read ``1.0``, ``0.5``, ``1e+06``, ``+Inf``."""
    s = go_g(v)
    if s in ("NaN", "+Inf", "-Inf") or "e" in s or "." in s:
        return s
    return s + ".0"


# One flattened sample: (name, labels, value or histogram, timestamp ms or None, exemplar(s):
# one for a float sample, every timestamped one for a native histogram)
Flat = tuple[str, tuple[tuple[str, str], ...], "float | FloatHistogram", "int | None",
             "P.Exemplar | list[P.Exemplar] | None"]


def _ts_ms(ts: Any) -> int:
    return int(ts.seconds) * 1000 + int(ts.nanos) // 1_000_000


def _exemplar(ex: Any) -> P.Exemplar:
    t = _ts_ms(ex.timestamp) if ex.HasField("timestamp") else None
    return P.Exemplar(tuple((lp.name, lp.value) for lp in ex.label), float(ex.value), t)


def is_native(h: Any) -> bool:
    """Prometheus's test: spans on either side, a zero threshold or a zero count make a native
    histogram (a client marks an empty native histogram with a no-op span)."""
    return bool(len(h.positive_span) or len(h.negative_span) or h.zero_threshold > 0
                or h.zero_count > 0 or h.zero_count_float > 0)


def _buckets(spans: Sequence[Any], deltas: Sequence[int], counts: Sequence[float], is_float: bool,
             where: str) -> dict[int, float]:
    try:
        return buckets_from_spans(spans, deltas, counts if is_float else None)
    except HistogramError as e:
        raise ProtoSeriesError(f"{where}: {e}") from None


def native_histogram(h: Any, gauge: bool, where: str) -> FloatHistogram:
    """The histogram sample of a protobuf ``Histogram`` with native buckets (integer counts
    unless it carries float ones, which a gauge histogram may)."""
    schema = int(h.schema)
    if not MIN_SCHEMA <= schema <= MAX_SCHEMA:
        raise ProtoSeriesError(f"{where}: native histogram schema {schema} is outside "
                               f"{MIN_SCHEMA}..{MAX_SCHEMA}")
    is_float = h.sample_count_float > 0 or h.zero_count_float > 0
    count = float(h.sample_count_float) if is_float else float(h.sample_count)
    zero = float(h.zero_count_float) if is_float else float(h.zero_count)
    pos = _buckets(h.positive_span, h.positive_delta, h.positive_count, is_float, where + " (positive)")
    neg = _buckets(h.negative_span, h.negative_delta, h.negative_count, is_float, where + " (negative)")
    in_buckets = zero + sum(pos.values()) + sum(neg.values())
    total = float(h.sample_sum)
    # Prometheus's validation: an integer histogram's count is the sum of its buckets (at
    # least that sum when the sum is NaN); a float one's count is at least that sum
    if (in_buckets > count * (1 + 1e-12)) or (not is_float and not math.isnan(total) and in_buckets != count):
        raise ProtoSeriesError(f"{where}: {in_buckets:g} observations found in the buckets, but the "
                               f"count is {count:g}")
    return FloatHistogram(schema, count, total, float(h.zero_threshold), zero, pos, neg,
                          [], GAUGE if gauge else UNKNOWN)


def limit_buckets(h: FloatHistogram, opts: HistogramOptions, where: str) -> FloatHistogram:
    """Apply ``native_histogram_min_bucket_factor`` (schema cap) and
    ``native_histogram_bucket_limit`` (halve the resolution until it fits)."""
    if h.schema > opts.max_schema:
        h = h.to_schema(opts.max_schema)
    limit = opts.bucket_limit
    if limit:
        while len(h.positive) + len(h.negative) > limit:
            if h.schema <= MIN_SCHEMA:
                raise ProtoSeriesError(
                    f"native_histogram_bucket_limit exceeded ({where}: "
                    f"{len(h.positive) + len(h.negative)} buckets at schema {h.schema}, limit: {limit})")
            h = h.to_schema(h.schema - 1)
    return h


def flatten(families: Sequence[Any], opts: HistogramOptions, metadata: dict[str, P.Metadata],
            created: dict[int, int] | None = None) -> list[Flat]:
    """Every sample the families hold, in order; fills ``metadata`` with each family's type,
    help and unit, and ``created`` (when given) with the created timestamp in ms of each
    sample whose counter, summary or histogram carries one (by index in the result)."""
    out: list[Flat] = []
    add = out.append
    starts: list[tuple[int, int]] = []  # (first flat index of a metric, its created ms or 0)
    for fi, mf in enumerate(families, 1):
        name = mf.name
        if not name:
            raise ProtoSeriesError(f"metric family {fi} has no name")
        typ = int(mf.type)
        if typ not in _TYPE_NAMES:
            raise ProtoSeriesError(f"metric family {name!r} has unknown type {typ}")
        md = metadata.get(name)
        if md is None:
            md = metadata[name] = P.Metadata()
        md.type, md.help, md.unit = _TYPE_NAMES[typ], mf.help, mf.unit
        for m in mf.metric:
            labels = tuple((lp.name, lp.value) for lp in m.label)
            t = int(m.timestamp_ms) if m.timestamp_ms else None
            if created is not None:
                starts.append((len(out), _created_ms(m, typ)))
            if typ == COUNTER:
                c = m.counter
                ex = _exemplar(c.exemplar) if c.HasField("exemplar") else None
                add((name, labels, float(c.value), t, ex))
            elif typ == GAUGE_TYPE:
                add((name, labels, float(m.gauge.value), t, None))
            elif typ == UNTYPED:
                add((name, labels, float(m.untyped.value), t, None))
            elif typ == SUMMARY:
                s = m.summary
                add((name + "_count", labels, float(s.sample_count), t, None))
                add((name + "_sum", labels, float(s.sample_sum), t, None))
                for q in s.quantile:
                    add((name, (*labels, ("quantile", om_float(q.quantile))), float(q.value), t, None))
            else:
                h = m.histogram
                gauge = typ == GAUGE_HISTOGRAM
                native = opts.native and is_native(h)
                if native:
                    where = f"{name}{{{', '.join(f'{k}={v!r}' for k, v in labels)}}}"
                    nh = limit_buckets(native_histogram(h, gauge, where), opts, where)
                    nex = [_exemplar(e) for e in h.exemplars if e.HasField("timestamp")]
                    add((name, labels, nh, t, nex or None))
                    if not (opts.keep_classic and len(h.bucket)):
                        continue
                elif opts.nhcb and len(h.bucket):
                    converted = _nhcb(h, gauge)
                    if converted is not None:
                        nex = [_exemplar(b.exemplar) for b in h.bucket
                               if b.HasField("exemplar") and b.exemplar.HasField("timestamp")]
                        add((name, labels, converted, t, nex or None))
                        if not opts.keep_classic:
                            continue
                _classic(name, labels, h, t, add)
    if created is not None:
        for (first, ct), (end, _) in zip(starts, [*starts[1:], (len(out), 0)], strict=True):
            if ct:
                created.update(dict.fromkeys(range(first, end), ct))
    return out


def _created_ms(m: Any, typ: int) -> int:
    """A counter's, summary's or histogram's ``created_timestamp`` in ms, 0 when it has none."""
    if typ == COUNTER:
        holder = m.counter
    elif typ == SUMMARY:
        holder = m.summary
    elif typ in (HISTOGRAM, GAUGE_HISTOGRAM):
        holder = m.histogram
    else:
        return 0
    return _ts_ms(holder.created_timestamp) if holder.HasField("created_timestamp") else 0


def _nhcb(h: Any, gauge: bool) -> FloatHistogram | None:
    """A classic protobuf histogram as a custom-bucket native one (None when its buckets are
    not cumulative: the classic series are kept then, as Prometheus keeps them)."""
    count = float(h.sample_count_float) if h.sample_count_float > 0 else float(h.sample_count)
    buckets = [(float(b.upper_bound), float(b.cumulative_count_float) if b.cumulative_count_float > 0
                 else float(b.cumulative_count)) for b in h.bucket]
    try:
        return from_classic(buckets, count, float(h.sample_sum), gauge)
    except HistogramError:
        return None


def _classic(name: str, labels: tuple[tuple[str, str], ...], h: Any, t: int | None, add: Any) -> None:
    """``_count``, ``_sum`` and the ``_bucket`` series (float counts when the target sent them)."""
    count = float(h.sample_count_float) if h.sample_count_float > 0 else float(h.sample_count)
    add((name + "_count", labels, count, t, None))
    add((name + "_sum", labels, float(h.sample_sum), t, None))
    has_inf = False
    for b in h.bucket:
        ub = float(b.upper_bound)
        if ub == math.inf:
            has_inf = True
        v = float(b.cumulative_count_float) if b.cumulative_count_float > 0 else float(b.cumulative_count)
        ex = _exemplar(b.exemplar) if b.HasField("exemplar") else None
        add((name + "_bucket", (*labels, ("le", om_float(ub))), v, t, ex))
    if not has_inf:
        add((name + "_bucket", (*labels, ("le", "+Inf")), count, t, None))


__all__ = ["Flat", "HistogramOptions", "ProtoSeriesError", "flatten", "limit_buckets", "native_histogram",
           "om_float", "pick_schema"]
