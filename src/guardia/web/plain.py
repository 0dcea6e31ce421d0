"""Request handlers as plain ASGI, for the routes ``guardia serve --agent`` serves.

Starlette with what its request and response modules import (anyio, python_multipart,
``http.client`` and ``email``) is about 4 MiB resident in every agent, for a handful of routes
that read a query parameter or a body and answer text or JSON.  A handler here takes a
:class:`PlainRequest` and returns a :class:`PlainResponse`; :class:`Endpoint` makes it an ASGI
application, which :mod:`guardia.web.plain_router` routes in an agent and Starlette routes in
full mode (an object that is not a function is an ASGI endpoint to Starlette), so both modes
run the same handler.  Answers are encoded as Starlette encodes its ``Response``: the given
headers, then ``content-length``, then ``content-type`` with ``charset=utf-8`` added to a
``text/`` type that has none.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TEXT = "text/plain; charset=utf-8"


class PlainRequest:
    """What a handler reads of a request: method, path parameters, query, headers, body."""

    __slots__ = ("_query", "body", "headers", "method", "path", "path_params", "query_string")

    def __init__(self, method: str, path: str, query_string: bytes, headers: list[tuple[bytes, bytes]],
                 body: bytes = b"", path_params: Mapping[str, str] | None = None) -> None:
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.body = body
        self.path_params = dict(path_params or {})
        self._query: dict[str, str] | None = None

    @property
    def query(self) -> dict[str, str]:
        """The query parameters; of a repeated one, the last value (as Starlette's
        ``query_params.get``), blank values kept."""
        if self._query is None:
            self._query = dict(parse_qsl(self.query_string.decode("latin-1"), keep_blank_values=True))
        return self._query

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        key = name.lower().encode("latin-1")
        for k, v in self.headers:
            if k == key:
                return v.decode("latin-1")
        return None


@dataclass(frozen=True, slots=True)
class PlainResponse:
    body: bytes = b""
    status: int = 200
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        out = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers]
        names = {k for k, _ in out}
        if b"content-length" not in names and not (self.status < 200 or self.status in (204, 304)):
            out.append((b"content-length", str(len(self.body)).encode("latin-1")))
        ctype = self.content_type
        if ctype is not None and b"content-type" not in names:
            if ctype.startswith("text/") and "charset=" not in ctype.lower():
                ctype += "; charset=utf-8"
            out.append((b"content-type", ctype.encode("latin-1")))
        return out

    async def send(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.raw_headers()})
        await send({"type": "http.response.body", "body": self.body})


def text(body: str, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> PlainResponse:
    return PlainResponse(body.encode("utf-8"), status, TEXT, headers)


def json_answer(content: Any, status: int = 200) -> PlainResponse:
    """JSON as Starlette's ``JSONResponse`` writes it: compact, UTF-8, no NaN."""
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return PlainResponse(body, status, "application/json")


Handler = Callable[[PlainRequest], Awaitable[PlainResponse]]


async def read_body(receive: Receive) -> bytes:
    """The request body, every part of it."""
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away: what came so far
        parts.append(bytes(message.get("body", b"")))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


class Endpoint:
    """``handler`` as an ASGI application; path parameters come from ``scope["path_params"]``
    (set by the router that matched the path, Starlette's or :class:`guardia.web.plain_router.Router`)."""

    __slots__ = ("handler", "reads_body")

    def __init__(self, handler: Handler, reads_body: bool = False) -> None:
        self.handler = handler
        self.reads_body = reads_body  # a GET handler never waits for a body it does not read

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive) if self.reads_body else b""
        request = PlainRequest(scope["method"], scope["path"], scope.get("query_string", b""),
                               list(scope.get("headers", ())), body, scope.get("path_params"))
        response = await self.handler(request)
        await response.send(send)
