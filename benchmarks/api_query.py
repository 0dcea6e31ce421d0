"""HTTP API throughput: requests/s and p99 latency of a dashboard's query mix.

The server (the API app on the embedded TSDB, in its own process, as ``guardia serve`` runs
it) holds 100,000 counter series (10 jobs x 100 instances x 20 paths x 5 codes) with 30 min
of 15 s data.  The client replays what a Grafana dashboard with template variables sends on
refresh: label values for the variables, a series lookup, and range/instant queries over one
job, over 4 connections for a fixed time.  The last line is requests/s and p99 latency.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

import httpx
import numpy as np

JOBS, INSTANCES, PATHS, CODES = 10, 100, 20, 5
STEP_MS = 15_000
SPAN_MS = 30 * 60_000
T_END = 1_700_000_000_000
SECONDS = 10.0


def build(data_dir: str) -> Any:
    from guardia.model import Labels
    from guardia.storage.tsdb import TSDB

    db = TSDB.open(data_dir)
    app = db.appender()
    refs = np.array(
        [
            app.ref(
                Labels.of(
                    __name__="http_requests_total",
                    job=f"job-{j}",
                    instance=f"i-{i}",
                    path=f"/p{p}",
                    code=str(200 + 100 * (c % 4) + c),
                )
            )
            for j in range(JOBS)
            for i in range(INSTANCES)
            for p in range(PATHS)
            for c in range(CODES)
        ],
        dtype=np.int64,
    )
    app.commit()
    rng = np.random.default_rng(1)
    rates = rng.uniform(0.1, 5.0, refs.shape[0])
    values = np.zeros(refs.shape[0])
    for t in range(T_END - SPAN_MS, T_END + 1, STEP_MS):
        values += rates * 15 * rng.uniform(0.8, 1.2, refs.shape[0])
        app = db.appender()
        app.append_batch(refs, t, values)
        app.commit()
    return db


def serve(port: int, data_dir: str) -> None:
    import uvicorn

    from guardia.promql import Engine
    from guardia.web import AppDeps, create_app
    from guardia.web.api_v1 import ApiDeps

    started = time.perf_counter()
    db = build(data_dir)
    print(
        f"loaded {JOBS * INSTANCES * PATHS * CODES} series in {time.perf_counter() - started:.1f}s",
        flush=True,
    )
    app = create_app(AppDeps(api=ApiDeps(storage=db, engine=Engine(), now_ms=lambda: T_END)))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def dashboard_requests() -> list[tuple[str, str, dict[str, str]]]:
    """One dashboard refresh: what Grafana sends, in order."""
    s, e = str((T_END - SPAN_MS) / 1000), str(T_END / 1000)
    sel = 'job="job-3"'
    rng = {"start": s, "end": e, "step": "15"}
    return [
        ("GET", "/api/v1/label/job/values", {"start": s, "end": e}),
        (
            "GET",
            "/api/v1/label/instance/values",
            {"match[]": f"http_requests_total{{{sel}}}", "start": s, "end": e},
        ),
        (
            "GET",
            "/api/v1/series",
            {"match[]": f'http_requests_total{{{sel},instance="i-7"}}', "start": s, "end": e},
        ),
        (
            "POST",
            "/api/v1/query_range",
            {"query": f"sum by (code) (rate(http_requests_total{{{sel}}}[5m]))", **rng},
        ),
        (
            "POST",
            "/api/v1/query_range",
            {
                "query": f'sum(rate(http_requests_total{{{sel},code=~"5.."}}[5m])) / '
                f"sum(rate(http_requests_total{{{sel}}}[5m]))",
                **rng,
            },
        ),
        (
            "POST",
            "/api/v1/query_range",
            {
                "query": f'topk(5, sum by (path) (rate(http_requests_total{{{sel},instance="i-7"}}[5m])))',
                **rng,
            },
        ),
        ("POST", "/api/v1/query", {"query": f"sum(increase(http_requests_total{{{sel}}}[30m]))", "time": e}),
        (
            "POST",
            "/api/v1/query",
            {"query": f"count by (instance) (http_requests_total{{{sel}}})", "time": e},
        ),
    ]


async def load(url: str, concurrency: int) -> tuple[int, list[float], dict[str, list[float]]]:
    reqs = dashboard_requests()
    latencies: list[float] = []
    by_request: dict[str, list[float]] = {}
    done = 0
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        started = time.perf_counter()

        async def worker(offset: int) -> None:
            nonlocal done
            i = offset
            while time.perf_counter() - started < SECONDS:
                method, path, params = reqs[i % len(reqs)]
                t0 = time.perf_counter()
                if method == "GET":
                    r = await c.get(path, params=params)
                else:
                    r = await c.post(path, data=params)
                latencies.append(time.perf_counter() - t0)
                label = f"{path} {params.get('query', params.get('match[]', ''))[:60]}"
                by_request.setdefault(label, []).append(latencies[-1])
                if r.status_code != 200 or r.json()["status"] != "success":
                    raise SystemExit(f"{path} failed: {r.text[:300]}")
                done += 1
                i += 1

        await asyncio.gather(*(worker(k * 3) for k in range(concurrency)))
        return int(done / (time.perf_counter() - started)), latencies, by_request


def encoding_ms(n_series: int = 500, n_points: int = 241) -> float:
    """Milliseconds to encode a range answer of ``n_series`` x ``n_points`` (a panel of
    bucket rates) into the API's JSON, the part of an HTTP query that is not the engine."""
    from guardia.model import Labels
    from guardia.storage.interface import Series
    from guardia.web.envelope import success_raw
    from guardia.web.format import result_json

    rng = np.random.default_rng(2)
    ts = np.arange(n_points, dtype=np.int64) * STEP_MS + T_END - SPAN_MS
    series = [
        Series(Labels.of(le=str(i % 12), instance=f"i-{i}"), ts, rng.uniform(0, 50, n_points))
        for i in range(n_series)
    ]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        success_raw(result_json("matrix", series))
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), sys.argv[3])
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.api_query", "--serve", str(port), d],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            print(proc.stdout.readline().strip())
            url = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    httpx.get(url + "/-/ready")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            rate, lat, by_request = asyncio.run(load(url, 4))
        finally:
            proc.terminate()
            proc.wait(10)
    for label, values in by_request.items():
        print(f"  median {np.median(values) * 1000:8.1f} ms  {label}")
    lat_ms = np.array(lat) * 1000
    p50, p90 = np.percentile(lat_ms, 50), np.percentile(lat_ms, 90)
    print(f"requests: {len(lat)}, p50 {p50:.1f} ms, p90 {p90:.1f} ms")
    print(f"result encoding: 500 series x 241 points in {encoding_ms():.1f} ms")
    print(f"api_query dashboard mix, 100,000 series: {rate} req/s, p99 {np.percentile(lat_ms, 99):.0f} ms")


if __name__ == "__main__":
    main()
