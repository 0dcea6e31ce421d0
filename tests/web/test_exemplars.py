"""Exemplars against a real Prometheus (Debian 2.42, ``--enable-feature=exemplar-storage``):
both scrape the same OpenMetrics target exposing exemplars, and Prometheus remote-writes
(``send_exemplars: true``) to a second guardia; ``/api/v1/query_exemplars`` answers the same
from all three.  Then the OTLP path: the OpenTelemetry SDK's exemplars reach the store too."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from guardia.promql import Engine
from guardia.storage.exemplars import ExemplarStore
from guardia.storage.tsdb import TSDB
from guardia.web import AppDeps, create_app
from guardia.web.api_v1 import ApiDeps
from tests.test_serve import Serve, _free_port, serving
from tests.web.conftest import LiveServer

PROMETHEUS = "/usr/bin/prometheus"
T0 = int(time.time())


def exposition(phase: int) -> str:
    """Phase 0, then phase 1 adds a newer exemplar to each series (the older stay stored)."""
    n = 5 + phase
    t = T0 + phase
    return f"""\
# TYPE checkout_requests counter
checkout_requests_total{{route="/cart"}} {n} # {{trace_id="aaa{phase}"}} 1 {T0 + phase}.5
# TYPE checkout_latency_seconds histogram
checkout_latency_seconds_bucket{{le="0.1"}} {n} # {{trace_id="bbb{phase}",span_id="s{phase}"}} 0.05 {t}
checkout_latency_seconds_bucket{{le="1.0"}} {n + 1} # {{trace_id="ccc{phase}"}} 0.7 {T0 + phase}.25
checkout_latency_seconds_bucket{{le="+Inf"}} {n + 1}
checkout_latency_seconds_sum {n * 0.3}
checkout_latency_seconds_count {n + 1}
# EOF
"""


class _Target(BaseHTTPRequestHandler):
    phase: ClassVar[int] = 0

    def do_GET(self) -> None:
        body = exposition(_Target.phase).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


QUERIES = ['checkout_requests_total', 'checkout_latency_seconds_bucket{le="1.0"}',
           '{__name__=~"checkout_.*"}', 'sum(rate(checkout_latency_seconds_bucket[1m])) / 2']


def exemplars(url: str, query: str) -> Any:
    r = httpx.get(f"{url}/api/v1/query_exemplars",
                  params={"query": query, "start": T0 - 3600, "end": T0 + 3600}, timeout=10).json()
    assert r["status"] == "success", r
    return r["data"]


def _until(check: Any, timeout: float = 40) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            if check():
                return
        except (httpx.TransportError, ValueError, KeyError):
            pass
        if time.time() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serve, str, str]]:
    tmp = tmp_path_factory.mktemp("exemplars")
    target = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    addr = f"127.0.0.1:{target.server_address[1]}"
    store = TSDB.open(tmp / "rw")
    rw_exemplars = ExemplarStore()
    rw_app = create_app(AppDeps(api=ApiDeps(storage=store, engine=Engine(), exemplars=rw_exemplars),
                                write_storage=store, exemplars=rw_exemplars))
    scrape = f"""
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: shop
    static_configs: [{{targets: ["{addr}"]}}]
"""
    port = _free_port()
    with LiveServer(rw_app) as receiver, serving(tmp, scrape) as guardia:
        cfg = tmp / "prometheus.yml"
        cfg.write_text(scrape + f"""
remote_write:
  - url: {receiver.url}/api/v1/write
    send_exemplars: true
    queue_config: {{batch_send_deadline: 500ms}}
""")
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}",
             f"--storage.tsdb.path={tmp / 'prom'}", "--enable-feature=exemplar-storage"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        prom = f"http://127.0.0.1:{port}"
        try:
            q = QUERIES[2]
            for url in (prom, guardia.url, receiver.url):
                _until(lambda u=url: len(exemplars(u, q)) == 3)
            _Target.phase = 1
            for url in (prom, guardia.url, receiver.url):
                _until(lambda u=url: all(len(s["exemplars"]) == 2 for s in exemplars(u, q)))
            yield guardia, prom, receiver.url
        finally:
            proc.terminate()
            proc.wait(10)
            target.shutdown()
            store.close()


@pytest.mark.parametrize("query", QUERIES)
def test_query_exemplars_answers_as_prometheus(peers: tuple[Serve, str, str], query: str) -> None:
    guardia, prom, receiver = peers
    want = exemplars(prom, query)
    assert want  # Prometheus has them: the comparison is not between two empty lists
    assert exemplars(guardia.url, query) == want
    assert exemplars(receiver, query) == want


def test_exemplar_shape_and_bad_requests(peers: tuple[Serve, str, str]) -> None:
    guardia, prom, _ = peers
    got = exemplars(guardia.url, 'checkout_latency_seconds_bucket{le="0.1"}')
    assert got[0]["exemplars"][0] == {"labels": {"span_id": "s0", "trace_id": "bbb0"}, "value": "0.05",
                                      "timestamp": T0}
    for url in (guardia.url, prom):  # no selector: no content
        r = httpx.get(f"{url}/api/v1/query_exemplars", params={"query": "1 + 1"})
        assert (r.status_code, r.content) == (204, b"")
    for params in ({"query": "rate(x[5m]"}, {"query": "up", "start": "10", "end": "5"}, {}):
        g = httpx.get(f"{guardia.url}/api/v1/query_exemplars", params=params)
        p = httpx.get(f"{prom}/api/v1/query_exemplars", params=params)
        assert g.status_code == p.status_code == 400, (params, g.text, p.text)
        assert g.json() == p.json()


def test_otlp_exemplars_are_stored(tmp_path: Path) -> None:
    from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("t")
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=Resource.create({"service.name": "api"}), metric_readers=[reader])
    hist = provider.get_meter("m").create_histogram("rpc.duration", unit="ms")
    with tracer.start_as_current_span("call") as span:
        hist.record(42.0)  # sampled span in context: the SDK attaches an exemplar
        trace_id = format(span.get_span_context().trace_id, "032x")
    req = encode_metrics(reader.get_metrics_data())
    provider.shutdown()
    q = {"query": "rpc_duration_milliseconds_bucket"}
    with serving(tmp_path, "global: {scrape_interval: 1h}\n") as s:
        r = s.http.post("/api/v1/otlp/v1/metrics", content=req.SerializeToString(),
                        headers={"Content-Type": "application/x-protobuf"})
        assert r.status_code == 200
        got = s.http.get("/api/v1/query_exemplars", params=q).json()
        [series] = got["data"]
        assert series["seriesLabels"]["le"] == "50" and series["seriesLabels"]["job"] == "api"
        assert series["exemplars"][0]["labels"]["trace_id"] == trace_id
        assert series["exemplars"][0]["value"] == "42"
    # a clean restart keeps them
    with serving(tmp_path, "global: {scrape_interval: 1h}\n") as s:
        assert s.http.get("/api/v1/query_exemplars", params=q).json()["data"] == got["data"]
