"""OTLP → Prometheus translation, on payloads made by the real OpenTelemetry SDK (its in-memory
reader and its own OTLP protobuf encoder), and names against the examples in Prometheus's
translator tests and the OpenTelemetry specification."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from guardia.model import Labels, is_stale_nan
from guardia.storage.remote.otlp_names import Kind, Strategy, format_float, label_name, metric_name
from guardia.storage.remote.otlp_translate import OtlpSettings, Translation, translate

U = Strategy.UNDERSCORE_ESCAPING_WITH_SUFFIXES
RESOURCE = {
    "service.name": "checkout", "service.namespace": "shop", "service.instance.id": "pod-7",
    "deployment.environment.name": "prod", "host.name": "node-1",
}


@pytest.mark.parametrize(("name", "unit", "kind", "want"), [
    ("system.filesystem.usage", "By", Kind.GAUGE, "system_filesystem_usage_bytes"),
    ("system.io", "By", Kind.COUNTER, "system_io_bytes_total"),
    ("http.server.request.duration", "s", Kind.HISTOGRAM, "http_server_request_duration_seconds"),
    ("system.cpu.utilization", "1", Kind.GAUGE, "system_cpu_utilization_ratio"),
    ("network.speed", "m/s", Kind.GAUGE, "network_speed_meters_per_second"),
    ("packets", "{packets}", Kind.COUNTER, "packets_total"),
    ("requests_total", "{requests}", Kind.COUNTER, "requests_total"),
    ("latency_seconds", "s", Kind.GAUGE, "latency_seconds"),
    ("total.requests", "", Kind.COUNTER, "requests_total"),
    ("queue.length", "1", Kind.NON_MONOTONIC_SUM, "queue_length"),
    ("cpu.frequency", "Hz", Kind.GAUGE, "cpu_frequency_hertz"),
    ("temperature", "Cel", Kind.GAUGE, "temperature_celsius"),
    ("disk.usage", "%", Kind.GAUGE, "disk_usage_percent"),
    ("throughput", "By/s", Kind.GAUGE, "throughput_bytes_per_second"),
    ("2xx.responses", "", Kind.COUNTER, "_2xx_responses_total"),
])
def test_escaped_names_with_suffixes(name: str, unit: str, kind: Kind, want: str) -> None:
    assert metric_name(name, unit, kind, U) == want


def test_other_strategies() -> None:
    s = "http.server.request.duration"
    assert metric_name(s, "s", Kind.HISTOGRAM, Strategy.NO_UTF8_ESCAPING_WITH_SUFFIXES) == (
        "http.server.request.duration_seconds")
    assert metric_name("http.requests", "", Kind.COUNTER, Strategy.NO_UTF8_ESCAPING_WITH_SUFFIXES) == (
        "http.requests_total")
    assert metric_name("cpu.util_ratio", "1", Kind.GAUGE, Strategy.NO_UTF8_ESCAPING_WITH_SUFFIXES) == (
        "cpu.util_ratio")
    assert metric_name(s, "s", Kind.HISTOGRAM, Strategy.NO_TRANSLATION) == s
    assert metric_name(s, "s", Kind.HISTOGRAM, Strategy.UNDERSCORE_ESCAPING_WITHOUT_SUFFIXES) == (
        "http_server_request_duration")
    assert label_name("k8s.pod.name", U) == "k8s_pod_name"
    assert label_name("0xabc", U) == "key_0xabc"
    assert label_name("_private", U) == "key_private"
    assert label_name("__reserved", U) == "__reserved"
    assert label_name("k8s.pod.name", Strategy.NO_UTF8_ESCAPING_WITH_SUFFIXES) == "k8s.pod.name"
    assert [format_float(v) for v in (0.005, 1.0, 1e-05, 2.5e6, math.inf)] == [
        "0.005", "1", "0.00001", "2500000", "+Inf"]


def _sdk_request(record: Any, temporality: AggregationTemporality = AggregationTemporality.CUMULATIVE,
                 views: tuple[View, ...] = ()) -> Any:
    """What the SDK's OTLP exporter would send for the instruments ``record`` fills."""
    reader = InMemoryMetricReader(preferred_temporality={
        Counter: temporality, UpDownCounter: temporality, Histogram: temporality})
    provider = MeterProvider(resource=Resource.create(RESOURCE), metric_readers=[reader], views=list(views))
    record(provider.get_meter("shop.checkout", "1.2.0"))
    data = reader.get_metrics_data()
    provider.shutdown()
    return encode_metrics(data)


