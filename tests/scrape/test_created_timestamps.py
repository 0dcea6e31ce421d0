"""``--enable-feature=created-timestamp-zero-ingestion`` on scrapes: a counter's, summary's or
histogram's created timestamp (protobuf ``created_timestamp``, OpenMetrics ``_created`` lines)
becomes a zero sample ahead of its first sample, once per (re)start of the series; the
``_created`` series themselves are then not stored.  Without the feature nothing changes."""

from __future__ import annotations

import asyncio
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np

from guardia.model.histogram import FloatHistogram
from guardia.model.varint import encode_varint
from guardia.scrape.loop import ScrapeLoop
from guardia.scrape.target import Target, populate_labels
from guardia.storage.memory import MemoryStorage
from tests.scrape.helpers import Sink, close, job, respond, select
from tests.scrape.test_protobuf import PROTO_CT, _dbl, _family, _labels, _msg, _uint
from tests.test_serve import Serve

OM_CT = "application/openmetrics-text; version=1.0.0; charset=utf-8"


class _Target:
    """A counter ``jobs_total`` and a classic histogram ``wait_seconds`` whose created time is
    ``created`` (seconds); served as protobuf or OpenMetrics."""

    def __init__(self, protobuf: bool) -> None:
        self.value = 5.0
        self.created = time.time() - 30
        self.protobuf = protobuf
        self.sink = Sink(self.handle)

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        body, ctype = (self._proto(), PROTO_CT) if self.protobuf else (self._om(), OM_CT)
        respond(body, ctype)(req)

    def _ts(self) -> bytes:
        secs = int(self.created)
        return _uint(1, secs) + _uint(2, int((self.created - secs) * 1e9))

    def _proto(self) -> bytes:
        counter = _labels({"code": "200"}) + _msg(3, _dbl(1, self.value) + _msg(3, self._ts()))
        hist = _msg(7, _uint(1, 2) + _dbl(2, 0.3) + _msg(3, _uint(1, 1) + _dbl(2, 0.1))
                    + _msg(15, self._ts()))
        return _family("jobs_total", "", 0, [counter]) + _family("wait_seconds", "", 4, [hist])

    def _om(self) -> bytes:
        c = f"{self.created:.3f}"
        return "\n".join([
            "# TYPE jobs counter", f'jobs_total{{code="200"}} {self.value}',
            f'jobs_created{{code="200"}} {c}',
            "# TYPE wait_seconds histogram", 'wait_seconds_bucket{le="0.1"} 1',
            'wait_seconds_bucket{le="+Inf"} 2',
            "wait_seconds_count 2", "wait_seconds_sum 0.3", f"wait_seconds_created {c}",
            "# TYPE temperature gauge", "temperature 21.5", "# EOF", ""]).encode()


def _loop(address: str, storage: MemoryStorage, ct_zero: bool, extra: str = "") -> ScrapeLoop:
    cfg = job(f"scrape_configs:\n  - job_name: t\n    static_configs: [{{targets: ['{address}']}}]\n{extra}")
    final, pre = populate_labels({"__address__": address}, cfg)
    assert final is not None
    return ScrapeLoop(Target("t", final, pre), cfg, storage, ct_zero=ct_zero)


def _points(storage: MemoryStorage, name: str) -> list[tuple[int, float]]:
    [s] = select(storage, __name__=name)
    return list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))


async def _run(protobuf: bool, ct_zero: bool) -> tuple[MemoryStorage, _Target]:
    target = _Target(protobuf)
    storage = MemoryStorage()
    loop = _loop(target.sink.address, storage, ct_zero,
                 "    scrape_protocols: [PrometheusProto]\n" if protobuf else "")
    try:
        await loop.scrape_once()
        assert loop.target.health == "up", loop.target.last_error
        target.value = 7.0
        await loop.scrape_once()  # same created time: no second zero
        await asyncio.sleep(0.02)
        target.created = time.time()  # the process restarted since the last scrape: from zero again
        target.value = 1.0
        await asyncio.sleep(0.02)
        await loop.scrape_once()
        assert loop.target.health == "up", loop.target.last_error
    finally:
        await close(loop)
        target.sink.close()
    return storage, target


async def test_protobuf_created_timestamps_become_zero_samples() -> None:
    storage, target = await _run(protobuf=True, ct_zero=True)
    pts = _points(storage, "jobs_total")
    assert [v for _, v in pts] == [0.0, 5.0, 7.0, 0.0, 1.0]
    secs = int(target.created)
    assert pts[3][0] == secs * 1000 + int((target.created - secs) * 1e9) // 1_000_000  # ms, truncated
    assert np.all(np.diff([t for t, _ in pts]) > 0)
    # the classic histogram's series get their zeros too
    assert [v for _, v in _points(storage, "wait_seconds_count")] == [0.0, 2.0, 2.0, 0.0, 2.0]


