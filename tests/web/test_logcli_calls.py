"""logcli's HTTP calls, reproduced exactly, answered in the shapes logcli decodes.

Grafana's ``logcli`` is neither a Debian package nor on PyPI (the PyPI name ``logcli`` is an
unrelated tool), and Debian's Go (1.19) is too old to build it, so it cannot run here.  These
requests are the ones its client (pkg/logcli/client/client.go, Loki 3) sends: GET, the
``User-Agent: loki-logcli/<version>`` header, nanosecond ``start``/``end``/``time``,
``direction=BACKWARD``/``FORWARD`` in upper case, ``step`` as float seconds (``query``) or
integer seconds (``volume_range``), ``series`` with repeated ``match``, ``detected_fields``
with ``step`` as a Go duration, the tail WebSocket with ``delay_for`` left out when 0.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from guardia.logs import LogStore, PushStream
from guardia.model import Labels
from guardia.web.loki_api import LokiApi
from tests.web.conftest import LiveServer

NS = 1_000_000_000
HEADERS = {"User-Agent": "loki-logcli/3.4.2", "X-Scope-OrgID": "fake"}


def _fill(store: LogStore, now: int) -> None:
    for svc, env in (("api", "prod"), ("api", "dev"), ("web", "prod")):
        ts = [now - (60 - i) * NS for i in range(60)]
        lines = [f'level={"error" if i % 10 == 0 else "info"} status={500 if i % 10 == 0 else 200} '
                 f"latency={i}ms msg=req{i}".encode() for i in range(60)]
        store.push([PushStream(Labels({"job": svc, "env": env}), ts, lines)])


@pytest.fixture()
def logcli(tmp_path: Path) -> Iterator[tuple[httpx.Client, int]]:
    store = LogStore(tmp_path / "logs")
    now = time.time_ns()
    _fill(store, now)
    app = Starlette(routes=LokiApi(store).routes())
    with LiveServer(app) as srv, httpx.Client(base_url=srv.url, headers=HEADERS, timeout=10) as c:
        yield c, now
    store.close()


def _get(c: httpx.Client, path: str, params: list[tuple[str, str]]) -> dict:  # type: ignore[type-arg]
    # logcli builds the query string itself (url.Values.Encode: keys sorted)
    r = c.get(f"{path}?{urlencode(sorted(params))}")
    assert r.status_code == 200, r.text
    return orjson.loads(r.content)  # type: ignore[no-any-return]


def test_logcli_query_and_instant_query(logcli: tuple[httpx.Client, int]) -> None:
    c, now = logcli
    # logcli query '{job="api"} |= "status=500"' --since=1h --limit=30
    body = _get(c, "/loki/api/v1/query_range", [
        ("query", '{job="api"} |= "status=500"'), ("limit", "30"), ("start", str(now - 3600 * NS)),
        ("end", str(now + 1)), ("direction", "BACKWARD")])
    assert body["data"]["resultType"] == "streams"
    entries = [(int(t), line) for s in body["data"]["result"] for t, line in s["values"]]
    assert len(entries) == 12 and all("status=500" in line for _, line in entries)
    assert {tuple(sorted(s["stream"].items())) for s in body["data"]["result"]} == {
        (("env", "dev"), ("job", "api")), (("env", "prod"), ("job", "api"))}
    # --forward: oldest first within each stream
    body = _get(c, "/loki/api/v1/query_range", [
        ("query", '{job="web"}'), ("limit", "5"), ("start", str(now - 3600 * NS)), ("end", str(now + 1)),
        ("direction", "FORWARD")])
    [stream] = body["data"]["result"]
    ts = [int(t) for t, _ in stream["values"]]
    assert ts == sorted(ts) and ts[0] == now - 60 * NS
    # a metric query with --step=30s (float seconds)
    body = _get(c, "/loki/api/v1/query_range", [
        ("query", 'sum by (job) (count_over_time({env="prod"}[1m]))'), ("limit", "30"),
        ("start", str(now - 120 * NS)), ("end", str(now)), ("direction", "BACKWARD"), ("step", "30")])
    assert body["data"]["resultType"] == "matrix"
    assert {r["metric"]["job"] for r in body["data"]["result"]} == {"api", "web"}
    # logcli instant-query
    body = _get(c, "/loki/api/v1/query", [
        ("query", 'sum(count_over_time({job="api"} | logfmt | status >= 500 [5m]))'), ("limit", "30"),
        ("time", str(now + 1)), ("direction", "BACKWARD")])
    assert body["data"]["resultType"] == "vector"
    assert body["data"]["result"][0]["value"][1] == "12"


def test_logcli_labels_series_and_stats(logcli: tuple[httpx.Client, int]) -> None:
    c, now = logcli
    rng = [("start", str(now - 3600 * NS)), ("end", str(now + 1))]
    assert _get(c, "/loki/api/v1/labels", rng)["data"] == ["env", "job"]
    assert _get(c, "/loki/api/v1/label/env/values", rng)["data"] == ["dev", "prod"]
    series = _get(c, "/loki/api/v1/series", [*rng, ("match", '{job="api"}'), ("match", '{env="dev"}')])
    assert sorted(tuple(sorted(s.items())) for s in series["data"]) == [
        (("env", "dev"), ("job", "api")), (("env", "prod"), ("job", "api"))]
    stats = _get(c, "/loki/api/v1/index/stats", [*rng, ("query", '{job="api"}')])
    assert (stats["streams"], stats["entries"]) == (2, 120) and stats["bytes"] > 0 and stats["chunks"] >= 2


def test_logcli_volume_and_volume_range(logcli: tuple[httpx.Client, int]) -> None:
    c, now = logcli
    rng = [("start", str(now - 3600 * NS)), ("end", str(now + NS))]
    full = _get(c, "/loki/api/v1/query_range", [*rng, ("query", '{env=~".+"}'), ("limit", "1000"),
                                                ("direction", "BACKWARD")])
    per_stream = {(s["stream"]["job"], s["stream"]["env"]): sum(len(line) for _, line in s["values"])
                  for s in full["data"]["result"]}
    # logcli volume '{env=~".+"}': aggregated into the selector's label names (env)
    body = _get(c, "/loki/api/v1/index/volume", [*rng, ("query", '{env=~".+"}'), ("limit", "100")])
    assert body["data"]["resultType"] == "vector"
    got = {r["metric"]["env"]: int(r["value"][1]) for r in body["data"]["result"]}
    assert got == {"prod": per_stream[("api", "prod")] + per_stream[("web", "prod")],
                   "dev": per_stream[("api", "dev")]}
    assert [r["metric"]["env"] for r in body["data"]["result"]] == ["prod", "dev"]  # largest first
    # --target-labels=job
    body = _get(c, "/loki/api/v1/index/volume", [*rng, ("query", '{env=~".+"}'), ("limit", "100"),
                                                 ("targetLabels", "job")])
    assert {r["metric"]["job"]: int(r["value"][1]) for r in body["data"]["result"]} == {
        "api": per_stream[("api", "prod")] + per_stream[("api", "dev")], "web": per_stream[("web", "prod")]}
    # --aggregate-by-labels: one series per label name, value ""
    body = _get(c, "/loki/api/v1/index/volume", [*rng, ("query", '{job="api"}'), ("limit", "100"),
                                                 ("targetLabels", "job,env"), ("aggregateBy", "labels")])
    metrics = sorted(tuple(r["metric"].items()) for r in body["data"]["result"])
    assert metrics == [(("env", ""),), (("job", ""),)]
    # logcli volume_range --step=30s
    body = _get(c, "/loki/api/v1/index/volume_range", [
        ("start", str(now - 120 * NS)), ("end", str(now + NS)), ("query", '{job="web"}'), ("limit", "100"),
        ("step", "30")])
    assert body["data"]["resultType"] == "matrix"
    [s] = body["data"]["result"]
    assert s["metric"] == {"job": "web"}
    assert sum(int(v) for _, v in s["values"]) == per_stream[("web", "prod")]
    r = c.get("/loki/api/v1/index/volume", params={"query": '{job="web"} |= "x"'})
    assert r.status_code == 400 and "must be a stream selector" in r.text


def test_logcli_detected_fields_and_labels(logcli: tuple[httpx.Client, int]) -> None:
    c, now = logcli
    body = _get(c, "/loki/api/v1/detected_fields", [
        ("query", '{job="api"}'), ("field_limit", "1000"), ("line_limit", "1000"),
        ("start", str(now - 3600 * NS)), ("end", str(now + 1)), ("step", "1m0s")])
    fields = {f["label"]: f for f in body["fields"]}
    assert set(fields) == {"level", "status", "latency", "msg"}
    assert (fields["status"]["type"], fields["status"]["cardinality"]) == ("int", 2)
    assert fields["latency"]["type"] == "duration" and fields["level"]["type"] == "string"
    assert fields["msg"]["parsers"] == ["logfmt"]
    labels = _get(c, "/loki/api/v1/detected_labels",
                  [("query", '{env=~".+"}'), ("start", str(now - 3600 * NS)), ("end", str(now + 1))])
    assert labels["detectedLabels"] == [{"label": "env", "cardinality": 2},
                                        {"label": "job", "cardinality": 2}]


def test_logcli_tail_websocket(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs")
    app = Starlette(routes=LokiApi(store).routes())
    start = time.time_ns()
    q = urlencode({"query": '{job="tail"}', "limit": "30", "start": str(start)})
    with TestClient(app) as tc, tc.websocket_connect(f"/loki/api/v1/tail?{q}", headers=HEADERS) as ws:
        store.push([PushStream(Labels({"job": "tail"}), [time.time_ns()], [b"hello logcli"])])
        frame = orjson.loads(ws.receive_text())
        assert frame["streams"][0]["stream"] == {"job": "tail"}
        assert frame["streams"][0]["values"][0][1] == "hello logcli"
    store.close()
