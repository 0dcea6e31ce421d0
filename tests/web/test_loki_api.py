"""Loki's HTTP API: push from real Python Loki handlers, Promtail's protobuf, Grafana-shaped queries."""

from __future__ import annotations

import gzip
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from guardia.logs import LogStore
from guardia.logs.push import encode_protobuf
from guardia.web.loki_api import LokiApi, parse_time_ns
from tests.web.conftest import LiveServer

NS = 1_000_000_000


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[LogStore, httpx.Client]]:
    store = LogStore(tmp_path / "logs")
    app = Starlette(routes=LokiApi(store).routes())
    with LiveServer(app) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        yield store, c
    store.close()


def _query_lines(c: httpx.Client, query: str, **params: str) -> list[str]:
    r = c.get("/loki/api/v1/query_range", params={"query": query, "limit": "1000", **params})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success" and body["data"]["resultType"] == "streams"
    return [v[1] for s in body["data"]["result"] for v in s["values"]]


def _wait_for(c: httpx.Client, query: str, n: int) -> list[str]:
    deadline = time.monotonic() + 10
    while True:
        lines = _query_lines(c, query)
        if len(lines) >= n or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_python_logging_loki_handler_pushes_and_is_queried_back(served) -> None:
    import logging_loki

    _, c = served
    handler = logging_loki.LokiHandler(
        url=f"{c.base_url}/loki/api/v1/push", tags={"application": "shop"}, version="1"
    )
    logger = logging.getLogger("test.python_logging_loki")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.error("payment failed for order %d", 42, extra={"tags": {"service": "billing"}})
        logger.warning("slow checkout")
    finally:
        logger.removeHandler(handler)
    lines = _wait_for(c, '{application="shop"}', 2)
    assert sorted(lines) == ["payment failed for order 42", "slow checkout"]
    assert _query_lines(c, '{application="shop", service="billing", severity="error"}') == [
        "payment failed for order 42"
    ]
    values = c.get("/loki/api/v1/label/severity/values").json()["data"]
    assert values == ["error", "warning"]


def test_loki_logger_handler_pushes_gzip_json(served) -> None:
    from loki_logger_handler.loki_logger_handler import LokiLoggerHandler

    _, c = served
    handler = LokiLoggerHandler(
        url=f"{c.base_url}/loki/api/v1/push", labels={"application": "api"}, timeout=0.2, compressed=True
    )
    logger = logging.getLogger("test.loki_logger_handler")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        for i in range(5):
            logger.info("request %d done", i)
        lines = _wait_for(c, '{application="api"}', 5)
    finally:
        logger.removeHandler(handler)
    assert len(lines) == 5
    # the handler sends JSON log records: LogQL's json parser reads them
    msgs = _query_lines(c, '{application="api"} | json | line_format "{{.message}}"', direction="forward")
    assert msgs == [f"request {i} done" for i in range(5)]


