"""Shared test plumbing: configs from YAML text, local HTTP targets, waiting for scrapes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from guardia.config import parse_yaml
from guardia.config.prometheus import PrometheusConfig, ScrapeConfig, parse_prometheus_config
from guardia.model import Matcher
from guardia.storage.interface import Series
from guardia.storage.memory import MemoryStorage


def config(text: str) -> PrometheusConfig:
    cfg, issues = parse_prometheus_config(parse_yaml(text, "prometheus.yml"))
    assert cfg is not None, [str(i) for i in issues]
    return cfg


def job(text: str) -> ScrapeConfig:
    return config(text).scrape_configs[0]


async def close(loop: Any) -> None:
    """Stop a test's scrape loop and its httpx client, if it has one."""
    await loop.stop(mark_stale=False)
    if loop.client is not None:
        await loop.client.aclose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Handler = Callable[[BaseHTTPRequestHandler], None]


class Sink:
    """A local HTTP server whose response is decided per request by ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[dict[str, str]] = []
        sink = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                sink.requests.append({k.lower(): v for k, v in self.headers.items()} | {"path": self.path})
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    sink.handler(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def respond(body: bytes | str, content_type: str | None = "text/plain; version=0.0.4") -> Handler:
    """A handler answering 200 with ``body`` (no Content-Type header when ``content_type`` is None)."""
    data = body.encode() if isinstance(body, str) else body

    def h(req: BaseHTTPRequestHandler) -> None:
        req.send_response(200)
        if content_type is not None:
            req.send_header("Content-Type", content_type)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    return h


def select(storage: MemoryStorage, **eq: str) -> list[Series]:
    q = storage.querier(0, 2**62)
    return q.select([Matcher.equal(k, v) for k, v in eq.items()], sort=True)


async def wait_for(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
