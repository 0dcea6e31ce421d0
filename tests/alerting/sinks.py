"""Local HTTP sinks that stand in for webhook, Slack, PagerDuty, Telegram and Teams endpoints.

A tiny asyncio HTTP/1.1 server bound to 127.0.0.1 on a free port; it records every request
(path, headers, body, arrival time) and can be told to fail the first N requests.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HTTPSink:
    fail_first: int = 0
    fail_status: int = 500
    response_body: bytes = b'{"ok":true}'
    # answers by request (an API that is more than a hook: Jira's search, WeChat's token...)
    responder: Callable[[Request], bytes] | None = None
    requests: list[Request] = field(default_factory=list)
    attempts: int = 0
    port: int = 0
    _server: asyncio.AbstractServer | None = None
    _event: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> HTTPSink:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait_for(self, n: int, timeout: float = 10.0) -> list[Request]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < n and time.monotonic() < deadline:
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
        return self.requests

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    h = (await reader.readline()).decode().rstrip("\r\n")
                    if not h:
                        break
                    k, v = h.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.attempts += 1
                if self.attempts <= self.fail_first:
                    status, out = self.fail_status, b"sink failing on purpose"
                else:
                    req = Request(method, path, headers, body, time.monotonic())
                    status, out = 200, self.response_body if self.responder is None else self.responder(req)
                    self.requests.append(req)
                    self._event.set()
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(out)}\r\n\r\n".encode() + out
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