def _by_name(tr: Translation) -> dict[str, list[tuple[Labels, float]]]:
    out: dict[str, list[tuple[Labels, float]]] = {}
    for labels, samples in tr.samples.items():
        out.setdefault(labels.name, []).extend((labels, v) for _, v in samples)
    return out


def _record_all(meter: Any) -> None:
    c = meter.create_counter("http.server.requests", unit="{request}", description="requests served")
    c.add(3, {"http.route": "/cart", "http.response.status_code": 200})
    c.add(1, {"http.route": "/cart", "http.response.status_code": 500})
    u = meter.create_up_down_counter("queue.depth", unit="{item}")
    u.add(5)
    u.add(-2)
    h = meter.create_histogram("http.server.request.duration", unit="s")
    for v in (0.003, 0.02, 0.02, 0.7, 30.0):
        h.record(v, {"http.route": "/cart"})
    meter.create_observable_gauge(
        "process.cpu.utilization", unit="1", callbacks=[lambda _o: [_observation(0.25)]])


def _observation(v: float) -> Any:
    from opentelemetry.metrics import Observation

    return Observation(v, {"cpu": "0"})


def test_sdk_metrics_translate_as_prometheus_does() -> None:
    tr = translate(_sdk_request(_record_all), OtlpSettings(promote_resource_attributes=frozenset(
        {"deployment.environment.name"})))
    assert tr.errors == [] and tr.rejected_points == 0
    got = _by_name(tr)
    base = {"job": "shop/checkout", "instance": "pod-7", "deployment_environment_name": "prod"}
    counters = {lbl.get("http_response_status_code"): v for lbl, v in got["http_server_requests_total"]}
    assert counters == {"200": 3.0, "500": 1.0}
    lbl, _ = got["http_server_requests_total"][0]
    assert dict(lbl) == {**base, "__name__": "http_server_requests_total", "http_route": "/cart",
                         "http_response_status_code": lbl.get("http_response_status_code")}
    assert [v for _, v in got["queue_depth"]] == [3.0]  # non-monotonic sum: a gauge, no _total
    assert [v for _, v in got["process_cpu_utilization_ratio"]] == [0.25]
    buckets = {lbl.get("le"): v for lbl, v in got["http_server_request_duration_seconds_bucket"]}
    # the SDK's default boundaries (0, 5, 10, 25, 50, 75, 100, 250, ... 10000), made cumulative
    assert buckets["0"] == 0 and buckets["5"] == 4 and buckets["25"] == 4 and buckets["50"] == 5
    assert buckets["+Inf"] == 5 and buckets["10000"] == 5
    assert [v for _, v in got["http_server_request_duration_seconds_count"]] == [5]
    assert [v for _, v in got["http_server_request_duration_seconds_sum"]] == [pytest.approx(30.743)]
    info = got["target_info"]
    assert len(info) == 1
    assert dict(info[0][0]) == {
        "__name__": "target_info", "job": "shop/checkout", "instance": "pod-7",
        "deployment_environment_name": "prod", "host_name": "node-1",
        "telemetry_sdk_language": "python", "telemetry_sdk_name": "opentelemetry",
        "telemetry_sdk_version": info[0][0].get("telemetry_sdk_version"),
    }


