"""``/loki/api/v1/patterns``: Loki's documented example, counts per step in Loki's shape, errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from guardia.logs import LogStore
from guardia.logs.drain import detect, tokenize
from guardia.web.loki_api import LokiApi
from tests.web.conftest import LiveServer

NS = 1_000_000_000
T0 = 1_711_839_260 * NS


def test_the_example_of_lokis_documentation() -> None:
    lines = [
        "ts=2024-03-30T23:03:40 caller=grpc_logging.go:66 level=info method=/cortex.Ingester/Push "
        "duration=200ms msg=gRPC",
        "ts=2024-03-30T23:03:41 caller=grpc_logging.go:66 level=info method=/cortex.Ingester/Push "
        "duration=500ms msg=gRPC",
    ]
    [tpl] = detect(((T0, ln) for ln in lines), 10 * NS)
    assert tpl.text() == ("ts=<_> caller=grpc_logging.go:66 level=info method=/cortex.Ingester/Push "
                          "duration=<_> msg=gRPC")
    assert tpl.count == 2
    assert tokenize("a=1 b") == ["a=", "1", " ", "b"]


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    store = LogStore(tmp_path / "logs")
    with LiveServer(Starlette(routes=LokiApi(store).routes())) as srv, \
            httpx.Client(base_url=srv.url, timeout=10) as c:
        yield c
    store.close()


def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(".*?".join(re.escape(p) for p in pattern.split("<_>")) + r"\Z", re.S)


def test_patterns_of_pushed_lines_with_counts_per_step(client: httpx.Client) -> None:
    values = []
    for i in range(30):
        t = T0 + i * NS
        if i % 3:
            values.append([str(t), f"level=info method=GET path=/api/{i} duration={i}ms status=200"])
        else:
            values.append([str(t), f"connection {i} from 10.0.0.{i} refused"])
    body = {"streams": [{"stream": {"service_name": "api"}, "values": values}]}
    r = client.post("/loki/api/v1/push", content=orjson.dumps(body),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 204
    r = client.get("/loki/api/v1/patterns", params={
        "query": '{service_name="api"}', "start": str(T0), "end": str(T0 + 30 * NS), "step": "10s"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["status"] == "success"
    got = {d["pattern"]: d["samples"] for d in doc["data"]}
    assert got == {
        "level=info method=GET path=<_> duration=<_> status=200": [
            [T0 // NS, 6], [T0 // NS + 10, 7], [T0 // NS + 20, 7]],
        "connection <_> from <_> refused": [[T0 // NS, 4], [T0 // NS + 10, 3], [T0 // NS + 20, 3]],
    }
    for pattern in got:  # each pattern matches the lines it counts
        rx = _regex(pattern)
        assert sum(bool(rx.match(v[1])) for v in values) == sum(c for _, c in got[pattern])


@pytest.mark.parametrize(
    ("params", "msg"),
    [({"query": "sum(rate({a=\"b\"}[1m]))"}, "log query"), ({"query": "{a="}, "parse error"),
     ({"query": '{a="b"}', "step": "x"}, "invalid step")],
)
def test_bad_pattern_queries_say_what_is_wrong(
    client: httpx.Client, params: dict[str, str], msg: str
) -> None:
    r = client.get("/loki/api/v1/patterns", params=params)
    assert r.status_code == 400 and msg in r.text, r.text
