"""A real Prometheus (Debian 2.42) remote-writes what it scrapes to guardia (embedded TSDB); both
answer alike."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from guardia.promql import Engine
from guardia.storage.tsdb import TSDB
from guardia.web import AppDeps, create_app
from guardia.web.api_v1 import ApiDeps
from tests.web.conftest import LiveServer

PROMETHEUS = "/usr/bin/prometheus"

QUERIES = [
    "up",
    "prometheus_build_info",
    "count by (job) (up)",
    "scrape_samples_scraped",
    "sum(prometheus_http_requests_total)",
    "max_over_time(scrape_duration_seconds[10s])",
    'count({__name__=~"prometheus_tsdb_.*"})',
    "sum by (handler) (rate(prometheus_http_requests_total[5s]))",
    "histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[5s])))",
    "increase(prometheus_tsdb_head_samples_appended_total[3s])",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    tmp = tmp_path_factory.mktemp("prom")
    storage = TSDB.open(tmp / "guardia")
    app = create_app(AppDeps(api=ApiDeps(storage=storage, engine=Engine()), write_storage=storage))
    with LiveServer(app) as guardia:
        port = _free_port()
        cfg = tmp / "prometheus.yml"
        cfg.write_text(
            f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: prometheus
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
remote_write:
  - url: {guardia.url}/api/v1/write
    queue_config: {{batch_send_deadline: 500ms, max_samples_per_send: 2000}}
"""
        )
        proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={cfg}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--storage.tsdb.path={Path(tmp) / 'data'}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            with (
                httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as prom,
                httpx.Client(base_url=guardia.url, timeout=10) as g,
            ):
                yield prom, g
        finally:
            proc.terminate()
            proc.wait(10)
    storage.close()


def _wait_for(g: httpx.Client, t: float) -> None:
    """Until guardia holds samples at or after ``t`` (remote write runs behind scraping)."""
    deadline = time.time() + 20
    while time.time() < deadline:
        r = g.get("/api/v1/query", params={"query": "max(timestamp(up))", "time": time.time()}).json()
        res = r["data"]["result"]
        if res and float(res[0]["value"][1]) >= t:
            return
        time.sleep(0.3)
    raise AssertionError("guardia did not receive Prometheus's samples in 20 s")


def test_remote_written_data_answers_like_prometheus(pair: tuple[httpx.Client, httpx.Client]) -> None:
    prom, g = pair
    time.sleep(4)  # a few scrapes so rates and _over_time have data
    t = round(time.time() - 1.5, 3)
    _wait_for(g, t + 1)
    for q in QUERIES:
        want = prom.get("/api/v1/query", params={"query": q, "time": t}).json()
        got = g.get("/api/v1/query", params={"query": q, "time": t}).json()
        assert want["status"] == "success"
        key = lambda s: sorted(s["metric"].items())  # noqa: E731
        assert sorted(got["data"]["result"], key=key) == sorted(want["data"]["result"], key=key), q
    params = {"query": "up", "start": t - 3, "end": t, "step": "1"}
    want = prom.get("/api/v1/query_range", params=params).json()["data"]
    got = g.get("/api/v1/query_range", params=params).json()["data"]
    assert got == want
    series_params = {"match[]": "up", "start": t - 3, "end": t}
    assert (
        g.get("/api/v1/series", params=series_params).json()
        == prom.get("/api/v1/series", params=series_params).json()
    )
