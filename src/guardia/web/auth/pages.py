"""The routes the auth package adds: the sign-in page, sign-out, the CSRF helper script, and
the audit log (``GET /api/v1/audit/log`` and the UI's ``/audit-log`` page)."""

from __future__ import annotations

import asyncio
import html
import logging
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from guardia.web.auth.audit import AuditQuery
from guardia.web.auth.identity import CSRF_COOKIE, SESSION_COOKIE, Auth, Identity, Refused, cookie_value
from guardia.web.envelope import ApiError, bad_data, error_response, success
from guardia.web.params import Params, parse_limit, parse_time_value

log = logging.getLogger("guardia.web.auth")

_FORM_LIMIT = 16 << 10
# fields the audit page has a column for; the rest are shown as key=value details
_SHOWN = {"time", "action", "user", "role", "method", "path", "status", "remote", "prev", "via", "request",
          "result", "error", "query", "details"}
_CSRF_JS = resources.files("guardia.web.auth").joinpath("csrf.js").read_bytes()

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · guardia</title><link rel="icon" href="data:,">
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; background: #f8f9fa; color: #212529; margin: 0; }}
main {{ max-width: 340px; margin: 12vh auto; background: #fff; border: 1px solid #dee2e6;
        border-radius: 8px; padding: 24px; }}
