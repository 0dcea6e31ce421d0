"""Single sign-on with OpenID Connect (Authorization Code + PKCE) against a provider written
here: discovery, an authorization endpoint that insists on S256 PKCE, a token endpoint that
checks the verifier and the client secret, and RS256-signed ID tokens with the nonce."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import uvicorn
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.web.auth.conftest import running, web_yaml


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Provider:
    """A small OpenID provider: one client, users with groups, codes good once."""

    issuer: str = ""
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    users: dict[str, list[str]] = field(
        default_factory=lambda: {"lucia": ["sre-admins"], "pablo": ["sre"], "marta": ["finance"]}
    )
    login_as: str = "lucia"
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tamper: str = ""  # "nonce" | "aud" | "signature" | "alg-none": a broken ID token on purpose
    seen_verifiers: list[str] = field(default_factory=list)

    def id_token(self, claims: dict[str, Any], alg: str = "RS256") -> str:
        head = _b64(json.dumps({"alg": alg, "kid": "k1", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims).encode())
        if alg == "none":
            return f"{head}.{body}."
        sig = self.key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{head}.{body}.{_b64(sig)}"

    def app(self) -> Starlette:
        async def discovery(request: Request) -> Response:
            return JSONResponse(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks",
                    "code_challenge_methods_supported": ["S256"],
                }
            )

        async def jwks(request: Request) -> Response:
            n = self.key.public_key().public_numbers()
            return JSONResponse(
                {
                    "keys": [
                        {
                            "kty": "RSA",
                            "kid": "k1",
                            "use": "sig",
                            "alg": "RS256",
                            "n": _b64(n.n.to_bytes(256, "big")),
                            "e": _b64(n.e.to_bytes(3, "big")),
                        }
                    ]
                }
            )

        async def authorize(request: Request) -> Response:
            q = request.query_params
            if q.get("client_id") != "guardia" or q.get("response_type") != "code":
                return JSONResponse({"error": "unauthorized_client"}, 400)
            if q.get("code_challenge_method") != "S256" or len(q.get("code_challenge", "")) != 43:
                return JSONResponse(
                    {"error": "invalid_request", "error_description": "PKCE S256 required"}, 400
                )
            if "openid" not in q.get("scope", "").split():
                return JSONResponse({"error": "invalid_scope"}, 400)
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "challenge": q["code_challenge"],
                "nonce": q.get("nonce"),
                "user": self.login_as,
                "redirect_uri": q["redirect_uri"],
            }
            return RedirectResponse(
                f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 303
            )

        async def token(request: Request) -> Response:
            form = parse_qs((await request.body()).decode())
            f = {k: v[0] for k, v in form.items()}
            if (
                request.headers.get("authorization")
                != "Basic " + base64.b64encode(b"guardia:s3cret").decode()
            ):
                return JSONResponse({"error": "invalid_client"}, 401)
            grant = self.codes.pop(f.get("code", ""), None)
            if grant is None or f.get("redirect_uri") != grant["redirect_uri"]:
                return JSONResponse({"error": "invalid_grant"}, 400)
            self.seen_verifiers.append(f.get("code_verifier", ""))
            if _b64(hashlib.sha256(f.get("code_verifier", "").encode()).digest()) != grant["challenge"]:
                return JSONResponse({"error": "invalid_grant", "error_description": "PKCE verifier"}, 400)
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "sub": f"id-{grant['user']}",
                "aud": "guardia",
                "exp": now + 300,
                "iat": now,
                "nonce": grant["nonce"],
                "preferred_username": grant["user"],
                "groups": self.users[grant["user"]],
            }
            if self.tamper == "nonce":
                claims["nonce"] = "another"
            if self.tamper == "aud":
                claims["aud"] = "someone-else"
            tok = self.id_token(claims, "none" if self.tamper == "alg-none" else "RS256")
            if self.tamper == "signature":
                head, _, sig = tok.split(".")  # the claims changed after signing
                forged = _b64(json.dumps({**claims, "preferred_username": "mallory"}).encode())
                tok = f"{head}.{forged}.{sig}"
            return JSONResponse({"access_token": "at", "token_type": "Bearer", "id_token": tok})

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/jwks", jwks),
                Route("/authorize", authorize),
                Route("/token", token, methods=["POST"]),
            ]
        )


@asynccontextmanager
async def serving(provider: Provider) -> AsyncIterator[None]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    provider.issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(provider.app(), log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


def oidc_yaml(tmp_path: Path, issuer: str) -> str:
    (tmp_path / "oidc-secret").write_text("s3cret\n")
    return (
        f"  oidc:\n    issuer: {issuer}\n    client_id: guardia\n"
        f"    client_secret_file: {tmp_path}/oidc-secret\n"
        "    roles: {sre-admins: admin, sre: editor}\n"
    )


async def _sign_in(c: httpx.AsyncClient, next_: str = "/alerts") -> httpx.Response:
    """Follow the redirects a browser follows: guardia → provider → guardia's callback."""
    r = await c.get("/-/auth/oidc/start", params={"next": next_})
    assert r.status_code == 303, r.text
    at_provider = await c.get(r.headers["location"])
    if at_provider.status_code != 303:
        return at_provider
    back = urlsplit(at_provider.headers["location"])
    return await c.get(f"{back.path}?{back.query}")


