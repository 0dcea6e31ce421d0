"""Routing of :mod:`guardia.web.plain` handlers by path and method, without Starlette.

An agent's routes answered under Starlette's router before (#24), and clients of an agent see
the same answers now: the first route whose path and method match serves the request; a path
that matches only with another method gets 405 with ``allow`` (a route taking GET takes HEAD
too); a path that matches nothing but does with its trailing slash added or removed gets a 307
to that path; anything else 404.  Path patterns are Starlette's: ``{name}`` is one segment,
``{name:path}`` the rest of the path.  Full mode serves the same routes through Starlette
(:func:`as_starlette`), so one handler answers in both modes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

from guardia.web.plain import Endpoint, Handler, PlainResponse, Receive, Scope, Send, text

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(:[a-zA-Z_]+)?}")
_CONVERTORS = {"str": "[^/]+", "path": ".*"}


def compile_path(path: str) -> re.Pattern[str]:
    """``/api/push/{token}`` as a regular expression with a group per parameter."""
    if not path.startswith("/"):
        raise ValueError(f"route path {path!r} does not start with /")
    out, at = "^", 0
    for m in _PARAM.finditer(path):
        kind = (m.group(2) or ":str")[1:]
        if kind not in _CONVERTORS:
            raise ValueError(f"route path {path!r}: unknown parameter type {kind!r} (str or path)")
        out += re.escape(path[at:m.start()]) + f"(?P<{m.group(1)}>{_CONVERTORS[kind]})"
        at = m.end()
    return re.compile(out + re.escape(path[at:]) + "$")


@dataclass(frozen=True)
class Route:
    path: str
    handler: Handler
    methods: Sequence[str] = ("GET",)
    name: str = ""
    reads_body: bool = False
    endpoint: Endpoint = field(init=False, compare=False)
    allowed: frozenset[str] = field(init=False, compare=False)
    regex: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        methods = {m.upper() for m in self.methods}
        if "GET" in methods:
            methods.add("HEAD")
        object.__setattr__(self, "allowed", frozenset(methods))
        object.__setattr__(self, "endpoint", Endpoint(self.handler, self.reads_body))
        object.__setattr__(self, "regex", compile_path(self.path))


class Router:
    """An ASGI application serving ``routes`` (HTTP only: an agent serves no WebSocket)."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = list(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # nothing to start or stop: each step acknowledged
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            raise ValueError(f"{scope['type']!r} connections are not served here (HTTP only)")
        path, method = scope["path"], scope["method"]
        partial: Route | None = None
        for route in self.routes:
            m = route.regex.match(path)
            if m is None:
                continue
            if method in route.allowed:
                scope["path_params"] = m.groupdict()
                await route.endpoint(scope, receive, send)
                return
            partial = partial or route
        if partial is not None:
            allow = ", ".join(sorted(partial.allowed))
            await text("Method Not Allowed", 405, (("Allow", allow),)).send(send)
            return
        if path != "/":
            other = path.rstrip("/") if path.endswith("/") else path + "/"
            if any(r.regex.match(other) for r in self.routes):
                await _redirect(other, scope.get("query_string", b"")).send(send)
                return
        await text("Not Found", 404).send(send)


def _redirect(path: str, query: bytes) -> PlainResponse:
    """307 to ``path`` on the same host, with the query kept: a relative location (Starlette
    writes the absolute URL from the Host header; a browser or HTTP client resolves both to the
    same place).  A path starting ``//`` would read as a host name, so its second slash is
    escaped."""
    path = path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    if path.startswith("//"):
        path = "/%2F" + path[2:]
    target = path + ("?" + query.decode("latin-1") if query else "")
    return PlainResponse(b"", 307, None, (("location", quote(target, safe=":/%#?=@[]!$&'()*+,;")),))


def as_starlette(routes: Sequence[Route]) -> list[BaseRoute]:
    """``routes`` for full mode's Starlette application, each calling the same endpoint."""
    from starlette.routing import Route as StarletteRoute

    return [StarletteRoute(r.path, r.endpoint, methods=list(r.methods), name=r.name or None)
            for r in routes]