h1 {{ font-size: 1.3rem; margin: 0 0 16px; }} label {{ display: block; margin: 10px 0 4px; }}
input[type=text], input[type=password] {{ width: 100%; box-sizing: border-box; padding: 8px; }}
button {{ margin-top: 16px; padding: 8px 16px; }} .error {{ color: #c92a2a; }}
</style></head>
<body><main>
<h1>guardia</h1>
{message}
{sso}
<form method="post" action="{prefix}/-/auth/login"{form_hidden}>
<input type="hidden" name="next" value="{next}">
<label for="username">User name</label><input id="username" name="username" type="text"
 autocomplete="username" required autofocus value="{username}">
<label for="password">Password</label><input id="password" name="password" type="password"
 autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
</main></body></html>
"""


def _safe_next(target: str, prefix: str) -> str:
    """Only a path on this server: ``//evil.example`` or ``https://...`` would send a freshly
    signed-in user elsewhere."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return prefix + "/"
    return prefix + target


def _login_page(auth: Auth, prefix: str, next_: str, message: str = "", username: str = "",
                status: int = 200, headers: dict[str, str] | None = None) -> Response:
    shown = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    sso = ""
    if auth.oidc is not None:
        link = f"{prefix}/-/auth/oidc/start?next={quote(next_, safe='/')}"
        sso = f'<p><a class="sso" href="{html.escape(link)}">Sign in with single sign-on</a></p>'
    body = _PAGE.format(prefix=html.escape(prefix), next=html.escape(next_), username=html.escape(username),
                        message=shown, sso=sso, form_hidden="" if auth.config.users else " hidden")
    return HTMLResponse(body, status_code=status, headers=headers)


def auth_routes(auth: Auth, prefix: str) -> list[BaseRoute]:
    async def login(request: Request) -> Response:
        next_ = request.query_params.get("next", "/")
        if request.method == "GET":
            if not auth.enabled:
                return _login_page(auth, prefix, next_, "Sign-in is off: this guardia has no "
                                   "basic_auth_users or oidc in a --web.config.file.")
            return _login_page(auth, prefix, next_)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > _FORM_LIMIT:
                return _login_page(auth, prefix, next_, "The form is too large.", status=413)
        form = parse_qs(body.decode("utf-8", "replace"))
        user = form.get("username", [""])[0]
        password = form.get("password", [""])[0]
        next_ = form.get("next", [next_])[0]
        if not auth.enabled:
            return _login_page(auth, prefix, next_, "Sign-in is off.", status=404)
        address = request.client.host if request.client else "-"
        try:
            identity = await asyncio.to_thread(auth.login, user, password, address)
        except Refused as r:
            headers = {"Retry-After": str(int(r.retry_after) + 1)} if r.retry_after else None
            # a wrong password is the form's own answer (200, the page again with the reason);
            # 401 would ask the browser for basic auth
            return _login_page(auth, prefix, next_, r.reason, user, status=429 if r.status == 429 else 200,
                               headers=headers)
        return await signed_in(request, identity, next_, address, "password")

    async def signed_in(request: Request, identity: Identity, next_: str, address: str, how: str) -> Response:
        """A new session for ``identity``: its cookies, the audit entry, and on to ``next_``."""
        cookie, session = auth.sessions.create(identity.user, identity.role)
        await asyncio.to_thread(auth.audit.append, "auth.login", identity.user, role=identity.role,
                                remote=address, via=how)
        log.info("event=login user=%r role=%s remote=%s via=%s", identity.user, identity.role, address, how)
        resp = RedirectResponse(_safe_next(next_, prefix), status_code=303)
        secure = request.url.scheme == "https"
        max_age = int(auth.sessions.max_age_s)
        resp.set_cookie(SESSION_COOKIE, cookie, max_age=max_age, path=prefix or "/", secure=secure,
                        httponly=True, samesite="lax")
        resp.set_cookie(CSRF_COOKIE, session.csrf, max_age=max_age, path=prefix or "/", secure=secure,
                        httponly=False, samesite="strict")
        return resp

    async def oidc_start(request: Request) -> Response:
        if auth.oidc is None:
            return _login_page(auth, prefix, "/", "Single sign-on is not configured.", status=404)
        # imported here: guardia.web.auth.oidc loads cryptography (about 6.6 MiB resident),
        # which a server without OpenID Connect configured never needs
        from guardia.web.auth.oidc import OidcError

        try:
            url = await auth.oidc.start(request.query_params.get("next", "/"))
        except OidcError as e:
            log.warning("event=oidc_failed step=start reason=%r", str(e))
            return _login_page(auth, prefix, "/", f"Single sign-on is unavailable: {e}", status=502)
        return RedirectResponse(url, status_code=303)

    async def oidc_callback(request: Request) -> Response:
        address = request.client.host if request.client else "-"
        q = request.query_params
        if auth.oidc is None:
            return _login_page(auth, prefix, "/", "Single sign-on is not configured.", status=404)
        from guardia.web.auth.oidc import OidcError

        try:
            if q.get("error"):
                said = f"{q.get('error')} {q.get('error_description', '')}".strip()
                raise OidcError(f"the identity provider says: {said}")
            claims, next_ = await auth.oidc.finish(q.get("code", ""), q.get("state", ""))
            user, role = auth.oidc.user_and_role(claims)
        except OidcError as e:
            log.warning("event=oidc_failed step=callback remote=%s reason=%r", address, str(e))
            return _login_page(auth, prefix, "/", f"Single sign-on failed: {e}", status=403)
        return await signed_in(request, Identity(user, role, "session"), next_, address, "oidc")

    async def logout(request: Request) -> Response:
        headers = {k.encode("latin-1"): v.encode("latin-1") for k, v in request.headers.items()}
        cookie = cookie_value(headers, SESSION_COOKIE)
        if cookie:
            auth.sessions.drop(cookie)
        resp = RedirectResponse(f"{prefix}/-/auth/login", status_code=303)
        for name in (SESSION_COOKIE, CSRF_COOKIE):
            resp.delete_cookie(name, path=prefix or "/")
        return resp

    async def csrf_js(request: Request) -> Response:
        return Response(_CSRF_JS, media_type="text/javascript", headers={"Cache-Control": "max-age=3600"})

    async def audit_log(request: Request) -> Response:
        try:
            q = audit_query(Params(list(request.query_params.multi_items())))
            entries = await asyncio.to_thread(auth.audit.query, q)
        except ApiError as e:
            return error_response(e)
        return success(entries)

    return [
        Route("/-/auth/login", login, methods=["GET", "POST"], name="/-/auth/login"),
        Route("/-/auth/logout", logout, methods=["POST"], name="/-/auth/logout"),
        Route("/-/auth/oidc/start", oidc_start, methods=["GET"], name="/-/auth/oidc/start"),
        Route("/-/auth/oidc/callback", oidc_callback, methods=["GET"], name="/-/auth/oidc/callback"),
        Route("/-/auth/csrf.js", csrf_js, methods=["GET"], name="/-/auth/csrf.js"),
        Route("/api/v1/audit/log", audit_log, methods=["GET"], name="/api/v1/audit/log"),
    ]


def audit_query(params: Params) -> AuditQuery:
    """``since``/``until`` (unix seconds or RFC 3339), ``user``, ``action`` (``silence.`` for a
    family) and ``limit`` (default 100)."""
    def t(name: str) -> float | None:
        raw = params.get(name)
        return None if raw in (None, "") else parse_time_value(str(raw), name) / 1000

    limit = parse_limit(params) if params.get("limit") not in (None, "") else 100
    if limit <= 0:
        limit = 100
    action = params.get("action") or None
    if action is not None and len(action) > 200:
        raise bad_data('invalid parameter "action": longer than 200 characters')
    return AuditQuery(since=t("since"), until=t("until"), user=params.get("user") or None, action=action,
                      limit=min(limit, 10_000))


def audit_page(auth: Auth) -> Any:
    """``/audit-log`` in the UI's layout: the newest changes first, filtered like the API."""
    from guardia.web.ui.render import Page, render
    from guardia.web.ui.sources import UiSources

    async def page(request: Request, ui: UiSources) -> Response:
        params = Params(list(request.query_params.multi_items()))
        try:
            q = audit_query(params)
        except ApiError as e:
            return render(request, ui, "audit.html", status_code=400, title="Audit log", entries=[],
                          error=e.message, q=params)
        entries = await asyncio.to_thread(auth.audit.query, q)
        for entry in entries:
            entry["details"] = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in _SHOWN)
        return render(request, ui, "audit.html", title="Audit log", entries=entries, error="", q=params)

    return Page("/audit-log", "Audit log", page)
