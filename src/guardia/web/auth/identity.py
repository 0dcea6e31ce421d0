"""Who is asking: the credentials on a request, checked against the web config's users, the
API tokens and the login sessions.

Three ways in, tried in this order: ``Authorization: Basic`` (users from
``basic_auth_users``, as Prometheus), ``Authorization: Bearer gdt_...`` (API tokens), and the
``guardia_session`` cookie of a UI login.  A request that presents bad credentials is refused
even where no credentials are needed, as a client that sends a wrong password wants to know.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

from guardia.config.webconfig import WebConfig
from guardia.web.auth.audit import AuditLog
from guardia.web.auth.passwords import PasswordChecker
from guardia.web.auth.ratelimit import FailedLogins
from guardia.web.auth.sessions import Session, SessionStore
from guardia.web.auth.tokens import TokenStore

log = logging.getLogger("guardia.web.auth")

SESSION_COOKIE = "guardia_session"
CSRF_COOKIE = "guardia_csrf"


@dataclass(frozen=True, slots=True)
class Identity:
    user: str
    role: str
    via: str  # basic | token | session
    session: Session | None = None


class Refused(Exception):
    """Credentials that were presented and are wrong (401) or throttled (429)."""

    def __init__(self, status: int, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


class Auth:
    """Everything the middleware and the login page share, built from one web config."""

    def __init__(self, config: WebConfig, data_dir: str | Path, external_url: str = "") -> None:
        self.external_url = external_url.rstrip("/")
        self.tokens = TokenStore(data_dir)
        self.audit = AuditLog(data_dir)
        self.apply(config)

    def apply(self, config: WebConfig) -> None:
        """A (re)loaded web config: users, roles and limits; signed-in sessions stay when their
        user still exists, with the role the new config gives."""
        self.config = config
        self.passwords = PasswordChecker(dict(config.users))
        callback = self.external_url + "/-/auth/oidc/callback"
        self.oidc = None
        if config.oidc:
            from guardia.web.auth.oidc import OidcClient  # cryptography: only with OIDC sign-in

            self.oidc = OidcClient(config.oidc, callback)
        f = config.failed_logins
        self.failures = FailedLogins(f.per_account, f.per_address, f.window_ms / 1000)
        old = getattr(self, "sessions", None)
        self.sessions = SessionStore(config.session_max_age_ms / 1000)
        if old is not None:
            self.sessions.adopt(old, lambda user: config.role_of(user) if user in config.users else None)

    @property
    def enabled(self) -> bool:
        return self.config.auth_enabled

    def login(self, user: str, password: str, address: str) -> Identity:
        """Check a user's password with the failed-login limits; ``Refused`` if it does not pass."""
        wait = self.failures.retry_after(user, address)
        if wait > 0:
            log.warning("event=login_throttled user=%r remote=%s retry_after_s=%.0f", user, address, wait)
            raise Refused(429, "too many failed sign-ins; try again later", wait)
        if not self.passwords.check(user, password):
            self.failures.failed(user, address)
            log.warning("event=login_failed user=%r remote=%s", user, address)
            raise Refused(401, "wrong user name or password")
        self.failures.succeeded(user)
        return Identity(user, self.config.role_of(user), "basic")

    def identify(self, headers: dict[bytes, bytes], address: str) -> Identity | None:
        """The identity a request's credentials prove, None when it brings none; ``Refused``
        when it brings wrong ones."""
        auth = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise Refused(401, "malformed basic auth header") from None
            if not sep:
                raise Refused(401, "malformed basic auth header")
            return self.login(user, password, address)
        if scheme.lower() == "bearer":
            wait = self.failures.retry_after(None, address)
            if wait > 0:
                log.warning("event=token_throttled remote=%s retry_after_s=%.0f", address, wait)
                raise Refused(429, "too many wrong API tokens from this address; try again later", wait)
            token = self.tokens.verify(value.strip())
            if token is None:
                self.failures.failed(None, address)
                log.warning("event=token_refused remote=%s", address)
                raise Refused(401, "unknown, revoked or expired API token")
            return Identity(f"token:{token.name}", token.role, "token")
        if auth:
            raise Refused(401, "unsupported Authorization scheme; use Basic or Bearer")
        cookie = cookie_value(headers, SESSION_COOKIE)
        if cookie:
            session = self.sessions.get(cookie)
            if session is not None:
                return Identity(session.user, session.role, "session", session)
        return None


def cookie_value(headers: dict[bytes, bytes], name: str) -> str | None:
    raw = headers.get(b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw.decode("latin-1"))
    except Exception:  # a malformed Cookie header: treated as none
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None