def test_protobuf_snappy_push_as_promtail_sends_it(served) -> None:
    store, c = served
    now = time.time_ns()
    body = encode_protobuf(
        [('{job="varlogs", filename="/var/log/syslog"}', [(now - 2 * NS, "first"), (now - NS, "second")])]
    )
    r = c.post("/loki/api/v1/push", content=body, headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 204, r.text
    assert _query_lines(c, '{job="varlogs"}', direction="forward") == ["first", "second"]
    assert store.label_values("filename", 0, 1 << 62) == ["/var/log/syslog"]


def test_bad_pushes_get_400_with_the_reason(served) -> None:
    _, c = served
    r = c.post("/loki/api/v1/push", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not JSON" in r.text
    r = c.post(
        "/loki/api/v1/push", json={"streams": [{"stream": {"job": "x"}, "values": [["yesterday", "l"]]}]}
    )
    assert r.status_code == 400 and "nanoseconds" in r.text
    r = c.post(
        "/loki/api/v1/push", content=b"\x00garbage", headers={"Content-Type": "application/x-protobuf"}
    )
    assert r.status_code == 400 and "snappy" in r.text
    r = c.post(
        "/loki/api/v1/push", json={"streams": [{"stream": {"bad-label": "x"}, "values": [["1", "l"]]}]}
    )
    assert r.status_code == 400 and "invalid label name" in r.text


def _seed(c: httpx.Client, base: int) -> None:
    values = [
        [
            str(base + i * NS),
            f'level={"error" if i % 4 == 0 else "info"} status={500 if i % 4 == 0 else 200} msg="req {i}"',
        ]
        for i in range(40)
    ]
    gz = gzip.compress(
        orjson.dumps({"streams": [{"stream": {"job": "backend", "service": "backend"}, "values": values}]})
    )
    r = c.post(
        "/loki/api/v1/push",
        content=gz,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert r.status_code == 204, r.text


def test_grafana_shaped_requests_get_loki_shapes(served) -> None:
    _, c = served
    base = (time.time_ns() // NS - 120) * NS
    _seed(c, base)
    start, end = str(base), str(base + 60 * NS)
    # Explore's logs query: backward, limit, nanosecond range
    r = c.get(
        "/loki/api/v1/query_range",
        params={
            "query": '{service="backend"} |= "error"',
            "limit": "5",
            "start": start,
            "end": end,
            "step": "1",
            "direction": "backward",
        },
    )
    data = r.json()["data"]
    assert data["resultType"] == "streams"
    [stream] = data["result"]
    assert stream["stream"] == {"job": "backend", "service": "backend"}
    ts = [int(v[0]) for v in stream["values"]]
    assert ts == sorted(ts, reverse=True) and len(ts) == 5
    assert all(isinstance(v[0], str) for v in stream["values"])
    assert "summary" in data["stats"]
    # logs volume histogram
    r = c.get(
        "/loki/api/v1/query_range",
        params={
            "query": 'sum by (level) (count_over_time({service="backend"} | logfmt [10s]))',
            "start": start,
            "end": end,
            "step": "10",
        },
    )
    data = r.json()["data"]
    assert data["resultType"] == "matrix"
    by_level = {s["metric"]["level"]: s["values"] for s in data["result"]}
    assert set(by_level) == {"error", "info"}
    first_t, first_v = by_level["error"][0]
    assert isinstance(first_t, int | float) and isinstance(first_v, str)
    assert sum(int(v) for _, v in by_level["error"]) == 10
    # the data source's health check
    r = c.get("/loki/api/v1/query", params={"query": "vector(1)+vector(1)"})
    assert r.json()["data"]["result"][0]["value"][1] == "2"
    # instant metric query as a stat panel sends it (time in seconds, POST form)
    r = c.post(
        "/loki/api/v1/query",
        data={"query": 'count_over_time({job="backend"}[1m])', "time": str((base + 59 * NS) / NS)},
    )
    [sample] = r.json()["data"]["result"]
    assert sample["metric"] == {"job": "backend", "service": "backend"} and sample["value"][1] == "40"
    # label browser
    assert c.get("/loki/api/v1/labels", params={"start": start, "end": end}).json()["data"] == [
        "job",
        "service",
    ]
    assert c.get("/loki/api/v1/label/job/values", params={"query": '{service="backend"}'}).json()["data"] == [
        "backend"
    ]
    assert c.get("/loki/api/v1/series", params={"match[]": '{job="backend"}'}).json()["data"] == [
        {"job": "backend", "service": "backend"}
    ]
    stats = c.get(
        "/loki/api/v1/index/stats", params={"query": '{job="backend"}', "start": start, "end": end}
    ).json()
    assert stats["streams"] == 1 and stats["entries"] == 40 and stats["chunks"] >= 1


def test_query_errors_are_plain_text_400s(served) -> None:
    _, c = served
    r = c.get("/loki/api/v1/query_range", params={"query": '{job="x"'})
    assert r.status_code == 400 and r.text.startswith("parse error")
    r = c.get("/loki/api/v1/query_range", params={"query": '{job="x"}', "start": "yesterday"})
    assert r.status_code == 400 and "invalid time" in r.text
    r = c.get("/loki/api/v1/query_range", params={"query": '{job="x"}', "limit": "999999"})
    assert r.status_code == 400 and "max entries limit" in r.text


def test_tail_streams_new_lines_over_websocket(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    store = LogStore(tmp_path)
    app = Starlette(routes=LokiApi(store).routes())
    with TestClient(app) as tc, tc.websocket_connect("/loki/api/v1/tail?query=%7Bjob%3D%22t%22%7D") as ws:
        tc.post(
            "/loki/api/v1/push",
            json={"streams": [{"stream": {"job": "t"}, "values": [[str(time.time_ns()), "hello tail"]]}]},
        )
        frame = json.loads(ws.receive_text())
        assert frame["streams"][0]["stream"] == {"job": "t"}
        assert frame["streams"][0]["values"][0][1] == "hello tail"
    store.close()


def test_time_parameters_accept_nanoseconds_seconds_and_rfc3339() -> None:
    assert parse_time_ns("1700000000000000000", 0) == 1_700_000_000 * NS
    assert parse_time_ns("1700000000", 0) == 1_700_000_000 * NS
    assert parse_time_ns("1700000000.5", 0) == 1_700_000_000 * NS + NS // 2
    assert parse_time_ns("2023-11-14T22:13:20Z", 0) == 1_700_000_000 * NS
    assert parse_time_ns(None, 7) == 7
