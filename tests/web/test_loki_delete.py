"""Loki's deletion API: requests listed in Loki's shape, processed by really removing the lines
(selector, time range and line filters), cancelled while waiting; bad requests refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from guardia.logs import LogStore
from guardia.model import Matcher
from guardia.web.loki_api import LokiApi
from tests.web.conftest import LiveServer

NS = 1_000_000_000
T0 = 1_700_000_000 * NS


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[LokiApi, httpx.Client]]:
    store = LogStore(tmp_path / "logs")
    api = LokiApi(store)
    with LiveServer(Starlette(routes=api.routes())) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        yield api, c
    store.close()


def _push(c: httpx.Client) -> None:
    streams = [
        {"stream": {"app": "shop"}, "values": [
            [str(T0 + i * NS), f"order {i} card_number=4111" if i % 3 == 0 else f"order {i} ok"]
            for i in range(30)]},
        {"stream": {"app": "blog"},
         "values": [[str(T0 + i * NS), f"post {i} card_number=x"] for i in range(5)]},
    ]
    r = c.post("/loki/api/v1/push", content=orjson.dumps({"streams": streams}),
               headers={"Content-Type": "application/json"})
    assert r.status_code == 204


def _lines(c: httpx.Client, query: str) -> list[str]:
    r = c.get("/loki/api/v1/query_range", params={
        "query": query, "start": str(T0 - NS), "end": str(T0 + 60 * NS), "limit": "1000",
        "direction": "forward"})
    assert r.status_code == 200, r.text
    return [v[1] for s in r.json()["data"]["result"] for v in s["values"]]


def _until_processed(c: httpx.Client) -> list[dict[str, object]]:
    deadline = time.monotonic() + 15
    while True:
        reqs = c.get("/loki/api/v1/delete").json()
        if all(r["status"] == "processed" for r in reqs) or time.monotonic() > deadline:
            return reqs  # type: ignore[no-any-return]
        time.sleep(0.1)


def test_delete_request_removes_the_filtered_lines_in_the_range_only(served, tmp_path: Path) -> None:
    api, c = served
    _push(c)
    # seconds, as Loki documents them; lines 0..19 of the shop stream, those holding card_number
    r = c.post("/loki/api/v1/delete", params={
        "query": '{app="shop"} |= "card_number"', "start": str(T0 // NS), "end": str(T0 // NS + 19)})
    assert r.status_code == 204, r.text
    [req] = _until_processed(c)
    assert req["status"] == "processed"
    assert req["query"] == '{app="shop"} |= "card_number"'
    assert req["start_time"] == T0 // NS and req["end_time"] == T0 // NS + 19
    assert isinstance(req["request_id"], str) and isinstance(req["created_at"], (int, float))
    left = _lines(c, '{app="shop"}')
    assert "order 0 card_number=4111" not in left and "order 18 card_number=4111" not in left
    assert "order 21 card_number=4111" in left  # after the range
    assert len(left) == 23, left
    assert [ln for ln in left if "card" in ln] == [f"order {i} card_number=4111" for i in (21, 24, 27)]
    assert len(_lines(c, '{app="blog"}')) == 5  # another stream untouched
    # the lines are gone from the store, not hidden: a new store over the same files agrees
    api.store.close()
    again = LogStore(api.store.path)
    [s] = again.select([Matcher.equal("app", "shop")])
    assert sum(len(p) for p in again.read(s, -(1 << 62), 1 << 62)) == 23
    again.close()


def test_delete_requests_wait_the_cancel_period_and_can_be_cancelled(served) -> None:
    api, c = served
    _push(c)
    api.deletes.cancel_period_s = 3600
    assert c.post("/loki/api/v1/delete", params={"query": '{app="blog"}', "start": "0"}).status_code == 204
    [req] = c.get("/loki/api/v1/delete").json()
    assert req["status"] == "received"
    assert c.delete("/loki/api/v1/delete", params={"request_id": req["request_id"]}).status_code == 204
    assert c.get("/loki/api/v1/delete").json() == []
    assert len(_lines(c, '{app="blog"}')) == 5
    assert c.delete("/loki/api/v1/delete", params={"request_id": "nope"}).status_code == 404
    # a processed request cannot be cancelled without force
    api.deletes.cancel_period_s = 0
    c.put("/loki/api/v1/delete", params={"query": '{app="blog"}', "start": "0"})
    [done] = _until_processed(c)
    assert _lines(c, '{app="blog"}') == []
    r = c.delete("/loki/api/v1/delete", params={"request_id": done["request_id"]})
    assert r.status_code == 400 and "already processed" in r.text
    assert c.delete("/loki/api/v1/delete", params={"request_id": done["request_id"], "force": "true"}
                    ).status_code == 204


@pytest.mark.parametrize(
    ("params", "msg"),
    [
        ({"start": "0"}, "query is required"),
        ({"query": '{app="shop"}'}, "start is required"),
        ({"query": 'count_over_time({app="shop"}[1m])', "start": "0"}, "not a metric query"),
        ({"query": '{app="shop"} | json', "start": "0"}, "line filters only"),
        ({"query": '{app="shop"', "start": "0"}, "parse error"),
        ({"query": '{app="shop"}', "start": "10", "end": "5"}, "end must not be before start"),
    ],
)
def test_bad_delete_requests_say_what_is_wrong(served, params: dict[str, str], msg: str) -> None:
    _, c = served
    r = c.post("/loki/api/v1/delete", params=params)
    assert r.status_code == 400 and msg in r.text, r.text
    assert c.get("/loki/api/v1/delete").json() == []
