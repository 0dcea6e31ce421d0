"""Remote write 1.0 endpoint (POST /api/v1/write): status codes, limits, routing, counting.
Decoding and appending are tested with their module, tests/storage/remote/test_write_receiver.py."""

from __future__ import annotations

import cramjam
import httpx
import pytest

from guardia.model import Labels, Matcher
from guardia.storage.memory import MemoryStorage
from guardia.storage.remote.proto import encode_write_request

HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


def _post(client: httpx.Client, raw: bytes) -> httpx.Response:
    return client.post("/api/v1/write", content=bytes(cramjam.snappy.compress_raw(raw)), headers=HEADERS)


def _all(st: MemoryStorage, name: str) -> dict[Labels, list[tuple[int, float]]]:
    q = st.querier(-(2**62), 2**62)
    return {
        s.labels: list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))
        for s in q.select([Matcher.equal("__name__", name)])
    }


def test_http_write_stores_samples_and_rejects_bad_ones(client: httpx.Client, storage: MemoryStorage) -> None:
    series = [
        ({"__name__": "pushed", "i": str(i)}, [(1000, float(i)), (2000, float(i) + 1)]) for i in range(50)
    ]
    r = _post(client, encode_write_request(series))
    assert r.status_code == 204, r.text
    got = _all(storage, "pushed")
    assert len(got) == 50
    assert got[Labels.of(__name__="pushed", i="7")] == [(1000, 7.0), (2000, 8.0)]

    # a bad payload after a good series: 400, and the good series is not stored either
    good = encode_write_request([({"__name__": "partial"}, [(1000, 1.0)])])
    bad = encode_write_request([({"job": "no-name"}, [(1000, 1.0)])])
    r = _post(client, good + bad)
    assert r.status_code == 400
    assert "metric name" in r.text
    assert _all(storage, "partial") == {}

    r = client.post("/api/v1/write", content=b"not snappy at all", headers=HEADERS)
    assert r.status_code == 400 and "snappy" in r.text
    huge_preamble = b"\xff\xff\xff\xff\x0f" + b"\x00" * 10
    r = client.post("/api/v1/write", content=huge_preamble, headers=HEADERS)
    assert r.status_code == 400 and "exceeds the limit" in r.text
    r = client.post(
        "/api/v1/write",
        content=b"x",
        headers={**HEADERS, "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v3.Request"},
    )
    assert r.status_code == 415 and "io.prometheus.write.v2.Request" in r.text
    r = client.post("/api/v1/write", content=b"\x00" * (33 * 1024 * 1024), headers=HEADERS)
    assert r.status_code == 413
    assert client.get("/-/healthy").status_code == 200


@pytest.mark.parametrize("inline_max", [0, 1 << 20], ids=["worker-thread", "inline"])
def test_small_and_large_requests_store_the_same(
    client: httpx.Client, storage: MemoryStorage, monkeypatch: pytest.MonkeyPatch, inline_max: int
) -> None:
    """Requests below INLINE_MAX_DECOMPRESSED are ingested on the event loop, larger ones in
    the writer thread: both paths store the same samples and refuse the same bad input."""
    import guardia.web.remote_write as rw

    monkeypatch.setattr(rw, "INLINE_MAX_DECOMPRESSED", inline_max)
    series = [({"__name__": "both", "i": str(i)}, [(5000, float(i))]) for i in range(20)]
    assert _post(client, encode_write_request(series)).status_code == 204
    assert len(_all(storage, "both")) == 20
    r = _post(client, encode_write_request([({"job": "x"}, [(5000, 1.0)])]))
    assert r.status_code == 400 and "metric name" in r.text


def test_write_requests_are_counted_and_other_methods_refused(client: httpx.Client, app_deps: object) -> None:
    """POST /api/v1/write skips Starlette's stack, but it is still counted in the HTTP
    metrics like every other handler; other methods on the path still get 405."""
    from guardia.web import AppDeps

    assert isinstance(app_deps, AppDeps)
    reg = app_deps.registry

    def count(code: str) -> float:
        labels = {"code": code, "handler": "/api/v1/write"}
        return reg.get_sample_value("prometheus_http_requests_total", labels) or 0.0

    ok0, bad0 = count("204"), count("400")
    assert _post(client, encode_write_request([({"__name__": "counted"}, [(7000, 1.0)])])).status_code == 204
    assert _post(client, encode_write_request([({"job": "x"}, [(7000, 1.0)])])).status_code == 400
    assert (count("204"), count("400")) == (ok0 + 1, bad0 + 1)
    assert client.get("/api/v1/write").status_code == 405
    no_encoding = {k: v for k, v in HEADERS.items() if k != "Content-Encoding"}  # snappy is implied
    raw = bytes(cramjam.snappy.compress_raw(encode_write_request([({"__name__": "implied"}, [(7000, 2.0)])])))
    assert client.post("/api/v1/write", content=raw, headers=no_encoding).status_code == 204
    r = client.post("/api/v1/write", content=raw, headers={**HEADERS, "Content-Encoding": "gzip"})
    assert r.status_code == 415 and "snappy" in r.text


