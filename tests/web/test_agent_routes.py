"""The agent's routes as plain ASGI (``guardia.web.plain_router`` under the agent's
``SmallServer``) answer every request, good and bad, as the same routes under Starlette and
uvicorn answered before #24 (and as full mode still serves the probe and push routes): the same
status, body and the headers a client reads (type, length, ``allow``, where a redirect goes)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter
from starlette.applications import Starlette

from guardia.probes.config import load_probes
from guardia.probes.service import ProbeService
from guardia.storage.memory import MemoryStorage
from guardia.web.agent import agent_routes
from guardia.web.plain import PlainRequest
from guardia.web.plain_router import Router, as_starlette, compile_path
from guardia.web.probe_api import CONTENT_TYPE as PROBE_TYPE
from guardia.web.probe_api import probe_routes, push_routes
from tests.web.conftest import LiveServer
from tests.web.test_small_server import small

TOKEN = "nightly-backup-7f3a9c2e"
PROBES = f"""
probes:
  - name: backup
    heartbeat: {{token: {TOKEN}, period: 60s, grace: 30s}}
  - name: db
    module: tcp_connect
    targets: ["127.0.0.1:1"]
"""
TIMEOUT = {"X-Prometheus-Scrape-Timeout-Seconds": "abc"}

# (method, path, httpx keyword arguments), run in order against a fresh agent each time
REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/-/healthy", {}),
    ("HEAD", "/-/healthy", {}),
    ("DELETE", "/-/healthy", {}),
    ("GET", "/-/healthy/", {}),  # a trailing slash: redirected
    ("GET", "/-/ready", {}),
    ("HEAD", "/-/ready", {}),
    ("POST", "/-/reload", {}),
    ("PUT", "/-/reload", {"content": b"x" * 10}),
    ("GET", "/-/reload", {}),
    ("GET", "/metrics", {}),
    ("HEAD", "/metrics", {}),
    ("POST", "/metrics", {"content": b"a=b"}),
    ("GET", "/metrics/", {"params": {"x": "1 2", "y": "é"}}),
    ("GET", "/api/v1/query", {"params": {"query": "up"}}),
    ("POST", "/api/v1/query_range", {"data": {"query": "up", "start": "1", "end": "2", "step": "1"}}),
    ("DELETE", "/api/v1/series", {}),
    ("GET", "/api/v1/", {}),
    ("GET", "/api/v1", {}),  # no route, but /api/v1/ matches the catch-all: redirected
    ("GET", "/api/v1/probes", {}),
    ("POST", "/api/v1/probes", {}),  # not the probes route's method: the catch-all's 422
    ("GET", "/probe", {}),
    ("HEAD", "/probe", {}),
    ("GET", "/probe", {"params": {"target": ""}}),
    ("GET", "/probe", {"params": [("target", "127.0.0.1:1"), ("target", "")]}),  # the last one counts
    ("GET", "/probe", {"params": {"target": "127.0.0.1:1", "module": "nope"}}),
    ("GET", "/probe", {"params": {"target": "127.0.0.1:1", "module": "tcp_connect"}, "headers": TIMEOUT}),
    ("POST", "/probe", {"params": {"target": "127.0.0.1:1"}}),
    ("GET", "/probe/", {}),
    ("GET", f"/api/push/{TOKEN}", {"params": {"status": "up", "msg": "OK"}}),
    ("GET", f"/api/push/{TOKEN}", {"params": {"status": "sideways"}}),
    ("POST", f"/api/push/{TOKEN}", {"params": {"status": "", "msg": "ünïcode"}}),
    ("GET", "/api/push/wrong-token-000000000", {}),
    ("GET", "/api/push/a%20b", {}),
    ("GET", "/api/push/", {}),
    ("PUT", f"/api/push/{TOKEN}", {}),
    ("POST", f"/ping/{TOKEN}", {"content": b"ran in 3s"}),
    ("POST", f"/ping/{TOKEN}/fail", {"content": "disk full ✗".encode() + b"\xff" + b"y" * 1200}),
    ("GET", f"/ping/{TOKEN}/", {}),
    ("GET", "/ping/wrong-token-000000000/fail", {}),
    ("PATCH", f"/ping/{TOKEN}/fail", {}),
    ("GET", "/api/v1/probes", {}),
    ("GET", "/", {}),
    ("GET", "/nothing/here", {}),
    ("OPTIONS", "/-/ready", {}),
]


class _Reloads:
    def __init__(self) -> None:
        self.broken = False

    async def reload(self) -> None:
        if self.broken:
            raise ValueError("line 3: field scrape_interval: not a duration")


REGISTRY = CollectorRegistry(auto_describe=True)
Counter("agent_test_total", "A counter the agent exposes.", registry=REGISTRY).inc(3)


def _agent(tmp_path: Path) -> tuple[list[Any], _Reloads, list[bool]]:
    """The agent's routes as ``guardia.server`` builds them, over a probe service of its own
    with a fixed clock (so two agents answer ``/api/v1/probes`` alike)."""
    tmp_path.mkdir()
    (tmp_path / "guardia.yml").write_text(PROBES)
    svc = ProbeService(MemoryStorage(), clock=lambda: 1_700_000_000.0)
    svc.apply_config(load_probes(str(tmp_path / "guardia.yml")))
    reloads, ready = _Reloads(), [True]
    routes = agent_routes(REGISTRY, reloads, lambda: ready[0],
                          [*probe_routes(svc.modules), *push_routes(svc)])
    return routes, reloads, ready


def _answers(url: str, reloads: _Reloads, ready: list[bool]) -> list[tuple[Any, ...]]:
    out = []
    with httpx.Client(base_url=url, timeout=10) as c:
        for broken in (False, True):
            reloads.broken, ready[0] = broken, not broken
            for method, path, kw in REQUESTS:
                r = c.request(method, path, **kw)
                location = r.headers.get("location")
                out.append((method, path, r.status_code, r.headers.get("content-type"),
                            r.headers.get("content-length"),
                            sorted(r.headers.get("allow", "").split(", ")),
                            urljoin(str(r.url), location).removeprefix(url) if location else None,
                            _timeless(r.content)))
    return out


def _timeless(body: bytes) -> bytes:
    """A body with the numbers that change between two probes (durations) blanked."""
    return re.sub(rb"(duration_seconds|_time_seconds)(\{[^}]*\})?([ =])\S+", rb"\1\2\3T", body)


def test_the_agents_routes_answer_as_under_starlette(tmp_path: Path) -> None:
    routes, reloads, ready = _agent(tmp_path / "a")
    with LiveServer(Starlette(routes=as_starlette(routes))) as srv:
        want = _answers(srv.url, reloads, ready)
    routes, reloads, ready = _agent(tmp_path / "b")
    with small(Router(routes)) as (url, _):
        got = _answers(url, reloads, ready)
    for w, g in zip(want, got, strict=True):
        assert g == w
    statuses = {a[2] for a in got}
    assert statuses >= {200, 307, 400, 404, 405, 422, 500, 503}, statuses
    # what the list covers is what the agent serves: every route, and each answer once bad
    assert {r.path for r in routes} == {"/-/healthy", "/-/ready", "/-/reload", "/metrics", "/probe",
                                        "/api/push/{token}", "/ping/{token}", "/ping/{token}/fail",
                                        "/api/v1/probes", "/api/v1/{rest:path}"}


def test_a_real_probe_answers_alike(tmp_path: Path) -> None:
    """The probe itself (a refused TCP connection) under both: the same metrics, durations apart."""
    params = {"target": "127.0.0.1:1", "module": "tcp_connect"}
    routes, _, _ = _agent(tmp_path / "a")
    with LiveServer(Starlette(routes=as_starlette(routes))) as srv:
        want = httpx.get(srv.url + "/probe", params=params, timeout=10)
        want_debug = httpx.get(srv.url + "/probe", params={**params, "debug": "true"}, timeout=10)
    routes, _, _ = _agent(tmp_path / "b")
    with small(Router(routes)) as (url, _):
        got = httpx.get(url + "/probe", params=params, timeout=10)
        got_debug = httpx.get(url + "/probe", params={**params, "debug": "true"}, timeout=10)
    assert got.status_code == want.status_code == 200
    assert got.headers["content-type"] == want.headers["content-type"] == PROBE_TYPE
    assert b"probe_success 0\n" in got.content and _timeless(got.content) == _timeless(want.content)
    assert got_debug.headers["content-type"] == want_debug.headers["content-type"]
    assert b"Probe failed" in got_debug.content
    assert _timeless(got_debug.content) == _timeless(want_debug.content)


def test_bad_route_tables_and_connections_are_refused() -> None:
    async def h(request: PlainRequest) -> Any:
        raise AssertionError("not called")

    with pytest.raises(ValueError, match=r"route path 'probe' does not start with /"):
        compile_path("probe")
    with pytest.raises(ValueError, match=r"route path '/x/\{n:int\}': unknown parameter type 'int'"):
        compile_path("/x/{n:int}")
    assert compile_path("/a.b/{t}").match("/a.b/x") and not compile_path("/a.b/{t}").match("/aXb/x")
    assert compile_path("/a/{rest:path}").match("/a/b/c/")

    async def receive() -> Any:
        raise AssertionError("not read")

    async def send(message: Any) -> None:
        raise AssertionError("nothing sent")

    import asyncio

    with pytest.raises(ValueError, match="'websocket' connections are not served here"):
        asyncio.run(Router([])({"type": "websocket", "path": "/"}, receive, send))