def test_explicit_bucket_histograms_as_nhcb_agree_with_the_classic_series() -> None:
    """``otlp.convert_histograms_to_nhcb``: the SDK's histogram is one native histogram with
    custom buckets, holding what the classic series hold."""
    classic = _by_name(translate(_sdk_request(_record_all), OtlpSettings()))
    tr = translate(_sdk_request(_record_all), OtlpSettings(convert_histograms_to_nhcb=True))
    assert tr.errors == [] and tr.rejected_points == 0
    got = _by_name(tr)
    assert not any(n.startswith("http_server_request_duration_seconds_") for n in got)
    [points] = [pts for lb, pts in tr.histograms.items() if lb.name == "http_server_request_duration_seconds"]
    [(_, h)] = points
    assert h.schema == -53 and h.count == 5 and h.sum == pytest.approx(30.743)
    cumulative = {lbl.get("le"): v for lbl, v in classic["http_server_request_duration_seconds_bucket"]}
    running = 0.0
    for i, bound in enumerate([*h.custom_values, float("inf")]):
        running += h.positive.get(i, 0.0)
        key = "+Inf" if bound == float("inf") else format(bound, "g")
        assert running == cumulative[key], (bound, running, cumulative[key])


def test_promote_all_but_ignored_and_utf8_strategy() -> None:
    settings = OtlpSettings(strategy=Strategy.NO_UTF8_ESCAPING_WITH_SUFFIXES,
                            promote_all_resource_attributes=True,
                            ignore_resource_attributes=frozenset({"host.name", "telemetry.sdk.version"}))
    got = _by_name(translate(_sdk_request(_record_all), settings))
    lbl, _ = got["http.server.requests_total"][0]
    assert lbl.get("http.route") == "/cart" and lbl.get("deployment.environment.name") == "prod"
    assert "host.name" not in lbl and lbl.get("service.name") == "checkout"
    assert "http.server.request.duration_seconds_bucket" in got


def test_delta_is_refused_with_reasons_and_exponential_histograms_are_native() -> None:
    delta = translate(_sdk_request(_record_all, AggregationTemporality.DELTA), OtlpSettings())
    assert delta.rejected_points == 2 + 1 + 1  # two counter points, the up-down counter, the histogram
    assert any("invalid temporality and type combination for metric 'http.server.requests'" in e
               for e in delta.errors)
    assert set(_by_name(delta)) == {"process_cpu_utilization_ratio", "target_info"}

    expo = translate(_sdk_request(_record_all, views=(View(instrument_type=Histogram,
                                                          aggregation=ExponentialBucketHistogramAggregation()),)),
                     OtlpSettings())
    assert expo.rejected_points == 0 and expo.errors == []
    assert "http_server_requests_total" in _by_name(expo)
    ((labels, [(_, h)]),) = expo.histograms.items()
    assert labels.name == "http_server_request_duration_seconds" and labels.get("http_route") == "/cart"
    assert h.count == 5 and h.sum == pytest.approx(30.743) and -4 <= h.schema <= 8
    assert sum(h.positive.values()) == 5 and not h.negative
    # each observation is in the Prometheus bucket (base**(i-1), base**i] that holds it
    for v in (0.003, 0.02, 0.7, 30.0):
        i = math.ceil(math.log2(v) * 2**h.schema)
        assert h.positive.get(i, 0) >= 1, (v, i, h.positive)


def test_no_recorded_value_is_a_staleness_marker_and_target_info_spans_the_batch() -> None:
    req = _sdk_request(_record_all)
    gauge = next(m for m in req.resource_metrics[0].scope_metrics[0].metrics if m.name == "queue.depth")
    gauge.sum.data_points[0].flags = 1
    first = req.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0]
    first.time_unix_nano -= 12 * 60 * 1_000_000_000  # an older point 12 minutes before the rest
    tr = translate(req, OtlpSettings(lookback_delta_ms=5 * 60_000))
    assert is_stale_nan(_by_name(tr)["queue_depth"][0][1])
    info_ts = next(ts for lbl, ts in tr.samples.items() if lbl.name == "target_info")
    times = [t for t, _ in info_ts]
    assert [b - a for a, b in itertools.pairwise(times)][:4] == [150_000] * 4
    assert times[-1] - times[0] == 12 * 60_000
