"""OTLP metrics (an ``ExportMetricsServiceRequest``) to Prometheus series, as Prometheus 3 translates them.

- A monotonic cumulative sum is a counter (``_total``), a non-monotonic one a gauge; gauges as
  they are; explicit-bucket histograms become classic ``_bucket{le}``/``_sum``/``_count``
  series (buckets made cumulative, ``+Inf`` = count), or with ``convert_histograms_to_nhcb``
  one native histogram with custom buckets; exponential histograms native histograms;
  summaries ``{quantile}``/``_sum``/``_count``.
- Delta temporality is refused for the metric (Prometheus 3 without its experimental delta
  feature flags does the same, "invalid temporality and type combination"), counted as
  rejected data points, so the sender hears of it through OTLP's ``partial_success``.
- Resource attributes: ``service.namespace``/``service.name`` make ``job``, ``service.instance.id``
  ``instance``; the other attributes go to one ``target_info`` series per resource (value 1,
  sampled every half lookback delta over the request's time span so a join finds it), and
  those listed in ``otlp.promote_resource_attributes`` (or all, with
  ``promote_all_resource_attributes``) are copied onto every series.
- A data point flagged "no recorded value" is a staleness marker.

Nothing here touches the store: the receiver appends what this returns.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from guardia.model.histogram import MAX_SCHEMA, MIN_SCHEMA, FloatHistogram
from guardia.model.labels import Labels
from guardia.model.otlp_values import plain_value
from guardia.model.samples import STALE_NAN
from guardia.storage.exemplars import Exemplar
from guardia.storage.remote.otlp_histograms import HistogramPoints
from guardia.storage.remote.otlp_names import Kind, Strategy, format_float, label_name, metric_name

SERVICE_NAME = "service.name"
SERVICE_NAMESPACE = "service.namespace"
SERVICE_INSTANCE_ID = "service.instance.id"
_IDENTIFYING = (SERVICE_NAMESPACE, SERVICE_NAME, SERVICE_INSTANCE_ID)

# AggregationTemporality and DataPointFlags values of the OTLP protocol.
_CUMULATIVE = 2
_DELTA = 1
_NO_RECORDED_VALUE = 1


@dataclass(frozen=True)
class OtlpSettings:
    """What ``otlp:`` in prometheus.yml says, plus the engine's lookback delta."""

    strategy: Strategy = Strategy.UNDERSCORE_ESCAPING_WITH_SUFFIXES
    promote_resource_attributes: frozenset[str] = frozenset()
    promote_all_resource_attributes: bool = False
    ignore_resource_attributes: frozenset[str] = frozenset()
    keep_identifying_resource_attributes: bool = False
    promote_scope_metadata: bool = False
    lookback_delta_ms: int = 5 * 60 * 1000
    # explicit-bucket histograms as native histograms with custom buckets (NHCB)
    convert_histograms_to_nhcb: bool = False


@dataclass
class Translation:
    """The series a request becomes, what was refused and why (one line per metric)."""

    samples: dict[Labels, list[tuple[int, float]]] = field(default_factory=dict)
    # exponential histograms (and NHCB ones), as native histograms: points, made columns or
    # objects by ``otlp_histograms``
    hist: HistogramPoints = field(default_factory=HistogramPoints)
    exemplars: dict[Labels, list[Exemplar]] = field(default_factory=dict)
    rejected_points: int = 0
    errors: list[str] = field(default_factory=list)
    # family name -> (type, help, unit), what Prometheus keeps as the metric's metadata
    metadata: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def add(self, labels: Labels, t: int, v: float) -> None:
        self.samples.setdefault(labels, []).append((t, v))

    @property
    def histograms(self) -> dict[Labels, list[tuple[int, FloatHistogram]]]:
        """The native histograms by series, as objects."""
        return self.hist.objects()

    @property
    def sample_count(self) -> int:
        return sum(len(s) for s in self.samples.values()) + len(self.hist)


