"""The agent's HTTP server (``guardia.web.small_server``): the agent's endpoints answer as they
did under uvicorn, and the HTTP/1.1 cases real clients use (keep-alive, chunked bodies both
ways, Expect: 100-continue, HEAD, bad requests, an app that fails, a stop mid-request) work."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from guardia.web.agent import create_agent_app
from guardia.web.small_server import SmallServer
from tests.web.conftest import LiveServer


class _Reloads:
    """What ``/-/reload`` calls: fails while ``broken`` is set, as a config that does not load."""

    def __init__(self) -> None:
        self.broken = False
        self.calls = 0

    async def reload(self) -> None:
        self.calls += 1
        if self.broken:
            raise ValueError("line 3: field scrape_interval: not a duration")


@contextmanager
def small(app: Any, **kw: Any) -> Iterator[tuple[str, SmallServer]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = SmallServer(app, **kw)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve([sock])), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", server
    finally:
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive()


def _exchange(url: str, raw: bytes, wait_s: float = 0.3) -> bytes:
    """Bytes written on one connection and everything read until the server closes it (or
    ``wait_s`` passes with nothing more)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(raw)
        s.settimeout(wait_s)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except TimeoutError:
            pass
        return out


AGENT_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/-/healthy", {}),
    ("HEAD", "/-/healthy", {}),
    ("GET", "/-/ready", {}),
    ("POST", "/-/reload", {}),
    ("PUT", "/-/reload", {"content": b"x" * 10}),
    ("GET", "/api/v1/query", {"params": {"query": "up"}}),
    ("POST", "/api/v1/query_range", {"data": {"query": "up", "start": "1", "end": "2", "step": "1"}}),
    ("GET", "/nothing/here", {}),
    ("DELETE", "/-/healthy", {}),
    ("GET", "/metrics", {}),
]


def test_the_agents_endpoints_answer_as_they_did_under_uvicorn() -> None:
    registry = CollectorRegistry(auto_describe=True)
    Counter("agent_test_total", "A counter the agent exposes.", registry=registry).inc(3)
    reloads = _Reloads()
    ready = [True]
    app = create_agent_app(registry, reloads, lambda: ready[0])

    def answers(url: str) -> list[tuple[int, str, str, bytes]]:
        out = []
        with httpx.Client(base_url=url, timeout=10) as c:
            for broken, not_ready in ((False, False), (True, True)):
                reloads.broken, ready[0] = broken, not not_ready
                for method, path, kw in AGENT_REQUESTS:
                    r = c.request(method, path, **kw)
                    out.append((r.status_code, r.headers.get("content-type", ""),
                                r.headers.get("content-length", ""), r.content))
        return out

    with LiveServer(app) as srv:
        want = answers(srv.url)
    with small(app) as (url, _):
        got = answers(url)
    assert got == want
    assert {a[0] for a in got} >= {200, 404, 405, 422, 500, 503}
    assert got[1][3] == b"" and got[1][2] == str(len(got[0][3]))  # HEAD: the length, no body


def _echo_app(slow_started: threading.Event | None = None) -> Starlette:
    async def echo(request: Request) -> Response:
        body = await request.body()
        return PlainTextResponse(f"{request.method} {request.url.path} q={request.query_params.get('q')} "
                                 f"client={request.client is not None} {len(body)}:{body[:20].decode()}")

    async def stream(request: Request) -> Response:
        async def parts() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"part{i};".encode()
        return StreamingResponse(parts(), media_type="text/plain")

    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug in a handler")

    async def slow(request: Request) -> Response:
        if slow_started is not None:
            slow_started.set()
        await asyncio.sleep(0.5)
        return PlainTextResponse("finished")

    return Starlette(routes=[Route("/echo/{rest:path}", echo, methods=["GET", "POST"]),
                             Route("/stream", stream), Route("/boom", boom), Route("/slow", slow)])


