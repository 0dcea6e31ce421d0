"""Every route the built app serves, tried without credentials, with each role (basic auth,
API token, UI session), with a wrong password and with an expired session: only what the
role allows answers.  The routes are read from the running app, so a route added anywhere in
guardia fails here until ``guardia/web/auth/routes.py`` says who may call it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route, WebSocketRoute

from guardia.config.webconfig import PUBLIC_GROUPS
from guardia.web.auth.routes import OPEN, RANK, is_fallback, rule_for
from tests.web.auth.conftest import PASSWORDS, ROLES, running, web_yaml

METHODS = ("GET", "POST", "PUT", "DELETE")
# a wrong password on every route would hit the failed-login limit (tested in test_login.py)
NO_LIMITS = "  failed_logins: {per_account: 100000, per_address: 100000}\n"


def _starlette(app: Any) -> Any:
    while not hasattr(app, "routes"):
        app = app.app
    return app


def _concrete(template: str) -> str:
    path = re.sub(r"feed\.\{[^}]+\}", "feed.rss", template)
    return re.sub(r"\{[^}]+\}", "x", path)


def enumerate_routes(app: Any) -> tuple[list[tuple[str, str]], list[str]]:
    """(method, concrete path) for every HTTP route, and the WebSocket paths."""
    http: list[tuple[str, str]] = []
    ws: list[str] = []

    def walk(routes: list[Any], prefix: str) -> None:
        for r in routes:
            if isinstance(r, Route):
                http.extend((m, _concrete(prefix + r.path)) for m in sorted(r.methods or ()) if m in METHODS)
            elif isinstance(r, WebSocketRoute):
                ws.append(_concrete(prefix + r.path))
            elif isinstance(r, Mount):
                if r.routes:
                    walk(list(r.routes), prefix + r.path)
                else:
                    http.append(("GET", prefix + r.path + "/x"))

    walk(list(_starlette(app).routes), "")
    return sorted(set(http)), ws


def need(method: str, path: str, public: frozenset[str]) -> str:
    who = rule_for(method, path).who
    if who in PUBLIC_GROUPS:
        return OPEN if who in public else "viewer"
    return who


async def _login(c: httpx.AsyncClient, user: str) -> tuple[str, str]:
    r = await c.post("/-/auth/login", data={"username": user, "password": PASSWORDS[user], "next": "/"})
    assert r.status_code == 303, r.text
    return r.cookies["guardia_session"], r.cookies["guardia_csrf"]


async def test_every_route_answers_only_the_roles_it_allows(tmp_path: Path) -> None:
    async with running(tmp_path, web_yaml(guardia=NO_LIMITS)) as proc:
        routes, ws = enumerate_routes(proc.http_app)
        unnamed = [(m, p) for m, p in routes if is_fallback(rule_for(m, p))]
        assert not unnamed, f"routes with no row in guardia/web/auth/routes.py RULES: {unnamed}"
        assert len(routes) > 80 and ws == ["/loki/api/v1/tail"]
        public = proc.auth.config.public
        tokens = {u: proc.auth.tokens.create(f"t-{u}", ROLES[u])[1] for u in ROLES}
        # in-process (ASGI) rather than over TCP: ~1 ms a request instead of ~45 ms on a loaded
        # machine, for the same middleware and handlers
        transport = httpx.ASGITransport(app=proc.http_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://guardia.test", timeout=30) as c:
            sessions = {u: await _login(c, u) for u in ROLES}
            c.cookies.clear()
            cookie, s = proc.auth.sessions.create("ada", "admin", max_age_s=0.05)
            expired = (cookie, s.csrf)
            await asyncio.sleep(0.1)
            tried = 0
            inner = proc.http_app.app  # type: ignore[attr-defined]

            async def passed(scope: Any, receive: Any, send: Any) -> None:
                await send({"type": "http.response.start", "status": 299, "headers": []})
                await send({"type": "http.response.body", "body": b""})

            for method, path in routes:
                want = need(method, path, public)

                async def call(headers: dict[str, str], m: str = method, p: str = path) -> int:
                    r = await c.request(m, p, headers=headers)
                    return r.status_code

                base = {"Accept": "application/json"}
                got = await call(base)
                assert (got not in (401, 403)) if want == OPEN else got == 401, (method, path, "none", got)
                got = await call({**base, "Authorization": _basic("ada", "not-the-password")})
                assert (got not in (401, 403)) if want == OPEN else got == 401, (method, path, "wrong", got)
                got = await call(
                    {**base, "Cookie": f"guardia_session={expired[0]}", "X-CSRF-Token": expired[1]}
                )
                assert (got not in (401, 403)) if want == OPEN else got == 401, (method, path, "expired", got)
                for user, role in ROLES.items():
                    allowed = want == OPEN or RANK[role] >= RANK[want]
                    cookie, csrf = sessions[user]
                    for how, headers in (
                        ("basic", {"Authorization": _basic(user, PASSWORDS[user])}),
                        ("token", {"Authorization": f"Bearer {tokens[user]}"}),
                        ("session", {"Cookie": f"guardia_session={cookie}", "X-CSRF-Token": csrf}),
                    ):
                        # the route's own handler answers basic auth; for tokens and sessions a
                        # stand-in answers 299 behind the same middleware (the handlers' time
                        # would triple this test's for no new decision)
                        proc.http_app.app = inner if how == "basic" else passed  # type: ignore[attr-defined]
                        try:
                            got = await call({**base, **headers})
                        finally:
                            proc.http_app.app = inner  # type: ignore[attr-defined]
                        if allowed:
                            assert got not in (401, 403), (method, path, role, how, got)
                            assert how == "basic" or got == 299, (method, path, role, how, got)
                        else:
                            assert got == 403, (method, path, role, how, got)
                        tried += 1
            assert tried > 9 * 80
            cookie, csrf = sessions["vic"]
            signed_in = {"Cookie": f"guardia_session={cookie}"}
            assert (await c.get("/api/v1/labels", headers=signed_in)).status_code == 200
            assert (await c.post("/-/auth/logout", headers=signed_in)).status_code == 303
            assert (await c.get("/api/v1/labels", headers=signed_in)).status_code == 401
            # the one WebSocket route: refused without credentials
            with pytest.raises(Exception, match=r"403|1008|rejected|Handshake"):
                from websockets.asyncio.client import connect

                async with connect(f"ws://{proc.listen}/loki/api/v1/tail?query=%7Bjob%3D%22x%22%7D"):
                    pass


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_without_a_web_config_every_route_stays_open(tmp_path: Path) -> None:
    async with running(tmp_path, None) as proc:
        assert not proc.auth.enabled
        async with httpx.AsyncClient(base_url=f"http://{proc.listen}") as c:
            assert (await c.get("/api/v1/query", params={"query": "1"})).status_code == 200
            assert (await c.post("/-/reload")).status_code == 200
            r = await c.get("/")
            assert r.status_code == 200 and "content-security-policy" not in r.headers