def attribute_text(value: Any) -> str:
    """An ``AnyValue`` as the text Prometheus puts in a label (pcommon's ``AsString``)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return ""
    if kind == "string_value":
        return str(value.string_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return format_float(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return json.dumps(plain_value(value), separators=(",", ":"), default=_bytes_as_base64)


def _bytes_as_base64(v: Any) -> str:
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    raise TypeError(f"{type(v).__name__} is not an AnyValue")



def _attrs(kvs: Iterable[Any]) -> dict[str, str]:
    return {kv.key: attribute_text(kv.value) for kv in kvs}


class _Resource:
    """One resource's labels that every series of it carries (job, instance, promoted ones)."""

    def __init__(self, attrs: dict[str, str], settings: OtlpSettings) -> None:
        self.attrs = attrs
        self.job = ""
        if SERVICE_NAME in attrs:
            ns = attrs.get(SERVICE_NAMESPACE)
            self.job = f"{ns}/{attrs[SERVICE_NAME]}" if ns is not None else attrs[SERVICE_NAME]
        self.instance = attrs.get(SERVICE_INSTANCE_ID)
        if settings.promote_all_resource_attributes:
            chosen = [k for k in attrs if k not in settings.ignore_resource_attributes]
        else:
            chosen = [k for k in attrs if k in settings.promote_resource_attributes]
        self.promoted = sorted((k, attrs[k]) for k in chosen)


def _base(
    point_attrs: dict[str, str], res: _Resource, scope: dict[str, str], settings: OtlpSettings,
    promote: bool = True,
) -> dict[str, str]:
    """A data point's labels but its name, in Prometheus's merge order: the point's attributes
    (colliding sanitized names joined with ';'), promoted resource attributes where the point
    has no such label, scope metadata, then job and instance over anything else."""
    out: dict[str, str] = {}
    strategy = settings.strategy
    for key in sorted(point_attrs):
        final = label_name(key, strategy)
        out[final] = f"{out[final]};{point_attrs[key]}" if final in out else point_attrs[key]
    for key, value in res.promoted if promote else ():
        out.setdefault(label_name(key, strategy), value)
    out.update(scope)
    if res.job:
        out["job"] = res.job
    if res.instance is not None:
        out["instance"] = res.instance
    return out


def _named(base: dict[str, str], name: str, extra: tuple[str, str] | None = None) -> Labels:
    d = dict(base)
    if extra is not None:
        d[extra[0]] = extra[1]
    d["__name__"] = name
    return Labels(d)


def _scope_labels(scope_metrics: Any, settings: OtlpSettings) -> dict[str, str]:
    scope = scope_metrics.scope
    if not settings.promote_scope_metadata or not scope.name:
        return {}
    out = {
        "otel_scope_name": scope.name,
        "otel_scope_version": scope.version,
        "otel_scope_schema_url": scope_metrics.schema_url,
    }
    for k, v in _attrs(scope.attributes).items():
        out[label_name("otel_scope_" + k, settings.strategy)] = v
    return out


def _kind(metric: Any) -> Kind | None:
    which = metric.WhichOneof("data")
    if which == "gauge":
        return Kind.GAUGE
    if which == "sum":
        return Kind.COUNTER if metric.sum.is_monotonic else Kind.NON_MONOTONIC_SUM
    if which == "histogram":
        return Kind.HISTOGRAM
    if which == "exponential_histogram":
        return Kind.EXPONENTIAL_HISTOGRAM
    if which == "summary":
        return Kind.SUMMARY
    return None


def _points(metric: Any) -> Any:
    which = metric.WhichOneof("data")
    return getattr(metric, which).data_points if which else []


