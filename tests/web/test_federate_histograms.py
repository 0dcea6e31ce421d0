"""``/federate`` with native histograms: a real Prometheus (Debian 2.42,
``--enable-feature=native-histograms``, which asks for the protobuf format) federating from
guardia stores the same histograms guardia holds; custom-bucket ones arrive as the classic
buckets they are; a text-only client gets ``_bucket``/``_sum``/``_count`` lines, never NaN.
guardia's samples are in blocks by then (5-second blocks, cut before the server starts), so
the histograms federated are read from the blocks' histogram pages."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from guardia.model import Labels
from guardia.model.histogram import CUSTOM_BUCKETS_SCHEMA, FloatHistogram
from guardia.promql import Engine
from guardia.storage.tsdb import TSDB, TSDBOptions
from guardia.web import AppDeps, create_app
from guardia.web.api_v1 import ApiDeps
from guardia.web.federate import render_proto, wants_protobuf
from tests.scrape.peers import prometheus
from tests.web.conftest import LiveServer

MATCH = '{__name__=~"rpc_seconds|nhcb_seconds|orders_total"}'


def _exponential(n: int) -> FloatHistogram:
    # schema 0: bounds are powers of two.  At schemas above 0 Prometheus takes bounds from a
    # table of its own, some one unit in the last place below 2**(i/2**schema), which the
    # JSON's bucket bounds would show; guardia computes them (see the closing note of #27)
    return FloatHistogram(schema=0, count=9.0 * n, sum=21.5 * n, zero_threshold=0.001, zero_count=1.0 * n,
                          positive={1: 2.0 * n, 2: 3.0 * n, 5: 1.0 * n}, negative={0: 2.0 * n})


def _custom(n: int) -> FloatHistogram:
    return FloatHistogram(schema=CUSTOM_BUCKETS_SCHEMA, count=6.0 * n, sum=4.2 * n,
                          custom_values=[0.1, 0.5, 2.0], positive={0: 1.0 * n, 1: 3.0 * n, 3: 2.0 * n})


@pytest.fixture(scope="module")
def federated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, httpx.Client, int]]:
    tmp = tmp_path_factory.mktemp("fedh")
    storage = TSDB.open(tmp / "guardia", TSDBOptions(block_range_ms=5_000))
    t0 = int(time.time() * 1000) - 30_000
    app = storage.appender()
    for n in (1, 2, 3):
        t = t0 + n * 5_000
        app.append_histogram(Labels({"__name__": "rpc_seconds", "env": "test"}), t, _exponential(n))
        app.append_histogram(Labels({"__name__": "nhcb_seconds", "env": "test"}), t, _custom(n))
        app.append(app.ref(Labels({"__name__": "orders_total", "env": "test"})), t, 10.0 * n)
    app.commit()
    app.append(app.ref(Labels({"__name__": "later"})), t0 + 29_000, 1.0)
    app.commit()
    storage.maintain()  # everything but ``later`` goes into blocks, histograms too
    assert not len(storage.histograms) and any(b.histograms is not None for b in storage.blocks)
    last = t0 + 15_000
    web = create_app(AppDeps(api=ApiDeps(storage=storage, engine=Engine()), write_storage=storage))
    with LiveServer(web) as guardia:
        config = f"""
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: federate
    honor_labels: true
    metrics_path: /federate
    params: {{"match[]": ['{MATCH}']}}
    static_configs: [{{targets: ["{guardia.url.removeprefix('http://')}"]}}]
"""
        with (prometheus(config, tmp, "--enable-feature=native-histograms") as prom_url,
              httpx.Client(base_url=prom_url, timeout=10) as prom,
              httpx.Client(base_url=guardia.url, timeout=10) as g):
            yield prom, g, last
    storage.close()


def _query(c: httpx.Client, q: str, t: float) -> list[dict[str, object]]:
    """The result, without the ``job``/``instance`` a federating Prometheus adds."""
    body = c.get("/api/v1/query", params={"query": q, "time": t}).json()
    assert body["status"] == "success", (q, body)
    res = body["data"]["result"]
    for r in res:
        for k in ("job", "instance"):
            r["metric"].pop(k, None)
    return sorted(res, key=lambda r: str(r["metric"]))


def test_prometheus_federating_stores_guardia_s_native_histograms(
    federated: tuple[httpx.Client, httpx.Client, int],
) -> None:
    prom, g, last = federated
    t = last / 1000 + 0.5
    deadline = time.time() + 60  # Prometheus starts slowly on a loaded machine
    while time.time() < deadline:
        try:
            if _query(prom, "rpc_seconds", t):
                break
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    else:
        raise AssertionError("Prometheus did not federate rpc_seconds in 60 s")
    for q in ("rpc_seconds", "orders_total", "histogram_count(rpc_seconds)", "histogram_sum(rpc_seconds)",
              # the edges only: inside a bucket 2.42 interpolates linearly, Prometheus 3 exponentially
              "histogram_quantile(1, rpc_seconds)"):
        want = _query(g, q, t)
        assert want, q
        assert _query(prom, q, t) == want, q
    # a custom-bucket histogram travels as its classic buckets
    for ours, theirs in (("histogram_count(nhcb_seconds)", "nhcb_seconds_count"),
                         ("histogram_sum(nhcb_seconds)", "nhcb_seconds_sum"),
                         ("histogram_quantile(0.7, nhcb_seconds)",
                          "histogram_quantile(0.7, nhcb_seconds_bucket)")):
        want, got = _query(g, ours, t), _query(prom, theirs, t)
        assert [r["value"] for r in got] == [r["value"] for r in want], (ours, got, want)


def test_a_text_client_gets_the_histograms_as_text(federated: tuple[httpx.Client, httpx.Client, int]) -> None:
    _, g, last = federated
    r = g.get("/federate", params={"match[]": MATCH}, headers={"Accept": "text/plain;version=0.0.4"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    lines = r.text.splitlines()
    assert "NaN" not in r.text
    assert "# TYPE rpc_seconds histogram" in lines
    assert f'rpc_seconds_bucket{{env="test",le="+Inf"}} 27.0 {last}' in lines
    assert f'rpc_seconds_count{{env="test"}} 27.0 {last}' in lines
    assert f'nhcb_seconds_bucket{{env="test",le="0.5"}} 12.0 {last}' in lines
    assert f'orders_total{{env="test"}} 30.0 {last}' in lines


def test_accept_negotiation() -> None:
    prom_2_42 = ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;"
                 "q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")
    assert wants_protobuf(prom_2_42) == (True, "underscores")
    text_first = ("text/plain;version=0.0.4;q=0.5,application/vnd.google.protobuf;"
                  "proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.4")
    assert wants_protobuf(text_first) == (False, "underscores")
    other = "application/vnd.google.protobuf;proto=other;encoding=delimited"
    assert wants_protobuf(other) == (False, "underscores")
    assert wants_protobuf("") == (False, "underscores")
    assert render_proto([]) == b""
