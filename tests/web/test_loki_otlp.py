"""``POST /otlp/v1/logs``: the OpenTelemetry Python SDK's OTLP/HTTP log exporter pushing to guardia,
records mapped to streams and structured metadata as Loki 3 maps them; OTLP/JSON; bad bodies."""

from __future__ import annotations

import gzip
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from guardia.logs import LogStore
from guardia.web.loki_api import LokiApi
from tests.web.conftest import LiveServer

NS = 1_000_000_000


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[LogStore, httpx.Client]]:
    store = LogStore(tmp_path / "logs")
    app = Starlette(routes=LokiApi(store).routes())
    with LiveServer(app) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        yield store, c
    store.close()


def _streams(c: httpx.Client, query: str) -> list[dict[str, object]]:
    now = time.time_ns()
    r = c.get("/loki/api/v1/query_range", params={
        "query": query, "limit": "1000", "start": str(now - 3600 * NS), "end": str(now + 60 * NS),
        "direction": "forward"})
    assert r.status_code == 200, r.text
    return r.json()["data"]["result"]  # type: ignore[no-any-return]


def _lines(c: httpx.Client, query: str) -> list[str]:
    return [v[1] for s in _streams(c, query) for v in s["values"]]  # type: ignore[index, attr-defined]


@pytest.mark.parametrize("gzipped", [False, True])
def test_opentelemetry_sdk_exporter_pushes_logs_mapped_as_loki_maps_them(served, gzipped: bool) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    _, c = served
    resource = Resource.create({
        "service.name": "checkout", "k8s.namespace.name": "shop", "host.name": "node-7",
        "deployment.environment": "prod",
    })
    provider = LoggerProvider(resource=resource)
    exporter = OTLPLogExporter(
        endpoint=f"{c.base_url}/otlp/v1/logs",
        compression=Compression.Gzip if gzipped else Compression.NoCompression,
    )
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(level=logging.INFO, logger_provider=provider)
    logger = logging.getLogger(f"test.otlp.{gzipped}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        logger.error("payment failed for order %d", 42, extra={"order.id": 42, "retry": True})
        logger.info("checkout page rendered")
        provider.force_flush()
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    # index labels: the resource attributes Loki indexes by default, dots as underscores
    series = c.get("/loki/api/v1/series", params={"match[]": '{service_name="checkout"}'}).json()["data"]
    [labels] = series
    labels.pop("service_instance_id", None)  # newer SDKs add one; Loki indexes it too
    assert labels == {
        "service_name": "checkout", "k8s_namespace_name": "shop", "deployment_environment": "prod"
    }
    assert _lines(c, '{service_name="checkout"}') == ["payment failed for order 42", "checkout page rendered"]
    # the rest is structured metadata, usable as labels in queries
    assert _lines(c, '{service_name="checkout"} | severity_text="ERROR"') == ["payment failed for order 42"]
    assert _lines(c, '{service_name="checkout"} | severity_number="9"') == ["checkout page rendered"]
    assert _lines(c, '{service_name="checkout"} | host_name="node-7" | order_id="42" | retry="true"') == [
        "payment failed for order 42"
    ]
    assert _lines(c, f'{{service_name="checkout"}} | scope_name="test.otlp.{gzipped}"') == [
        "payment failed for order 42", "checkout page rendered"
    ]
    labels = c.get("/loki/api/v1/labels").json()["data"]
    assert "host_name" not in labels and "service_name" in labels


def test_otlp_json_body_with_nested_and_typed_attributes(served) -> None:
    _, c = served
    t = time.time_ns()
    body = {"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.namespace", "value": {"stringValue": "billing"}}]},
        "scopeLogs": [{
            "scope": {"name": "invoices", "version": "1.2.0"},
            "logRecords": [
                {"timeUnixNano": str(t), "severityNumber": 17, "severityText": "ERROR",
                 "body": {"stringValue": "invoice 7 failed"},
                 "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
                 "attributes": [
                     {"key": "http", "value": {"kvlistValue": {"values": [
                         {"key": "status", "value": {"intValue": "502"}}]}}},
                     {"key": "ratio", "value": {"doubleValue": 0.5}},
                 ]},
                {"observedTimeUnixNano": str(t + 1),
                 "body": {"kvlistValue": {"values": [{"key": "a", "value": {"boolValue": True}}]}}},
            ],
        }],
    }]}
    r = c.post("/otlp/v1/logs", content=orjson.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json() == {}
    series = c.get("/loki/api/v1/series", params={"match[]": '{service_name="unknown_service"}'}).json()
    assert series["data"] == [{"service_name": "unknown_service", "service_namespace": "billing"}]
    assert _lines(c, '{service_name="unknown_service"}') == ["invoice 7 failed", '{"a":true}']
    q = ('{service_namespace="billing"} | http_status="502" | ratio="0.5" | scope_version="1.2.0"'
         ' | trace_id="5b8efff798038103d269b633813fc60c" | span_id="eee19b7ec3c1b174"')
    assert _lines(c, q) == ["invoice 7 failed"]
    gz = c.post("/otlp/v1/logs", content=gzip.compress(orjson.dumps(body)),
                headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert gz.status_code == 200


@pytest.mark.parametrize(
    ("body", "ctype", "status", "msg"),
    [
        (b"{", "application/json", 400, "not JSON"),
        (b'{"resourceLogs": [{"scopeLogs": 5}]}', "application/json", 400, "ExportLogsServiceRequest"),
        (b"\x0a\xff", "application/x-protobuf", 400, "not a protobuf ExportLogsServiceRequest"),
        (b"x", "text/plain", 415, "application/x-protobuf"),
    ],
)
def test_bad_otlp_bodies_name_the_problem(served, body: bytes, ctype: str, status: int, msg: str) -> None:
    _, c = served
    r = c.post("/otlp/v1/logs", content=body, headers={"Content-Type": ctype})
    assert r.status_code == status and msg in r.text, r.text