def translate(request: Any, settings: OtlpSettings) -> Translation:
    """Translate a decoded ``ExportMetricsServiceRequest``; never raises for content."""
    out = Translation()
    for rm in request.resource_metrics:
        res = _Resource(_attrs(rm.resource.attributes), settings)
        earliest: int | None = None
        latest = 0
        for sm in rm.scope_metrics:
            scope = _scope_labels(sm, settings)
            for metric in sm.metrics:
                kind = _kind(metric)
                points = _points(metric)
                if kind is None:
                    out.errors.append(f"metric {metric.name!r} has no data (unsupported metric type)")
                    continue
                for p in points:
                    t = p.time_unix_nano
                    earliest = t if earliest is None else min(earliest, t)
                    latest = max(latest, t)
                if not points:
                    out.errors.append(f"empty data points. {metric.name} is dropped")
                    continue
                if kind in (Kind.COUNTER, Kind.NON_MONOTONIC_SUM, Kind.HISTOGRAM, Kind.EXPONENTIAL_HISTOGRAM):
                    temporality = getattr(metric, metric.WhichOneof("data")).aggregation_temporality
                    if temporality != _CUMULATIVE:
                        what = "delta" if temporality == _DELTA else "unspecified"
                        out.errors.append(
                            f"invalid temporality and type combination for metric {metric.name!r} "
                            f"({what} temporality; send cumulative temporality, e.g. with the SDK's "
                            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=cumulative)"
                        )
                        out.rejected_points += len(points)
                        continue
                name = metric_name(metric.name, metric.unit, kind, settings.strategy)
                out.metadata[name] = (_PROM_TYPES[kind], metric.description, metric.unit)
                if kind is Kind.EXPONENTIAL_HISTOGRAM:
                    _exponential(out, points, res, scope, settings, name, metric.name)
                elif kind is Kind.HISTOGRAM:
                    _histogram(out, points, res, scope, settings, name)
                elif kind is Kind.SUMMARY:
                    _summary(out, points, res, scope, settings, name)
                else:
                    _numbers(out, points, res, scope, settings, name)
        if earliest is not None:
            _target_info(out, res, settings, earliest // 1_000_000, latest // 1_000_000)
    return out


_PROM_TYPES = {
    Kind.GAUGE: "gauge", Kind.COUNTER: "counter", Kind.NON_MONOTONIC_SUM: "gauge",
    Kind.HISTOGRAM: "histogram", Kind.EXPONENTIAL_HISTOGRAM: "histogram", Kind.SUMMARY: "summary",
}


def _value(p: Any) -> float:
    if p.flags & _NO_RECORDED_VALUE:
        return STALE_NAN
    which = p.WhichOneof("value")
    if which == "as_int":
        return float(p.as_int)
    if which == "as_double":
        return float(p.as_double)
    return 0.0


def _numbers(out: Translation, points: Any, res: _Resource, scope: dict[str, str], settings: OtlpSettings,
             name: str) -> None:
    for p in points:
        labels = _named(_base(_attrs(p.attributes), res, scope, settings), name)
        t = p.time_unix_nano // 1_000_000
        out.add(labels, t, _value(p))
        _exemplars(out, labels, p.exemplars)


def _histogram(out: Translation, points: Any, res: _Resource, scope: dict[str, str], settings: OtlpSettings,
               name: str) -> None:
    for p in points:
        base = _base(_attrs(p.attributes), res, scope, settings)
        t = p.time_unix_nano // 1_000_000
        stale = bool(p.flags & _NO_RECORDED_VALUE)
        if settings.convert_histograms_to_nhcb:
            _nhcb(out, p, _named(base, name), t, stale)
            continue
        if p.HasField("sum"):
            out.add(_named(base, name + "_sum"), t, STALE_NAN if stale else p.sum)
        out.add(_named(base, name + "_count"), t, STALE_NAN if stale else float(p.count))
        running = 0
        bounds: list[tuple[float, Labels]] = []
        for bound, n in zip(p.explicit_bounds, p.bucket_counts, strict=False):
            running += n
            labels = _named(base, name + "_bucket", ("le", format_float(bound)))
            out.add(labels, t, STALE_NAN if stale else float(running))
            bounds.append((bound, labels))
        inf = _named(base, name + "_bucket", ("le", "+Inf"))
        out.add(inf, t, STALE_NAN if stale else float(p.count))
        bounds.append((float("inf"), inf))
        # each exemplar goes to the first bucket whose bound holds its value, as Prometheus does
        for ex in p.exemplars:
            value = float(ex.as_int) if ex.WhichOneof("value") == "as_int" else ex.as_double
            for bound, labels in sorted(bounds, key=lambda b: b[0]):
                if value <= bound:
                    _exemplars(out, labels, [ex])
                    break


def _nhcb(out: Translation, p: Any, labels: Labels, t: int, stale: bool) -> None:
    """An explicit-bucket point as one native histogram with custom buckets (the bounds are
    the custom values, the last count the ``+Inf`` bucket), as Prometheus 3 stores it with
    ``otlp.convert_histograms_to_nhcb``."""
    if stale:
        out.add(labels, t, STALE_NAN)
        return
    out.hist.add_nhcb(labels, t, p)
    _exemplars(out, labels, p.exemplars)


def _exponential(out: Translation, points: Any, res: _Resource, scope: dict[str, str],
                 settings: OtlpSettings, name: str, otlp_name: str) -> None:
    """Exponential histogram points as native histograms, as Prometheus 3 converts them: the
    scale is the schema (above 8 the buckets are merged down to 8; below -4 the point is
    refused), OTLP bucket ``i`` (``(base**i, base**(i+1)]``) is Prometheus bucket ``i + 1``."""
    for p in points:
        labels = _named(_base(_attrs(p.attributes), res, scope, settings), name)
        t = p.time_unix_nano // 1_000_000
        if p.flags & _NO_RECORDED_VALUE:
            out.add(labels, t, STALE_NAN)
            continue
        scale = int(p.scale)
        if scale < MIN_SCHEMA:
            out.errors.append(f"exponential histogram {otlp_name!r}: scale {scale} is below -4 (dropped)")
            out.rejected_points += 1
            continue
        out.hist.add_exponential(labels, t, p, scale, max(scale - MAX_SCHEMA, 0))
        _exemplars(out, labels, p.exemplars)


def _summary(out: Translation, points: Any, res: _Resource, scope: dict[str, str], settings: OtlpSettings,
             name: str) -> None:
    for p in points:
        base = _base(_attrs(p.attributes), res, scope, settings)
        t = p.time_unix_nano // 1_000_000
        stale = bool(p.flags & _NO_RECORDED_VALUE)
        out.add(_named(base, name + "_sum"), t, STALE_NAN if stale else p.sum)
        out.add(_named(base, name + "_count"), t, STALE_NAN if stale else float(p.count))
        for q in p.quantile_values:
            labels = _named(base, name, ("quantile", format_float(q.quantile)))
            out.add(labels, t, STALE_NAN if stale else q.value)


_MAX_EXEMPLAR_RUNES = 128


def _exemplars(out: Translation, series: Labels, exemplars: Iterable[Any]) -> None:
    """OTLP exemplars as Prometheus ones: ``trace_id``/``span_id`` in hex, then the filtered
    attributes if the whole label set stays within OpenMetrics's 128 characters."""
    for ex in exemplars:
        pairs: dict[str, str] = {}
        runes = 0
        if any(ex.trace_id):
            pairs["trace_id"] = ex.trace_id.hex()
            runes += len("trace_id") + len(pairs["trace_id"])
        if any(ex.span_id):
            pairs["span_id"] = ex.span_id.hex()
            runes += len("span_id") + len(pairs["span_id"])
        attrs = _attrs(ex.filtered_attributes)
        if runes + sum(len(k) + len(v) for k, v in attrs.items()) <= _MAX_EXEMPLAR_RUNES:
            for k, v in attrs.items():
                pairs.setdefault(k, v)
        value = float(ex.as_int) if ex.WhichOneof("value") == "as_int" else float(ex.as_double)
        ts = ex.time_unix_nano // 1_000_000
        out.exemplars.setdefault(series, []).append(Exemplar(Labels(pairs), value, ts))


def _target_info(
    out: Translation, res: _Resource, settings: OtlpSettings, earliest: int, latest: int
) -> None:
    """``target_info`` for a resource with attributes beyond the identifying three, and only
    when job or instance can name it."""
    others = {k: v for k, v in res.attrs.items() if k not in _IDENTIFYING}
    if not others or (not res.job and res.instance is None):
        return
    shown = res.attrs if settings.keep_identifying_resource_attributes else others
    labels = _named(_base(shown, res, {}, settings, promote=False), "target_info")
    step = max(settings.lookback_delta_ms // 2, 1)
    t = earliest
    while t < latest:
        out.add(labels, t, 1.0)
        t += step
    samples = out.samples.get(labels, [])
    if not samples or samples[-1][0] < latest:
        out.add(labels, latest, 1.0)
