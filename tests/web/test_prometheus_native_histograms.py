"""A real Prometheus (Debian 2.42, ``--enable-feature=native-histograms``) scrapes a target
serving native histograms in the protobuf exposition format (encoded by hand here) and
remote-writes them to guardia (embedded TSDB, ``send_native_histograms``): the raw
histograms and PromQL over them answer alike from both."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from guardia.model.varint import encode_varint
from guardia.promql import Engine
from guardia.storage.tsdb import TSDB
from guardia.web import AppDeps, create_app
from guardia.web.api_v1 import ApiDeps
from tests.web.conftest import LiveServer

PROMETHEUS = "/usr/bin/prometheus"
CONTENT_TYPE = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"

QUERIES = [
    "rpc_duration_seconds",
    "rpc_fine_seconds",  # every bound of schema 8, as Prometheus's table gives them
    "histogram_count(rpc_duration_seconds)",
    "histogram_sum(rpc_duration_seconds)",
    "histogram_count(rate(rpc_duration_seconds[5s]))",
    "histogram_sum(increase(rpc_duration_seconds[5s]))",
    # the edges only: inside a bucket Prometheus 3 (and guardia) interpolates exponentially
    # where 2.42 interpolated linearly, and a median between two buckets is found from the
    # top (4) rather than the bottom (2); the conformance scripts check those
    "histogram_quantile(0, rate(rpc_duration_seconds[5s]))",
    "histogram_quantile(1, rate(rpc_duration_seconds[5s]))",
    "sum(rpc_duration_seconds)",
    # (2.42 has no arithmetic on histograms: ``* 2`` gives the histogram unscaled there; the
    # conformance scripts check it)
]


def _field(num: int, wire: int, payload: bytes) -> bytes:
    return encode_varint(num << 3 | wire) + payload


def _bytes(num: int, b: bytes) -> bytes:
    return _field(num, 2, encode_varint(len(b)) + b)


def _zz(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _histogram(count: int, total: float, schema: int, spans: list[tuple[int, int]],
               deltas: list[int]) -> bytes:
    """A protobuf ``Histogram`` with integer counts, zero threshold 2**-128 and no zero count."""
    import struct

    return b"".join([
        _field(1, 0, encode_varint(count)),  # sample_count
        _field(2, 1, struct.pack("<d", total)),  # sample_sum
        _field(5, 0, encode_varint(_zz(schema))),
        _field(6, 1, struct.pack("<d", 2.0**-128)),  # zero_threshold
        _field(7, 0, encode_varint(0)),  # zero_count
        *(_bytes(12, _field(1, 0, encode_varint(_zz(o))) + _field(2, 0, encode_varint(k))) for o, k in spans),
        _bytes(13, b"".join(encode_varint(_zz(d)) for d in deltas)),
    ])


def _histogram_family(name: bytes, metric: bytes) -> bytes:
    fam = _bytes(1, name) + _field(3, 0, b"\x04") + _bytes(4, metric)  # type 4: HISTOGRAM
    return encode_varint(len(fam)) + fam


def _family(n: int) -> bytes:
    """The target's body after ``n`` scrapes. ``rpc_duration_seconds``: n observations of 1.5 s
    and n of 5 s, schema 0 (buckets (1,2] = index 1 and (4,8] = index 3), as client_golang
    exposes it. ``rpc_fine_seconds``: schema 8, n observations in each of its 256 buckets
    between 1 and 2 and in 8 buckets near 2**-40, so the answers carry every bound of
    Prometheus's fraction table (most of them off a correctly rounded power of two) at two
    scales."""
    label = _bytes(1, b"env") + _bytes(2, b"test")
    coarse = _histogram(2 * n, 6.5 * n, 0, [(1, 1), (1, 1)], [n, 0])
    fine = _histogram(264 * n, 400.0 * n, 8, [(-40 * 256, 8), (40 * 256 - 8 + 1, 256)], [n] + [0] * 263)
    return (_histogram_family(b"rpc_duration_seconds", _bytes(1, label) + _bytes(7, coarse))
            + _histogram_family(b"rpc_fine_seconds", _bytes(7, fine)))


class _Target(BaseHTTPRequestHandler):
    scrapes = 0

    def do_GET(self) -> None:
        type(self).scrapes += 1
        body = _family(type(self).scrapes)
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    tmp = tmp_path_factory.mktemp("promnh")
    target = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    storage = TSDB.open(tmp / "guardia")
    app = create_app(AppDeps(api=ApiDeps(storage=storage, engine=Engine()), write_storage=storage))
    with LiveServer(app) as guardia:
        port = _free_port()
        cfg = tmp / "prometheus.yml"
        cfg.write_text(
            f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: rpc
    static_configs: [{{targets: ["127.0.0.1:{target.server_address[1]}"]}}]
remote_write:
  - url: {guardia.url}/api/v1/write
    send_native_histograms: true
    queue_config: {{batch_send_deadline: 500ms}}
"""
        )
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}",
             f"--storage.tsdb.path={Path(tmp) / 'data'}", "--enable-feature=native-histograms"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
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
            target.shutdown()
    storage.close()


def _wait_for(client: httpx.Client, t: float, who: str) -> None:
    deadline = time.time() + 60  # Prometheus starts slowly on a loaded machine
    while time.time() < deadline:
        try:
            r = client.get("/api/v1/query", params={"query": "max(timestamp(rpc_duration_seconds))",
                                                    "time": time.time()})
        except httpx.TransportError:  # not listening yet
            time.sleep(0.3)
            continue
        res = r.json()["data"]["result"] if r.status_code == 200 else []
        if res and float(res[0]["value"][1]) >= t:
            return
        time.sleep(0.3)
    raise AssertionError(f"{who} has no native histogram samples after {t} in 60 s")


def test_remote_written_native_histograms_answer_like_prometheus(
    pair: tuple[httpx.Client, httpx.Client],
) -> None:
    prom, g = pair
    _wait_for(prom, 0, "Prometheus")  # it has started scraping
    time.sleep(6)  # a few scrapes so rate() has data
    t = round(time.time() - 1.5, 3)
    _wait_for(g, t + 1, "guardia")
    for q in QUERIES:
        want = prom.get("/api/v1/query", params={"query": q, "time": t}).json()
        got = g.get("/api/v1/query", params={"query": q, "time": t}).json()
        assert want["status"] == "success", (q, want)
        assert want["data"]["result"], q  # Prometheus has an answer, so the comparison means something
        assert got["data"] == want["data"], q
    params = {"query": "rpc_duration_seconds", "start": t - 3, "end": t, "step": "1"}
    assert g.get("/api/v1/query_range", params=params).json()["data"] == \
        prom.get("/api/v1/query_range", params=params).json()["data"]
    series = {"match[]": "rpc_duration_seconds", "start": t - 3, "end": t}
    assert g.get("/api/v1/series", params=series).json() == prom.get("/api/v1/series", params=series).json()