def test_keep_alive_chunked_bodies_and_expect_continue() -> None:
    with small(_echo_app()) as (url, _):
        two = _exchange(url, b"GET /echo/a%20b?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                             b"POST /echo/c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        assert two.count(b"HTTP/1.1 200 OK\r\n") == 2  # one connection, two answers
        assert b"GET /echo/a b q=1 client=True 0:" in two
        assert b"POST /echo/c q=None client=True 5:hello" in two
        chunked = _exchange(url, b"POST /echo/d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                 b"Connection: close\r\n\r\n4\r\nabcd\r\n3;ext=1\r\nefg\r\n0\r\n"
                                 b"Trailer: t\r\n\r\n")
        assert chunked.startswith(b"HTTP/1.1 200 OK\r\n") and chunked.endswith(b"7:abcdefg")
        assert b"connection: close\r\n" in chunked.lower()
        cont = _exchange(url, b"POST /echo/e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                              b"Content-Length: 3\r\n\r\nxyz")
        assert cont.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
        assert cont.endswith(b"3:xyz")
        old = _exchange(url, b"GET /echo/f HTTP/1.0\r\n\r\n", wait_s=2)
        assert old.startswith(b"HTTP/1.1 200 OK\r\n") and b"connection: close" in old.lower()
        # curl, a real client: a chunked upload (it sends Expect: 100-continue for big bodies)
        big = subprocess.run(["curl", "-sS", "--http1.1", "-H", "Transfer-Encoding: chunked",
                              "--data-binary", "@-", f"{url}/echo/curl"],
                             input=b"z" * 200_000, capture_output=True, timeout=30, check=True)
        assert big.stdout.endswith(b"200000:" + b"z" * 20)


def test_streamed_answers_are_chunked_and_head_gets_no_body() -> None:
    with small(_echo_app()) as (url, _), httpx.Client(base_url=url, timeout=10) as c:
        r = c.get("/stream")
        assert r.status_code == 200 and r.text == "part0;part1;part2;"
        assert r.headers["transfer-encoding"] == "chunked" and "date" in r.headers
        raw = _exchange(url, b"HEAD /echo/x HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _, body = raw.partition(b"\r\n\r\n")
        text = b"HEAD /echo/x q=None client=True 0:"
        assert f"content-length: {len(text)}".encode() in head.lower() and body == b""  # no body


def test_bad_requests_and_a_failing_app_get_an_answer_and_a_closed_connection() -> None:
    with small(_echo_app(), max_head=4096) as (url, _):
        for raw, status in [(b"NOT HTTP AT ALL\r\n\r\n", b"400"),
                            (b"GET /echo/x HTTP/2.0\r\n\r\n", b"505"),
                            (b"GET /echo/x HTTP/1.1\r\nbad header\r\n\r\n", b"400"),
                            (b"POST /echo/x HTTP/1.1\r\nContent-Length: many\r\n\r\n", b"400"),
                            (b"POST /echo/x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", b"501"),
                            (b"GET /echo/x HTTP/1.1\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n", b"431"),
                            (b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\nGET /echo/y HTTP/1.1\r\n\r\n", b"500")]:
            t0 = time.monotonic()
            got = _exchange(url, raw, wait_s=3)
            assert got.startswith(b"HTTP/1.1 " + status), (raw[:40], got[:80])
            # closed at once (not after the 3 s wait), the request after /boom left unanswered;
            # starlette answered /boom's 500 itself, so only the refusals say "close"
            assert got.count(b"HTTP/1.1 ") == 1 and time.monotonic() - t0 < 2
            assert status == b"500" or b"connection: close" in got.lower()
        with httpx.Client(base_url=url, timeout=10) as c:  # the server is still fine
            assert c.get("/echo/after").status_code == 200


def test_a_stop_closes_idle_connections_and_lets_a_request_in_flight_finish() -> None:
    slow_started = threading.Event()
    with small(_echo_app(slow_started), graceful_s=3) as (url, server):
        host, port = url.removeprefix("http://").split(":")
        idle = socket.create_connection((host, int(port)), timeout=5)
        idle.sendall(b"GET /echo/i HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.recv(65536).startswith(b"HTTP/1.1 200 OK")
        answer: list[httpx.Response] = []
        t = threading.Thread(target=lambda: answer.append(httpx.get(f"{url}/slow", timeout=10)))
        t.start()
        assert slow_started.wait(10)  # in flight (a fixed sleep lost that race on a loaded machine)
        t0 = time.monotonic()
        server.should_exit = True
        t.join(10)
        assert answer and answer[0].text == "finished"
        idle.settimeout(5)
        assert idle.recv(100) == b""  # closed by the stop, not by its 5 s keep-alive timeout
        assert time.monotonic() - t0 < 4
        idle.close()
