"""Out-of-order native histograms through a real ``guardia serve``'s HTTP receivers: remote
write 1.0 (an integer histogram), 2.0 (a custom-bucket float histogram) and OTLP (an
exponential histogram), each sent newest first and then 5 minutes back: accepted within the
``out_of_order_time_window``, answered in time order by the query API's JSON, still there
after a restart; 20 minutes back (outside the window) the request is refused."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cramjam
import httpx
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from guardia.storage.remote.proto import Histogram, V2Request, WriteRequest
from tests.test_serve import Serve

CONFIG = """
global: {scrape_interval: 1h}
storage:
  tsdb: {out_of_order_time_window: 10m}
"""
MIN = 60_000
PB = "application/x-protobuf"


def _v1(s: Serve, t_ms: int, k: int) -> httpx.Response:
    req = WriteRequest()
    ts = req.timeseries.add()
    ts.labels.add(name="__name__", value="ooo_v1_seconds")
    h = Histogram(count_int=3 * k, sum=1.5 * k, schema=0, zero_threshold=1e-128, zero_count_int=k,
                  positive_deltas=[k, 0], timestamp=t_ms)
    h.positive_spans.add(offset=1, length=2)
    ts.histograms.append(h)
    return s.http.post("/api/v1/write", content=bytes(cramjam.snappy.compress_raw(req.SerializeToString())),
                       headers={"Content-Encoding": "snappy", "Content-Type": PB,
                                "X-Prometheus-Remote-Write-Version": "0.1.0"})


def _v2(s: Serve, t_ms: int, k: int) -> httpx.Response:
    req = V2Request()
    req.symbols.extend(["", "__name__", "ooo_v2_seconds"])
    ts = req.timeseries.add()
    ts.labels_refs.extend([1, 2])
    h = Histogram(count_float=2.5 * k, sum=0.75 * k, schema=-53, custom_values=[0.5, 1.0],
                  positive_counts=[1.5 * k, k], timestamp=t_ms)
    h.positive_spans.add(offset=0, length=2)
    ts.histograms.append(h.SerializeToString())
    return s.http.post("/api/v1/write", content=bytes(cramjam.snappy.compress_raw(req.SerializeToString())),
                       headers={"Content-Encoding": "snappy",
                                "Content-Type": f"{PB};proto=io.prometheus.write.v2.Request",
                                "X-Prometheus-Remote-Write-Version": "2.0.0"})


def _otlp(s: Serve, t_ms: int, k: int) -> httpx.Response:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    attr = rm.resource.attributes.add()
    attr.key, attr.value.string_value = "service.name", "shop"
    metric = rm.scope_metrics.add().metrics.add()
    metric.name = "ooo_otlp_latency"
    metric.exponential_histogram.aggregation_temporality = 2  # cumulative
    p = metric.exponential_histogram.data_points.add()
    p.start_time_unix_nano = 1
    p.time_unix_nano = t_ms * 1_000_000
    p.count, p.sum, p.scale, p.zero_count = 4 * k, 2.0 * k, 1, k
    p.positive.offset = 2
    p.positive.bucket_counts.extend([k, 2 * k])
    return s.http.post("/api/v1/otlp/v1/metrics", content=req.SerializeToString(),
                       headers={"Content-Type": PB})


def _histograms(s: Serve, name: str, now_ms: int) -> list[tuple[int, dict[str, Any]]]:
    r = s.http.get("/api/v1/query", params={"query": f"{name}[30m]", "time": now_ms / 1000}).json()
    assert r["status"] == "success", r
    (series,) = r["data"]["result"]
    return [(round(float(t) * 1000), h) for t, h in series["histograms"]]


def test_out_of_order_histograms_through_remote_write_and_otlp(tmp_path: Path) -> None:
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(CONFIG)
    now = (int(time.time()) - 60) * 1000
    sends = {"ooo_v1_seconds": _v1, "ooo_v2_seconds": _v2, "ooo_otlp_latency": _otlp}
    s = Serve(tmp_path, "--config", str(cfg))
    try:
        s.wait_ready()
        for send in sends.values():
            for t, k in ((now, 10), (now - 5 * MIN, 4)):  # newest first: the second is out of order
                r = send(s, t, k)
                assert r.status_code in (200, 204), (send.__name__, r.text)
        assert _v1(s, now - 20 * MIN, 1).status_code == 400  # outside the window: refused
        assert _v2(s, now - 20 * MIN, 1).status_code == 400
        want: dict[str, list[tuple[int, float]]] = {
            "ooo_v1_seconds": [(now - 5 * MIN, 12.0), (now, 30.0)],
            "ooo_v2_seconds": [(now - 5 * MIN, 10.0), (now, 25.0)],
            "ooo_otlp_latency": [(now - 5 * MIN, 16.0), (now, 40.0)],
        }
        metrics = s.http.get("/metrics").text
        line = 'prometheus_tsdb_head_out_of_order_samples_appended_total{type="histogram"} '
        assert [float(x[len(line):]) for x in metrics.splitlines() if x.startswith(line)] == [3.0]
        for run in ("live", "restarted"):
            if run == "restarted":
                s.stop()
                s = Serve(tmp_path, "--config", str(cfg))
                s.wait_ready()
            for name in sends:
                got = _histograms(s, name, now)
                assert [(t, float(h["count"])) for t, h in got] == want[name], (run, name)
    finally:
        if s.proc.poll() is None:
            s.stop()