async def test_single_sign_on_gives_the_role_of_the_users_groups(tmp_path: Path) -> None:
    provider = Provider()
    async with serving(provider):
        web = web_yaml(guardia=oidc_yaml(tmp_path, provider.issuer))
        async with running(tmp_path, web) as proc, httpx.AsyncClient(base_url=f"http://{proc.listen}") as c:
            page = await c.get("/-/auth/login")
            assert "Sign in with single sign-on" in page.text
            r = await _sign_in(c)
            assert r.status_code == 303 and r.headers["location"] == "/alerts", r.text
            assert (
                await c.post("/-/reload", headers={"X-CSRF-Token": c.cookies["guardia_csrf"]})
            ).status_code == 200
            # the verifier guardia sent was never in the browser's URLs, and is a proper PKCE verifier
            assert 43 <= len(provider.seen_verifiers[-1]) <= 128
            c.cookies.clear()
            provider.login_as = "pablo"
            await _sign_in(c)
            assert (
                await c.post("/-/reload", headers={"X-CSRF-Token": c.cookies["guardia_csrf"]})
            ).status_code == 403
            assert (await c.get("/api/v2/silences")).status_code == 200
            c.cookies.clear()
            provider.login_as = "marta"  # no group that gives a role: refused
            r = await _sign_in(c)
            assert (
                r.status_code == 403 and "none of the groups" in r.text and "guardia_session" not in r.cookies
            )
            entries = proc.auth.audit.query(
                __import__("guardia.web.auth", fromlist=["AuditQuery"]).AuditQuery(action="auth.login")
            )
            assert [(e["user"], e["role"], e["via"]) for e in entries] == [
                ("pablo", "editor", "oidc"),
                ("lucia", "admin", "oidc"),
            ]


async def test_broken_or_replayed_sign_ins_are_refused(tmp_path: Path) -> None:
    provider = Provider()
    async with serving(provider):
        web = web_yaml(guardia=oidc_yaml(tmp_path, provider.issuer))
        async with running(tmp_path, web) as proc, httpx.AsyncClient(base_url=f"http://{proc.listen}") as c:
            for tamper, says in (
                ("nonce", "nonce check"),
                ("aud", "audience check"),
                ("signature", "signature does not verify"),
                ("alg-none", "guardia accepts RS256"),
            ):
                provider.tamper = tamper
                r = await _sign_in(c)
                assert r.status_code == 403 and says in r.text, (tamper, r.text)
                assert "guardia_session" not in c.cookies
            provider.tamper = ""
            # a callback replayed (same state and code): the state was used up
            r = await c.get("/-/auth/oidc/start")
            at_provider = await c.get(r.headers["location"])
            back = urlsplit(at_provider.headers["location"])
            assert (await c.get(f"{back.path}?{back.query}")).status_code == 303
            c.cookies.clear()
            replay = await c.get(f"{back.path}?{back.query}")
            assert replay.status_code == 403 and "unknown or expired" in replay.text
            # the provider reporting an error
            r = await c.get("/-/auth/oidc/callback", params={"error": "access_denied", "state": "x"})
            assert r.status_code == 403 and "access_denied" in r.text