def test_write_under_a_route_prefix() -> None:
    """With --web.external-url=http://host/guardia the receiver answers under the prefix."""
    from guardia.web import AppDeps, create_app
    from guardia.web.api_v1 import ApiDeps

    from .conftest import LiveServer

    st = MemoryStorage()
    app = create_app(AppDeps(api=ApiDeps(storage=st), write_storage=st, route_prefix="/guardia"))
    with LiveServer(app) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        body = bytes(cramjam.snappy.compress_raw(encode_write_request([({"__name__": "p"}, [(1000, 3.0)])])))
        assert c.post("/guardia/api/v1/write", content=body, headers=HEADERS).status_code == 204
        assert c.post("/api/v1/write", content=body, headers=HEADERS).status_code == 404
    assert _all(st, "p") == {Labels.of(__name__="p"): [(1000, 3.0)]}


def test_a_store_that_refuses_all_writes_answers_503_so_senders_retry(tmp_path: object) -> None:
    """During shutdown the store is closed: a batch is not at fault, so the answer is a 5xx
    (Prometheus retries those and drops 4xx batches), and the server stays up."""
    from pathlib import Path

    from guardia.storage.tsdb import TSDB
    from guardia.web import AppDeps, create_app
    from guardia.web.api_v1 import ApiDeps

    from .conftest import LiveServer

    assert isinstance(tmp_path, Path)
    db = TSDB.open(tmp_path / "data")
    app = create_app(AppDeps(api=ApiDeps(storage=db), write_storage=db))

    def body(name: str) -> bytes:
        return bytes(cramjam.snappy.compress_raw(encode_write_request([({"__name__": name}, [(1000, 1.0)])])))

    with LiveServer(app) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        assert c.post("/api/v1/write", content=body("known"), headers=HEADERS).status_code == 204
        db.close()
        for name in ("known", "new"):
            r = c.post("/api/v1/write", content=body(name), headers=HEADERS)
            assert r.status_code == 503, r.text
            assert "not accepting writes" in r.text and "closed" in r.text
        assert c.get("/-/healthy").status_code == 200



V2_HEADERS = {**HEADERS, "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
              "X-Prometheus-Remote-Write-Version": "2.0.0"}


def _v2(symbols: list[str], series: list[tuple[list[int], list[tuple[int, float]]]]) -> bytes:
    from guardia.storage.remote.proto import V2Request

    req = V2Request()
    req.symbols.extend(symbols)
    for refs, samples in series:
        ts = req.timeseries.add()
        ts.labels_refs.extend(refs)
        for t, v in samples:
            ts.samples.add(timestamp=t, value=v)
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


def test_remote_write_2_0_is_stored_and_its_counts_answered(client: httpx.Client,
                                                            storage: MemoryStorage) -> None:
    symbols = ["", "__name__", "pushed_v2", "i", "1", "2"]
    body = _v2(symbols, [([1, 2, 3, 4], [(1000, 1.0), (2000, 2.0)]), ([1, 2, 3, 5], [(1000, 5.0)])])
    r = client.post("/api/v1/write", content=body, headers=V2_HEADERS)
    assert r.status_code == 204, r.text
    assert r.headers["X-Prometheus-Remote-Write-Samples-Written"] == "3"
    assert r.headers["X-Prometheus-Remote-Write-Histograms-Written"] == "0"
    assert r.headers["X-Prometheus-Remote-Write-Exemplars-Written"] == "0"
    assert _all(storage, "pushed_v2") == {Labels.of(__name__="pushed_v2", i="1"): [(1000, 1.0), (2000, 2.0)],
                                          Labels.of(__name__="pushed_v2", i="2"): [(1000, 5.0)]}
    # bad references: 400 with the reason, nothing stored, counts of 0
    for syms, refs, reason in (
        (symbols, [1, 2, 3, 40], "symbol references below 6"),
        (symbols, [1, 2, 3], "pairs"),
        (["__name__", "x"], [0, 1], "empty string"),
        (symbols, [3, 4], "no metric name"),
    ):
        r = client.post("/api/v1/write", content=_v2(syms, [(refs, [(5000, 1.0)])]), headers=V2_HEADERS)
        assert r.status_code == 400 and reason in r.text, (refs, r.text)
        assert r.headers["X-Prometheus-Remote-Write-Samples-Written"] == "0"
    r = client.post("/api/v1/write", content=b"\x00\x07garbage", headers=V2_HEADERS)
    assert r.status_code == 400
    assert len(_all(storage, "pushed_v2")[Labels.of(__name__="pushed_v2", i="1")]) == 2
