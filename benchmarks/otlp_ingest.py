"""OTLP receiver cost: CPU per stored sample for decode (protobuf) + Prometheus-3 translation +
append into the embedded TSDB (WAL included), without HTTP.

Each request is what an OpenTelemetry SDK exports every interval for one service: a counter
with 1,000 attribute sets (``http.route`` × ``http.response.status_code``) and an explicit-bucket
histogram with 50 attribute sets and the SDK's 16 default bounds (1,000 + 50 × 19 = 1,950
samples, plus ``target_info``), built with the protobuf classes and serialised beforehand.
60 rounds, 15 s apart.  Prints the decode, translate and append shares; the last line is the
rate in samples per CPU second.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from guardia.storage.remote.otlp_receive import OtlpReceiver, decode
from guardia.storage.remote.otlp_translate import OtlpSettings, translate
from guardia.storage.tsdb import TSDB

ROUNDS = 60
T0_NS = 1_700_000_000_000 * 1_000_000
BOUNDS = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000]


def _attr(kv: Any, key: str, value: str) -> None:
    a = kv.add()
    a.key = key
    a.value.string_value = value


def request(round_: int) -> bytes:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    for k, v in (("service.name", "checkout"), ("service.instance.id", "pod-1"), ("host.name", "n1")):
        _attr(rm.resource.attributes, k, v)
    sm = rm.scope_metrics.add()
    sm.scope.name = "shop"
    t = T0_NS + round_ * 15_000_000_000
    c = sm.metrics.add()
    c.name, c.unit = "http.server.requests", "{request}"
    c.sum.is_monotonic = True
    c.sum.aggregation_temporality = 2
    for i in range(1_000):
        p = c.sum.data_points.add()
        _attr(p.attributes, "http.route", f"/r{i // 5}")
        _attr(p.attributes, "http.response.status_code", ("200", "201", "404", "500", "503")[i % 5])
        p.start_time_unix_nano, p.time_unix_nano, p.as_int = T0_NS, t, round_ * 10 + i
    h = sm.metrics.add()
    h.name, h.unit = "http.server.request.duration", "ms"
    h.histogram.aggregation_temporality = 2
    for i in range(50):
        p = h.histogram.data_points.add()
        _attr(p.attributes, "http.route", f"/r{i}")
        p.start_time_unix_nano, p.time_unix_nano = T0_NS, t
        p.explicit_bounds.extend(BOUNDS)
        p.bucket_counts.extend([round_ + j for j in range(len(BOUNDS) + 1)])
        p.count = sum(p.bucket_counts)
        p.sum = 12.5 * p.count
    return bytes(req.SerializeToString())


def main() -> None:
    bodies = [request(r) for r in range(ROUNDS)]
    settings = OtlpSettings()
    with tempfile.TemporaryDirectory() as d:
        db = TSDB.open(d)
        rx = OtlpReceiver(db)
        dec = tr = total = 0.0
        samples = 0
        for body in bodies:
            c0 = time.process_time()
            msg = decode(body, "application/x-protobuf", "")
            c1 = time.process_time()
            translate(msg, settings)  # measured alone; ingest translates again and appends
            c2 = time.process_time()
            result = rx.ingest(msg, settings)
            c3 = time.process_time()
            dec += c1 - c0
            tr += c2 - c1
            total += (c1 - c0) + (c3 - c2)
            samples += result.appended
        db.close()
    print(f"{samples} samples in {ROUNDS} requests")
    print(f"decode {dec / samples * 1e6:.2f} us/sample, translate {tr / samples * 1e6:.2f} us/sample, "
          f"decode+translate+append {total / samples * 1e6:.2f} us/sample")
    print(f"OTLP ingest: {samples / total:,.0f} samples per CPU second")


if __name__ == "__main__":
    main()
