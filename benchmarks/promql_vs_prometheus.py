"""Side by side with Prometheus: the same range queries over HTTP, on the same data.

One OpenMetrics file holds 4,000 series (750 ``http_requests_total`` counters, 250
12-bucket ``http_request_duration_seconds`` histograms with ``_count``), 2 h at 15 s.
Prometheus (the Debian binary) reads it after ``promtool tsdb create-blocks-from
openmetrics``; guardia serves the same samples from its embedded TSDB (loaded through the
appender: guardia has no OpenMetrics backfill command yet) with its HTTP API app.  Both
answer the issue's two range queries (2 h, step 15 s, 5m windows); the median of 5 runs
after a warm-up is reported.  The last line is guardia's time relative to Prometheus's.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

INSTANCES = 250
STATUSES = ["200", "404", "500"]
LE = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
STEP_S = 15
SPAN_S = 2 * 3600
T_END_S = (int(time.time()) // 7200) * 7200 - 7200
QUERIES = [
    "sum by (status) (rate(http_requests_total[5m]))",
    "histogram_quantile(0.95, sum by (le, instance) (rate(http_request_duration_seconds_bucket[5m])))",
]


def times() -> np.ndarray:
    return np.arange(T_END_S - SPAN_S, T_END_S + 1, STEP_S)


def data() -> tuple[list[dict[str, str]], np.ndarray]:
    """Labels and values (series x samples) of every series, deterministic."""
    rng = np.random.default_rng(42)
    n = len(times())
    labels: list[dict[str, str]] = []
    rows: list[np.ndarray] = []
    for i in range(INSTANCES):
        for s in STATUSES:
            labels.append({"__name__": "http_requests_total", "instance": f"i{i}", "status": s})
            rows.append(np.cumsum(rng.poisson(20 if s == "200" else 2, n)).astype(np.float64))
    shares = np.linspace(0.05, 1.0, len(LE))
    for i in range(INSTANCES):
        obs = np.cumsum(rng.poisson(15, n)).astype(np.float64)
        for k, le in enumerate(LE):
            labels.append({"__name__": "http_request_duration_seconds_bucket", "instance": f"i{i}", "le": le})
            rows.append(np.floor(obs * shares[k]))
        labels.append({"__name__": "http_request_duration_seconds_count", "instance": f"i{i}"})
        rows.append(obs)
    return labels, np.array(rows)


def _fmt(ls: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in ls.items() if k != "__name__")
    return f"{ls['__name__']}{{{inner}}}"


def write_openmetrics(path: Path) -> None:
    labels, values = data()
    ts = times()
    names = [_fmt(ls) for ls in labels]
    ctr = [i for i, ls in enumerate(labels) if ls["__name__"] == "http_requests_total"]
    hist = [i for i, ls in enumerate(labels) if ls["__name__"] != "http_requests_total"]
    with path.open("w") as f:
        for family, typ, rows in (
            ("http_requests", "counter", ctr),
            ("http_request_duration_seconds", "histogram", hist),
        ):
            f.write(f"# TYPE {family} {typ}\n")
            for k, t in enumerate(ts):
                f.write("".join(f"{names[r]} {values[r, k]:.17g} {t}\n" for r in rows))
        f.write("# EOF\n")


def serve_guardia(port: int, data_dir: str) -> None:
    import uvicorn

    from guardia.model import Labels
    from guardia.promql import Engine
    from guardia.storage.tsdb import TSDB
    from guardia.web import AppDeps, create_app
    from guardia.web.api_v1 import ApiDeps

    db = TSDB.open(data_dir)
    labels, values = data()
    app = db.appender()
    refs = np.array([app.ref(Labels(ls)) for ls in labels], dtype=np.int64)
    app.commit()
    for k, t in enumerate(times()):
        app = db.appender()
        app.append_batch(refs, int(t) * 1000, values[:, k])
        app.commit()
    print("loaded", flush=True)
    deps = AppDeps(api=ApiDeps(storage=db, engine=Engine(), now_ms=lambda: T_END_S * 1000))
    uvicorn.run(create_app(deps), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, path: str, proc: subprocess.Popen[str], seconds: float = 300) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early ({proc.returncode})")
        try:
            if httpx.get(url + path, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready")


def time_queries(url: str) -> list[tuple[float, int]]:
    out = []
    with httpx.Client(base_url=url, timeout=120) as c:
        for q in QUERIES:
            params = {"query": q, "start": str(T_END_S - SPAN_S), "end": str(T_END_S), "step": str(STEP_S)}
            runs = []
            series = 0
            for k in range(6):
                t0 = time.perf_counter()
                r = c.post("/api/v1/query_range", data=params)
                dt = time.perf_counter() - t0
                body = r.json()
                if body.get("status") != "success":
                    raise SystemExit(f"{url}: {q}: {r.text[:300]}")
                series = len(body["data"]["result"])
                if k:
                    runs.append(dt)
            out.append((float(np.median(runs)), series))
    return out


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve_guardia(int(sys.argv[2]), sys.argv[3])
        return
    with tempfile.TemporaryDirectory() as d:
        om = Path(d) / "data.om"
        t0 = time.perf_counter()
        write_openmetrics(om)
        prom_dir = Path(d) / "prom"
        subprocess.run(
            ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(om), str(prom_dir)],
            check=True, capture_output=True,
        )
        print(f"OpenMetrics file + promtool backfill: {time.perf_counter() - t0:.1f}s")
        cfg = Path(d) / "prometheus.yml"
        cfg.write_text("global:\n  scrape_interval: 1h\n")
        pport, gport = _free_port(), _free_port()
        procs = [
            subprocess.Popen(
                ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={prom_dir}",
                 "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{pport}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
            ),
            subprocess.Popen(
                [sys.executable, "-m", "benchmarks.promql_vs_prometheus", "--serve", str(gport),
                 str(Path(d) / "guardia")],
                stdout=subprocess.DEVNULL, text=True, env={**os.environ},
            ),
        ]
        try:
            _wait(f"http://127.0.0.1:{pport}", "/-/ready", procs[0])
            _wait(f"http://127.0.0.1:{gport}", "/-/ready", procs[1])
            prom = time_queries(f"http://127.0.0.1:{pport}")
            guard = time_queries(f"http://127.0.0.1:{gport}")
        finally:
            for p in procs:
                p.terminate()
                p.wait(20)
    ratios = []
    for q, (pt, ps), (gt, gs) in zip(QUERIES, prom, guard, strict=True):
        ratios.append(gt / pt)
        print(f"{q}\n  prometheus 2.42: {pt * 1000:.0f} ms ({ps} series); "
              f"guardia: {gt * 1000:.0f} ms ({gs} series); ratio {gt / pt:.2f}")
    print(f"guardia/prometheus time ratio (worst of both queries): {max(ratios):.2f}")


if __name__ == "__main__":
    main()