async def test_openmetrics_created_lines_become_zero_samples_not_series() -> None:
    storage, _ = await _run(protobuf=False, ct_zero=True)
    assert [v for _, v in _points(storage, "jobs_total")] == [0.0, 5.0, 7.0, 0.0, 1.0]
    assert [v for _, v in _points(storage, "wait_seconds_count")] == [0.0, 2.0, 2.0, 0.0, 2.0]
    assert select(storage, __name__="jobs_created") == []
    assert select(storage, __name__="wait_seconds_created") == []
    assert [v for _, v in _points(storage, "temperature")] == [21.5, 21.5, 21.5]  # a gauge: no zero


async def test_without_the_feature_nothing_changes() -> None:
    for protobuf in (True, False):
        storage, _ = await _run(protobuf=protobuf, ct_zero=False)
        assert [v for _, v in _points(storage, "jobs_total")] == [5.0, 7.0, 1.0]
    assert len(_points(storage, "jobs_created")) == 3  # OpenMetrics' _created lines stay series


async def test_a_native_histogram_gets_an_empty_histogram_at_its_created_time() -> None:
    created = time.time() - 10
    secs = int(created)
    ts = _uint(1, secs) + _uint(2, int((created - secs) * 1e9))
    native = _msg(7, _uint(1, 1) + _dbl(2, 1.5) + encode_varint(5 << 3) + encode_varint(0)
                  + _msg(12, encode_varint(1 << 3) + encode_varint(2)  # span: offset 1 (zigzag), length 1
                         + encode_varint(2 << 3) + encode_varint(1))
                  + _msg(13, encode_varint(2)) + _msg(15, ts))
    sink = Sink(respond(_family("rpc_seconds", "", 4, [native]), PROTO_CT))
    storage = MemoryStorage()
    loop = _loop(sink.address, storage, True, "    scrape_native_histograms: true\n")
    try:
        await loop.scrape_once()
        assert loop.target.health == "up", loop.target.last_error
    finally:
        await close(loop)
        sink.close()
    [s] = select(storage, __name__="rpc_seconds")
    assert s.histograms is not None
    zero, first = s.histograms
    assert isinstance(zero, FloatHistogram) and zero.count == 0 and not zero.positive
    assert int(s.timestamps[0]) == secs * 1000 + int((created - secs) * 1e9) // 1_000_000
    assert isinstance(first, FloatHistogram) and first.count == 1


class _Negotiating(_Target):
    """The same target answering in whichever format the scraper's Accept puts first."""

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        self.protobuf = req.headers.get("Accept", "").startswith("application/vnd.google.protobuf")
        super().handle(req)


def _serve_config(tmp_path: Path, address: str, protocols: str = "") -> str:
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: t\n"
                   f"    static_configs: [{{targets: ['{address}']}}]\n{protocols}")
    return str(cfg)


def _first_accept(target: _Negotiating, s: Serve) -> str:
    deadline = time.time() + 30
    while not target.sink.requests and time.time() < deadline:
        time.sleep(0.1)
    assert target.sink.requests, s.log.read_text()
    return target.sink.requests[0]["accept"]


def test_the_feature_asks_for_protobuf_first_unless_scrape_protocols_says_otherwise(tmp_path: Path) -> None:
    """As Prometheus 3 does: with ``created-timestamp-zero-ingestion`` the default scrape
    protocols put ``PrometheusProto`` first (created timestamps of counters travel best in it);
    a ``scrape_protocols`` the config lists is kept; without the feature, text comes first."""
    cases = [("--enable-feature=created-timestamp-zero-ingestion", "", "application/vnd.google.protobuf"),
             ("--enable-feature=created-timestamp-zero-ingestion",
              "    scrape_protocols: [PrometheusText0.0.4]\n", "text/plain;version=0.0.4"),
             ("--enable-feature=promql-delayed-name-removal", "", "application/openmetrics-text")]
    for i, (flag, protocols, accept) in enumerate(cases):
        target = _Negotiating(protobuf=False)
        run = tmp_path / str(i)
        run.mkdir()
        s = Serve(run, "--config", _serve_config(run, target.sink.address, protocols), flag)
        try:
            s.wait_ready()
            got = _first_accept(target, s)
            assert got.startswith(accept), (flag, protocols, got)
            conf = s.http.get("/api/v1/status/config").json()["data"]["yaml"]
            assert ("- PrometheusProto" in conf) == accept.startswith("application/vnd"), conf
            if i == 0:  # scraped as protobuf, the counter starts with its created-time zero
                s.wait_up("t")
                r = s.http.get("/api/v1/query", params={"query": "jobs_total[1m]"}).json()
                assert r["data"]["result"][0]["values"][0][1] == "0", r
        finally:
            s.stop()
            target.sink.close()
