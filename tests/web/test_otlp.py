"""The OpenTelemetry Python SDK's own OTLP/HTTP exporter pushing to a real ``guardia serve``
(``/api/v1/otlp/v1/metrics``), the series read back through the query API; JSON and gzip
bodies; bad bodies answered as Prometheus answers them."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from tests.test_serve import Serve, serving

PATH = "/api/v1/otlp/v1/metrics"
PB = "application/x-protobuf"
CONFIG = """
global: {scrape_interval: 1h}
otlp:
  promote_resource_attributes: [deployment.environment.name]
"""
RESOURCE = {"service.name": "checkout", "service.namespace": "shop", "service.instance.id": "pod-7",
            "deployment.environment.name": "prod", "host.name": "node-1"}


@pytest.fixture(scope="module")
def guardia(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    with serving(tmp_path_factory.mktemp("otlp"), CONFIG) as s:
        yield s


def _record(meter: Any) -> None:
    c = meter.create_counter("http.server.requests", unit="{request}")
    c.add(3, {"http.route": "/cart"})
    c.add(1, {"http.route": "/pay"})
    meter.create_up_down_counter("queue.depth").add(4)
    h = meter.create_histogram("http.server.request.duration", unit="ms")
    for v in (3, 7, 7, 120):
        h.record(v, {"http.route": "/cart"})


def _values(s: Serve, expr: str) -> dict[str, float]:
    """The query's result keyed by the series' ``http_route`` (or "" when it has none)."""
    return {str(r["metric"].get("http_route", "")): float(r["value"][1])  # type: ignore[index,union-attr]
            for r in s.query_until(expr)}


def test_sdk_exporter_pushes_and_guardia_answers(guardia: Serve) -> None:
    exporter = OTLPMetricExporter(endpoint=guardia.url + PATH, compression=Compression.Gzip)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=Resource.create(RESOURCE), metric_readers=[reader])
    _record(provider.get_meter("shop"))
    results: list[MetricExportResult] = []
    real_export = exporter.export

    def export(data: Any, **kw: Any) -> MetricExportResult:
        results.append(real_export(data, **kw))
        return results[-1]

    exporter.export = export  # type: ignore[method-assign]
    assert provider.force_flush(10_000)
    provider.shutdown()
    assert results and all(r is MetricExportResult.SUCCESS for r in results)

    sel = '{job="shop/checkout", instance="pod-7", deployment_environment_name="prod"}'
    assert _values(guardia, f"http_server_requests_total{sel}") == {"/cart": 3.0, "/pay": 1.0}
    assert _values(guardia, f"queue_depth{sel}") == {"": 4.0}
    buckets = {str(r["metric"]["le"]): float(r["value"][1])  # type: ignore[index]
               for r in guardia.query_until(f"http_server_request_duration_milliseconds_bucket{sel}")}
    assert buckets["5"] == 1 and buckets["10"] == 3 and buckets["100"] == 3 and buckets["+Inf"] == 4
    assert _values(guardia, f"http_server_request_duration_milliseconds_count{sel}") == {"/cart": 4}
    assert _values(guardia, f"http_server_request_duration_milliseconds_sum{sel}") == {"/cart": 137}
    q = "histogram_quantile(0.5, sum by (le) (http_server_request_duration_milliseconds_bucket))"
    assert 5 < _values(guardia, q)[""] <= 10
    info = guardia.query_until('target_info{job="shop/checkout"}')
    assert info[0]["metric"]["host_name"] == "node-1"  # type: ignore[index]
    assert "service_name" not in info[0]["metric"]  # type: ignore[operator]
    md = guardia.http.get("/api/v1/metadata").json()["data"]
    assert md["http_server_requests_total"] == [{"type": "counter", "help": "", "unit": "{request}"}]
    assert md["http_server_request_duration_milliseconds"][0]["type"] == "histogram"
    assert md["queue_depth"][0]["type"] == "gauge"
    # the usual join: a series enriched with a resource attribute from target_info
    joined = guardia.query_until(
        "http_server_requests_total * on (job, instance) group_left (host_name) target_info")
    assert {r["metric"]["host_name"] for r in joined} == {"node-1"}  # type: ignore[index]


def _sdk_request(temporality: AggregationTemporality, resource: dict[str, str]) -> Any:
    reader = InMemoryMetricReader(preferred_temporality={
        Counter: temporality, UpDownCounter: temporality, Histogram: temporality})
    provider = MeterProvider(resource=Resource.create(resource), metric_readers=[reader])
    _record(provider.get_meter("shop"))
    data = reader.get_metrics_data()
    provider.shutdown()
    return encode_metrics(data)


def test_json_with_gzip(guardia: Serve) -> None:
    req = _sdk_request(AggregationTemporality.CUMULATIVE, {**RESOURCE, "service.instance.id": "json-1"})
    body = gzip.compress(json_format.MessageToJson(req).encode())
    r = guardia.http.post(PATH, content=body, headers={"Content-Type": "application/json",
                                                       "Content-Encoding": "gzip"})
    assert (r.status_code, r.headers["content-type"], r.json()) == (200, "application/json", {})
    assert _values(guardia, 'http_server_requests_total{instance="json-1"}') == {"/cart": 3.0, "/pay": 1.0}


def test_delta_temporality_is_a_partial_success(guardia: Serve) -> None:
    req = _sdk_request(AggregationTemporality.DELTA, {**RESOURCE, "service.instance.id": "delta-1"})
    r = guardia.http.post(PATH, content=req.SerializeToString(),
                          headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
    resp = ExportMetricsServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_data_points == 4
    assert "invalid temporality and type combination for metric 'http.server.requests'" in (
        resp.partial_success.error_message)
    # the same in JSON, as a Collector sending JSON reads it
    r = guardia.http.post(PATH, content=json_format.MessageToJson(req),
                          headers={"Content-Type": "application/json"})
    assert r.json()["partialSuccess"]["rejectedDataPoints"] == "4"


@pytest.mark.parametrize(("headers", "body", "reason"), [
    ({"Content-Type": "text/plain"}, b"x", "unsupported content type: text/plain, supported: "
     "[application/json, application/x-protobuf]"),
    ({"Content-Type": "application/x-protobuf"}, b"\xff\xff\xff", "proto: cannot parse"),
    ({"Content-Type": PB, "Content-Encoding": "gzip"}, b"not gzip", "gzip: invalid body"),
    ({"Content-Type": PB, "Content-Encoding": "br"}, b"", "unsupported compression: br"),
    ({"Content-Type": "application/json"}, b"{", "invalid JSON"),
    ({"Content-Type": "application/json"}, b'{"resourceMetrics": 3}', "invalid ExportMetricsServiceRequest"),
    ({"Content-Type": "application/json"},
     orjson.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "m", "sum": {"dataPoints": [
         {"asInt": "1", "exemplars": [{"traceId": "zz"}]}]}}]}]}]}), "traceId 'zz' is not hex"),
])
def test_bad_bodies_get_400_and_a_reason(guardia: Serve, headers: dict[str, str], body: bytes,
                                          reason: str) -> None:
    r = guardia.http.post(PATH, content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("text/plain") and reason in r.text


def test_utf8_strategy_and_reload(tmp_path: Path) -> None:
    with serving(tmp_path, "otlp: {translation_strategy: NoUTF8EscapingWithSuffixes}\n") as s:
        req = _sdk_request(AggregationTemporality.CUMULATIVE, RESOURCE)
        r = s.http.post(PATH, content=req.SerializeToString(), headers={"Content-Type": PB})
        assert r.status_code == 200
        got = s.query_until('{__name__="http.server.requests_total"}')
        assert {str(x["metric"]["http.route"]) for x in got} == {"/cart", "/pay"}  # type: ignore[index]
        assert "deployment.environment.name" not in got[0]["metric"]  # type: ignore[operator]
        info = s.query_until("target_info")[0]["metric"]
        assert info["host.name"] == "node-1" and "service.instance.id" not in info  # type: ignore[index,operator]
        # a reload switches the strategy for the next request
        (tmp_path / "guardia.yml").write_text("otlp: {translation_strategy: NoTranslation}\n")
        assert s.http.post("/-/reload").status_code == 200
        req = _sdk_request(AggregationTemporality.CUMULATIVE, {**RESOURCE, "service.instance.id": "r2"})
        assert s.http.post(PATH, content=req.SerializeToString(),
                           headers={"Content-Type": "application/x-protobuf"}).status_code == 200
        got = s.query_until('{__name__="http.server.requests", instance="r2"}')
        assert len(got) == 2


def test_sdk_exponential_histogram_is_a_native_histogram(guardia: Serve) -> None:
    """The SDK's exponential bucket aggregation, exported over HTTP to ``guardia serve``,
    stored as a native histogram and read by PromQL's histogram functions."""
    from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View

    exporter = OTLPMetricExporter(endpoint=guardia.url + PATH)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        resource=Resource.create({**RESOURCE, "service.instance.id": "expo-1"}), metric_readers=[reader],
        views=[View(instrument_type=Histogram, aggregation=ExponentialBucketHistogramAggregation())],
    )
    h = provider.get_meter("shop").create_histogram("rpc.duration", unit="s")
    for v in (0.25, 0.5, 0.5, 3.0):
        h.record(v)
    assert provider.force_flush(10_000)
    provider.shutdown()
    sel = 'rpc_duration_seconds{instance="expo-1"}'
    assert _values(guardia, f"histogram_count({sel})") == {"": 4.0}
    assert _values(guardia, f"histogram_sum({sel})") == {"": 4.25}
    # three of the four at or below 0.5, which is a bucket bound at every scale
    assert _values(guardia, f"histogram_fraction(0, 0.5, {sel})") == {"": 0.75}
    (raw,) = guardia.query_until(sel)
    assert raw["histogram"][1]["count"] == "4"  # type: ignore[index]
