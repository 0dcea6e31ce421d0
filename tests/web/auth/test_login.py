"""UI sign-in: sessions in secure cookies, CSRF on browser writes, brute force slowed and
logged, security headers, no open redirect."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import httpx
import pytest

from tests.web.auth.conftest import PASSWORDS, running, web_yaml


def _client(proc: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=proc.http_app, client=("203.0.113.7", 5000))  # type: ignore[attr-defined]
    return httpx.AsyncClient(transport=transport, base_url="http://guardia.test")


async def test_a_browser_is_sent_to_sign_in_and_back(tmp_path: Path) -> None:
    async with running(tmp_path, web_yaml()) as proc, _client(proc) as c:
        r = await c.get("/targets?state=down", headers={"Accept": "text/html"})
        assert r.status_code == 303 and r.headers["location"] == "/-/auth/login?next=/targets%3Fstate%3Ddown"
        page = await c.get(r.headers["location"])
        assert page.status_code == 200 and 'name="password"' in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "<script>" not in page.text
        r = await c.post(
            "/-/auth/login",
            data={"username": "eve", "password": PASSWORDS["eve"], "next": "/targets?state=down"},
        )
        assert r.status_code == 303 and r.headers["location"] == "/targets?state=down"
        cookies = r.headers.get_list("set-cookie")
        session = next(x for x in cookies if x.startswith("guardia_session="))
        csrf = next(x for x in cookies if x.startswith("guardia_csrf="))
        assert "HttpOnly" in session and "SameSite=lax" in session and "Max-Age=43200" in session
        assert "HttpOnly" not in csrf and "SameSite=strict" in csrf
        assert "Secure" not in session  # plain HTTP here; the TLS test sees Secure
        assert (await c.get("/targets")).status_code == 200
        # who is signed in can do what the role allows, and no more
        assert (
            await c.post("/-/reload", headers={"X-CSRF-Token": c.cookies["guardia_csrf"]})
        ).status_code == 403


async def test_sign_in_never_redirects_off_the_server(tmp_path: Path) -> None:
    async with running(tmp_path, web_yaml()) as proc, _client(proc) as c:
        for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
            r = await c.post(
                "/-/auth/login", data={"username": "vic", "password": PASSWORDS["vic"], "next": target}
            )
            assert r.status_code == 303 and r.headers["location"] == "/", target


async def test_a_session_write_needs_the_csrf_token(tmp_path: Path) -> None:
    silence = {
        "matchers": [{"name": "job", "value": "x", "isRegex": False}],
        "startsAt": "2030-01-01T00:00:00Z",
        "endsAt": "2030-01-02T00:00:00Z",
        "createdBy": "eve",
        "comment": "maintenance",
    }
    async with running(tmp_path, web_yaml()) as proc, _client(proc) as c:
        await c.post("/-/auth/login", data={"username": "eve", "password": PASSWORDS["eve"]})
        token = c.cookies["guardia_csrf"]
        assert (await c.post("/api/v2/silences", json=silence)).status_code == 403
        assert (
            await c.post("/api/v2/silences", json=silence, headers={"X-CSRF-Token": "x" + token})
        ).status_code == 403
        cross = {"X-CSRF-Token": token, "Origin": "https://evil.example"}
        assert (await c.post("/api/v2/silences", json=silence, headers=cross)).status_code == 403
        r = await c.post(
            "/api/v2/silences", json=silence, headers={"X-CSRF-Token": token, "Origin": "http://guardia.test"}
        )
        assert r.status_code == 200, r.text
        # a plain HTML form carries it as a field
        r = await c.post(
            "/status/public/manage/incidents",
            data={"title": "DB slow", "status": "investigating", "message": "looking"},
        )
        assert r.status_code == 403
        r = await c.post(
            "/status/public/manage/incidents",
            data={"title": "DB slow", "status": "investigating", "message": "looking", "csrf_token": token},
        )
        assert r.status_code in (200, 303), r.text
        entries = proc.auth.audit.query(__import__("guardia.web.auth", fromlist=["AuditQuery"]).AuditQuery())
        assert [e["action"] for e in entries[:2]] == ["incident.create", "silence.create"]
        assert entries[1]["user"] == "eve" and entries[1]["request"]["comment"] == "maintenance"
        assert "silenceID" in entries[1]["result"]
        assert "csrf_token" not in entries[0]["request"]


async def test_brute_force_is_slowed_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "guardia.web.auth")
    async with (
        running(
            tmp_path, web_yaml(guardia="  failed_logins: {per_account: 3, per_address: 6, window: 1m}\n")
        ) as proc,
        _client(proc) as c,
    ):
        for i in range(3):
            r = await c.post("/-/auth/login", data={"username": "ada", "password": f"guess{i}"})
            assert r.status_code == 200 and "wrong user name or password" in r.text
        # the account is locked for the window: even the right password waits
        r = await c.post("/-/auth/login", data={"username": "ada", "password": PASSWORDS["ada"]})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 50
        r = await c.get("/api/v1/labels", auth=("ada", PASSWORDS["ada"]))
        assert r.status_code == 429
        # per address: this client trying other names is stopped too
        for i in range(3):
            await c.post("/-/auth/login", data={"username": f"user{i}", "password": "x"})
        r = await c.post("/-/auth/login", data={"username": "vic", "password": PASSWORDS["vic"]})
        assert r.status_code == 429
        # another address may still sign in as vic
        other = httpx.ASGITransport(app=proc.http_app, client=("198.51.100.9", 5000))
        async with httpx.AsyncClient(transport=other, base_url="http://guardia.test") as c2:
            r = await c2.post("/-/auth/login", data={"username": "vic", "password": PASSWORDS["vic"]})
            assert r.status_code == 303
        # guessing API tokens is limited per address (never per token: that would lock every token out)
        third = httpx.ASGITransport(app=proc.http_app, client=("192.0.2.1", 5000))
        async with httpx.AsyncClient(transport=third, base_url="http://guardia.test") as c3:
            codes = [
                (await c3.get("/api/v1/labels", headers={"Authorization": f"Bearer gdt_{i}_x"})).status_code
                for i in range(7)
            ]
            assert codes == [401] * 6 + [429]
    failed = [r.getMessage() for r in caplog.records if "login_failed" in r.getMessage()]
    throttled = [r.getMessage() for r in caplog.records if "login_throttled" in r.getMessage()]
    assert len(failed) == 6 and "user='ada' remote=203.0.113.7" in failed[0]
    assert throttled and all("guess" not in m and PASSWORDS["ada"] not in m for m in failed + throttled)


async def test_tls_cookies_are_secure_and_hsts_is_sent(tmp_path: Path) -> None:
    from tests.web.auth.conftest import make_chain

    make_chain(tmp_path / "pki")
    tls = (
        f"tls_server_config:\n  cert_file: {tmp_path}/pki/server.pem\n  key_file: {tmp_path}/pki/server.key\n"
    )
    async with (
        running(tmp_path, web_yaml(extra=tls)) as proc,
        httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=str(tmp_path / "pki" / "ca.pem")),
            base_url=f"https://{proc.listen}",
        ) as c,
    ):
        r = await c.post("/-/auth/login", data={"username": "vic", "password": PASSWORDS["vic"]})
        assert r.status_code == 303
        assert all("Secure" in x for x in r.headers.get_list("set-cookie"))
        assert r.headers["strict-transport-security"] == "max-age=31536000"
