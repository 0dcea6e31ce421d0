"""The ASGI middleware in front of every route: authenticate, authorise by the route table,
check CSRF on browser writes, add security headers, and write changes to the audit log.

It sits outside everything else (the remote-write fast path included), so no route can be
reached around it.  With no web config it only writes the audit log, and guardia answers as it
always did.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, quote

from guardia.config.webconfig import PUBLIC_GROUPS
from guardia.web.auth.identity import Auth, Identity, Refused
from guardia.web.auth.passwords import constant_time_equal
from guardia.web.auth.routes import OPEN, RANK, VIEWER, Rule, rule_for
from guardia.web.plain import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("guardia.web.auth")

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_BODY_LIMIT = 8 << 20  # a browser form or JSON write read whole for its CSRF token
_DETAIL_LIMIT = 4096  # request and response text kept in an audit entry

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
DEFAULT_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}
HSTS = "max-age=31536000"


class AuthMiddleware:
    def __init__(self, app: ASGIApp, auth: Auth, prefix: str = "", headers: bool = False,
                 external_host: str = "") -> None:
        self.app = app
        self.auth = auth
        self.prefix = prefix
        self.headers = headers  # security headers on: a web config is in use
        # behind a reverse proxy the Host header may be the backend's; the browser's Origin is
        # the --web.external-url's host
        self.external_host = external_host.encode()

    def _need(self, rule: Rule) -> str:
        if rule.who in PUBLIC_GROUPS:
            return OPEN if rule.who in self.auth.config.public else VIEWER
        return rule.who

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if self.prefix and path.startswith(self.prefix):
            path = path[len(self.prefix):] or "/"
        method = scope.get("method", "GET") if scope["type"] == "http" else "GET"
        rule = rule_for(method, path)
        if self.headers and scope["type"] == "http":
            send = self._secure_headers(send, scope.get("scheme") == "https")
        identity: Identity | None = None
        if self.auth.enabled and self._need(rule) != OPEN:
            # open routes are not authenticated at all: a private status page's own basic auth
            # is not guardia's users, and must neither fail here nor count as a failed sign-in
            headers = dict(scope["headers"])
            address = (scope.get("client") or ("-",))[0]
            try:
                if headers.get(b"authorization", b"")[:6].lower() == b"basic ":
                    identity = await asyncio.to_thread(self.auth.identify, headers, address)
                else:
                    identity = self.auth.identify(headers, address)
            except Refused as r:
                await self._refuse(scope, send, r.status, r.reason, r.retry_after)
                return
            need = self._need(rule)
            if identity is None:
                await self._unauthenticated(scope, send, path)
                return
            if RANK[identity.role] < RANK[need]:
                log.warning("event=forbidden user=%r role=%s needs=%s method=%s path=%s",
                            identity.user, identity.role, need, method, path)
                await self._refuse(scope, send, 403, f"forbidden: {method} {path} needs the {need} role "
                                                     f"(you are {identity.user}, {identity.role})")
                return
            scope["guardia.user"], scope["guardia.role"] = identity.user, identity.role
            if identity.session is not None:  # for server-rendered forms' hidden csrf_token field
                scope["guardia.csrf"] = identity.session.csrf
            if method not in SAFE and identity.via != "token":
                ok, receive = await self._same_site_write(scope, receive, identity, headers)
                if not ok:
                    log.warning("event=csrf_refused user=%r method=%s path=%s", identity.user, method, path)
                    await self._refuse(scope, send, 403, "missing or wrong CSRF token: reload the page "
                                                         "and try again")
                    return
        if rule.action is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self._audited(scope, receive, send, rule.action, identity)

    # -- refusals ------------------------------------------------------------------------------

    async def _refuse(self, scope: Scope, send: Send, status: int, reason: str,
                      retry_after: float = 0) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})
            return
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        if status == 401:
            headers.append((b"www-authenticate", b'Basic realm="guardia"'))
        if retry_after:
            headers.append((b"retry-after", str(int(retry_after) + 1).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": (reason + "\n").encode()})

    async def _unauthenticated(self, scope: Scope, send: Send, path: str) -> None:
        headers = dict(scope["headers"])
        wants_html = b"text/html" in headers.get(b"accept", b"")
        if scope["type"] == "http" and scope["method"] == "GET" and wants_html:
            query = scope.get("query_string", b"").decode("latin-1")
            target = path + ("?" + query if query else "")
            location = f"{self.prefix}/-/auth/login?next={quote(target, safe='/')}"
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", location.encode()), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await self._refuse(scope, send, 401, "unauthorized: sign in, or send basic auth or an API token")

    # -- CSRF ------------------------------------------------------------------------------

    async def _same_site_write(self, scope: Scope, receive: Receive, identity: Identity,
                               headers: dict[bytes, bytes]) -> tuple[bool, Receive]:
        """A write sent by a browser on its own: a session write must carry the session's CSRF
        token (header or form field); a basic-auth write (browsers resend those on their own)
        must not come from another site."""
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1")
        if site == "cross-site" or not _same_origin(headers, self.external_host):
            return False, receive
        if identity.session is None:
            return True, receive
        sent = headers.get(b"x-csrf-token", b"").decode("latin-1")
        if sent:
            return constant_time_equal(sent, identity.session.csrf), receive
        if not headers.get(b"content-type", b"").startswith(b"application/x-www-form-urlencoded"):
            return False, receive
        body = await read_body(receive, _BODY_LIMIT)
        if body is None:
            return False, receive
        field = parse_qs(body.decode("utf-8", "replace")).get("csrf_token", [""])[0]
        return constant_time_equal(field, identity.session.csrf), replay(body, receive)

    # -- security headers -------------------------------------------------------------------

    def _secure_headers(self, send: Send, tls: bool) -> Send:
        extra = dict(DEFAULT_HEADERS)
        if tls:
            extra["strict-transport-security"] = HSTS
        extra.update({k.lower(): v for k, v in self.auth.config.headers.items()})

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                message = dict(message)
                message["headers"] = [*message.get("headers", []),
                                      *((k.encode(), v.encode()) for k, v in extra.items()
                                        if k.encode() not in have)]
            await send(message)

        return wrapped

    # -- audit ------------------------------------------------------------------------------

    async def _audited(self, scope: Scope, receive: Receive, send: Send, action: str,
                       identity: Identity | None) -> None:
        request = bytearray()
        response = bytearray()
        status = 0

        async def tee_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(request) <= _DETAIL_LIMIT:
                request.extend(message.get("body", b"")[: _DETAIL_LIMIT + 1 - len(request)])
            return message

        async def tee_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and len(response) <= _DETAIL_LIMIT:
                response.extend(message.get("body", b"")[: _DETAIL_LIMIT + 1 - len(response)])
            await send(message)

        try:
            await self.app(scope, tee_receive, tee_send)
        finally:
            fields: dict[str, Any] = {
                "method": scope["method"], "path": scope["path"], "status": status or 500,
                "remote": (scope.get("client") or ("-",))[0],
                "via": identity.via if identity else "none",
                "role": identity.role if identity else "",
            }
            if scope.get("query_string"):
                fields["query"] = scope["query_string"].decode("latin-1")[:_DETAIL_LIMIT]
            if request:
                fields["request"] = summarize(bytes(request))
            if response and status < 400:
                fields["result"] = summarize(bytes(response))
            elif response:
                fields["error"] = bytes(response[:500]).decode("utf-8", "replace").strip()
            who = identity.user if identity else "anonymous"
            try:
                await asyncio.to_thread(self.auth.audit.append, action, who, **fields)
            except OSError:
                log.exception("event=audit_write_failed action=%s user=%r", action, who)


def summarize(body: bytes) -> Any:
    """What a request or response body says, for the audit log: parsed JSON or form fields when
    it is short, else its size."""
    if len(body) > _DETAIL_LIMIT:
        return {"bytes_over": _DETAIL_LIMIT}
    text = body.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        pass
    form = parse_qs(text)
    if form and all(k.isprintable() for k in form):
        return {k: v[0] if len(v) == 1 else v for k, v in form.items() if k != "csrf_token"}
    return text[:500]


def _same_origin(headers: dict[bytes, bytes], external_host: bytes) -> bool:
    """No ``Origin`` (not a browser, or a same-origin GET form), or one naming this server."""
    origin = headers.get(b"origin")
    if not origin or origin == b"null":
        return origin is None
    host = origin.split(b"://", 1)[-1]
    return bool(host) and host in (headers.get(b"host"), headers.get(b"x-forwarded-host"), external_host)


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None past ``limit`` bytes."""
    chunks = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.extend(message.get("body", b""))
        if len(chunks) > limit:
            return None
        if not message.get("more_body", False):
            return bytes(chunks)


def replay(body: bytes, then: Receive) -> Callable[[], Awaitable[Message]]:
    """A ``receive`` that hands the app ``body`` already read, then the server's own messages
    (a disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await then()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
