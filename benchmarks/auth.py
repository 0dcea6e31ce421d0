"""What the auth middleware costs a request, per way of signing in.

A one-route ASGI app answering 204, wrapped in ``AuthMiddleware`` with a web config of three
users (bcrypt cost 10, as ``htpasswd -B`` makes them), called directly through ASGI (no HTTP
server or client, so the figure is the middleware's own CPU): no middleware, no credentials on
an open route, basic auth (after the first, cached, check), an API token, a session cookie, and
a session write with its CSRF token.  Also the time of one uncached bcrypt check (what the first
request of a user, and every wrong password, costs).  Prints microseconds per request; the last
line is the basic-auth overhead over no middleware.
"""

from __future__ import annotations

import asyncio
import base64
import statistics
import tempfile
import time
from typing import Any

import bcrypt

from guardia.config.webconfig import WebConfig
from guardia.web.auth import Auth, AuthMiddleware

N = 5_000


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _call(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(m: dict[str, Any]) -> None:
        nonlocal status
        if m["type"] == "http.response.start":
            status = m["status"]

    scope = {"type": "http", "method": method, "path": path, "headers": headers, "query_string": b"",
             "client": ("127.0.0.1", 1), "scheme": "http"}
    await app(scope, receive, send)
    return status


async def _per_request_us(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> float:
    assert await _call(app, method, path, headers) == 204
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(N):
            await _call(app, method, path, headers)
        runs.append((time.perf_counter() - t) / N * 1e6)
    return statistics.median(runs)


async def main() -> None:
    hashed = bcrypt.hashpw(b"pw-ana", bcrypt.gensalt(10)).decode()
    t = time.perf_counter()
    bcrypt.checkpw(b"pw-ana", hashed.encode())
    bcrypt_ms = (time.perf_counter() - t) * 1000
    with tempfile.TemporaryDirectory() as data:
        web = WebConfig(users={"ana": hashed}, roles={"ana": "editor"}, public=frozenset({"health"}))
        auth = Auth(web, data)
        app = AuthMiddleware(_ok, auth, headers=True)
        _, token = auth.tokens.create("bench", "editor")
        cookie, session = auth.sessions.create("ana", "editor")
        basic = [(b"authorization", b"Basic " + base64.b64encode(b"ana:pw-ana"))]
        figures = {
            "no middleware": await _per_request_us(_ok, "GET", "/api/v1/labels", []),
            "open route": await _per_request_us(app, "GET", "/-/healthy", []),
            "API token": await _per_request_us(app, "GET", "/api/v1/labels",
                                               [(b"authorization", f"Bearer {token}".encode())]),
            "session cookie": await _per_request_us(app, "GET", "/api/v1/labels",
                                                    [(b"cookie", f"guardia_session={cookie}".encode())]),
            "session write + CSRF": await _per_request_us(
                app, "DELETE", "/api/v2/silence/x",
                [(b"cookie", f"guardia_session={cookie}".encode()), (b"x-csrf-token", session.csrf.encode()),
                 (b"host", b"guardia"), (b"origin", b"http://guardia")]),
            "basic auth (cached)": await _per_request_us(app, "GET", "/api/v1/labels", basic),
        }
    print(f"bcrypt cost 10, one uncached check: {bcrypt_ms:.0f} ms")
    for name, us in figures.items():
        print(f"{name:>22}: {us:7.1f} µs/request")
    print(f"basic-auth overhead: {figures['basic auth (cached)'] - figures['no middleware']:.0f} µs/request")


if __name__ == "__main__":
    asyncio.run(main())
