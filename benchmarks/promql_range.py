"""PromQL range-query throughput over the embedded TSDB.

10,000 counter series (``http_requests_total``) and 10,008 classic-histogram bucket
series (834 histograms x 12 buckets) hold 1 h of 15 s data.  Timed: the two range queries
of issue 6 at a 15 s step, and a 50-query instant mix.  "Samples processed" counts every
sample a window or lookback read (Prometheus's total queryable samples).  The last line
is the rate query's samples per second.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np

from guardia.model import Labels
from guardia.promql import Engine

STEP_MS = 15_000
HOUR_MS = 3_600_000
ROUTES = [f"/api/v{i % 3}/r{i}" for i in range(20)]
BOUNDS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]


def _open_storage(path: str):  # type: ignore[no-untyped-def]
    try:
        from guardia.storage.tsdb import TSDB

        return TSDB.open(path), "embedded TSDB"
    except ImportError:
        from guardia.storage.memory import MemoryStorage

        return MemoryStorage(), "MemoryStorage"


def load(storage) -> int:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    app = storage.appender()
    counters = [
        Labels({"__name__": "http_requests_total", "route": ROUTES[i % len(ROUTES)],
                "instance": f"i{i // len(ROUTES)}", "status": "200"})
        for i in range(10_000)
    ]
    buckets = [
        Labels({"__name__": "http_request_duration_seconds_bucket", "route": ROUTES[h % len(ROUTES)],
                "instance": f"i{h // len(ROUTES)}", "le": le})
        for h in range(834)
        for le in BOUNDS
    ]
    refs = np.array([app.ref(ls) for ls in counters + buckets], dtype=np.int64)
    app.commit()
    n_c = len(counters)
    rates = rng.uniform(0.1, 10, n_c)
    frac = np.tile(np.linspace(0.1, 1.0, len(BOUNDS)), 834)
    hrates = np.repeat(rng.uniform(0.1, 5, 834), len(BOUNDS)) * frac
    total = 0
    for k in range(HOUR_MS // STEP_MS):
        t = k * STEP_MS
        vals = np.concatenate([rates * k * 15, np.floor(hrates * k * 15)])
        app = storage.appender()
        app.append_batch(refs, t, vals)
        app.commit()
        total += len(vals)
    return total


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        storage, kind = _open_storage(d)
        t0 = time.perf_counter()
        n = load(storage)
        print(f"storage: {kind}; loaded {n:,} samples in {time.perf_counter() - t0:.1f}s")
        eng = Engine()
        start, end = 5 * 60_000, HOUR_MS - STEP_MS
        queries = {
            "hq": "histogram_quantile(0.95, sum by (le, route) "
            "(rate(http_request_duration_seconds_bucket[5m])))",
            "rate": "sum by (route) (rate(http_requests_total[5m]))",
        }
        results = {}
        for name, q in queries.items():
            eng.range(storage, q, start, end, STEP_MS)  # warm-up
            t0 = time.perf_counter()
            res = eng.range(storage, q, start, end, STEP_MS)
            dt = time.perf_counter() - t0
            results[name] = res.samples / dt
            print(f"{name}: {q}\n  {len(res.value)} series, {res.samples:,} samples in {dt * 1000:.0f} ms "
                  f"= {res.samples / dt:,.0f} samples/s")
        mix = [
            "sum(rate(http_requests_total[5m]))",
            "sum by (route) (increase(http_requests_total[1h]))",
            "topk(5, sum by (route) (rate(http_requests_total[5m])))",
            "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
            "count(http_requests_total)",
            "max_over_time(http_requests_total{route=\"/api/v0/r0\"}[10m])",
            "avg by (instance) (irate(http_requests_total[1m]))",
            "http_requests_total{route=~\"/api/v1.*\"} / 100",
            "sum by (route) (rate(http_requests_total[5m])) / on(route) group_left sum by (route) "
            "(rate(http_requests_total[5m]))",
            "absent(nonexistent_metric)",
        ] * 5
        t0 = time.perf_counter()
        samples = 0
        for i, q in enumerate(mix):
            samples += eng.instant(storage, q, HOUR_MS - STEP_MS - i * 1000).samples
        dt = time.perf_counter() - t0
        print(f"instant mix: {len(mix)} queries in {dt * 1000:.0f} ms, {samples:,} samples = "
              f"{samples / dt:,.0f} samples/s")
        storage.close()
        print(f"rate query samples/s: {results['rate']:,.0f}")


if __name__ == "__main__":
    main()
