"""guardia's query answers and Debian's Prometheus 2.42's, byte for byte, for values whose
JSON text is easy to get wrong: Prometheus writes a sample value in Go's 'f' form except
below 1e-6 and from 1e21 in magnitude, where its JSON encoder switches to 'e'."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from guardia.promql import Engine
from guardia.storage.memory import MemoryStorage
from guardia.web import AppDeps, create_app
from guardia.web.api_v1 import ApiDeps
from tests.storage.remote.peers import prometheus_receiver
from tests.web.conftest import LiveServer
from tests.web.test_format import PROM_API


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    prom = prometheus_receiver(tmp_path_factory.mktemp("promfmt")).start()
    app = create_app(AppDeps(api=ApiDeps(storage=MemoryStorage(), engine=Engine())))
    try:
        with LiveServer(app) as guardia, httpx.Client(base_url=guardia.url, timeout=10) as g:
            yield prom.http, g
    finally:
        prom.stop()


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
