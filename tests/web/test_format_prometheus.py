"""guardia's query answers and Debian's Prometheus 2.42's, byte for byte, for values whose
JSON text is easy to get wrong: Prometheus writes a sample value in Go's 'f' form except
below 1e-6 and from 1e21 in magnitude, where its JSON encoder switches to 'e'."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from guardia.promql import Engine
from guardia.storage.memory import MemoryStorage
from guardia.web import AppDeps, create_app
from guardia.web.api_v1 import ApiDeps
from tests.web.conftest import LiveServer
from tests.web.test_format import PROM_API

PROMETHEUS = "/usr/bin/prometheus"
pytestmark = pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="Debian's prometheus is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    tmp = tmp_path_factory.mktemp("promfmt")
    cfg = tmp / "prometheus.yml"
    cfg.write_text("global: {scrape_interval: 15s}\n")
    port = _free_port()
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}",
         f"--storage.tsdb.path={tmp / 'data'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    app = create_app(AppDeps(api=ApiDeps(storage=MemoryStorage(), engine=Engine())))
    try:
        with (
            LiveServer(app) as guardia,
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as prom,
            httpx.Client(base_url=guardia.url, timeout=10) as g,
        ):
            deadline = time.time() + 60
            while True:
                try:
                    if prom.get("/-/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.time() > deadline:
                    raise AssertionError("Prometheus did not become ready in 60 s")
                time.sleep(0.2)
            yield prom, g
    finally:
        proc.terminate()
        proc.wait(10)


def _expr(v: float) -> str:
    return "vector(NaN)" if v != v else f"vector({v!r})".replace("inf", "Inf")


def test_sample_values_as_a_real_prometheus_writes_them(pair: tuple[httpx.Client, httpx.Client]) -> None:
    prom, g = pair
    for v, want in PROM_API:
        for path, extra in (("/api/v1/query", {"time": "1000"}),
                            ("/api/v1/query_range", {"start": "1000", "end": "1030", "step": "15"})):
            params = {"query": _expr(v), **extra}
            theirs = prom.get(path, params=params)
            ours = g.get(path, params=params)
            assert theirs.status_code == 200, theirs.text
            assert ours.content == theirs.content, (v, ours.text, theirs.text)
        assert f'"{want}"' in theirs.text, (v, theirs.text)
    # a scalar answer is written in 'f' form at every size
    for q in ("scalar(vector(1e-9)) * 2e30", "1e-9", "-1e-300"):
        params = {"query": q, "time": "1000"}
        theirs = prom.get("/api/v1/query", params=params)
        assert "e" not in theirs.json()["data"]["result"][1], theirs.text
        assert g.get("/api/v1/query", params=params).content == theirs.content
