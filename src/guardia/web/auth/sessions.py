"""Server-side login sessions: the browser holds a random id, the server holds the rest.

Only a SHA-256 of the cookie value is kept, so a memory dump or a debug log of the table does
not hand out live sessions.  Sessions live in memory: a restart signs everyone out, which is
the safe direction.  Each session carries its own CSRF token.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    role: str
    csrf: str
    created: float
    expires: float


class SessionStore:
    def __init__(self, max_age_s: float, max_sessions: int = 10_000) -> None:
        self.max_age_s = max_age_s
        self._by_hash: dict[str, Session] = {}
        self._max = max_sessions

    def create(self, user: str, role: str, max_age_s: float | None = None) -> tuple[str, Session]:
        """A new session and the cookie value that names it (lasting ``max_age_s``, by default
        the configured ``session_max_age``)."""
        self._sweep()
        cookie = secrets.token_urlsafe(32)
        now = time.time()
        s = Session(user, role, secrets.token_urlsafe(24), now, now + (max_age_s or self.max_age_s))
        self._by_hash[_digest(cookie)] = s
        return cookie, s

    def get(self, cookie: str) -> Session | None:
        key = _digest(cookie)
        s = self._by_hash.get(key)
        if s is not None and time.time() >= s.expires:
            del self._by_hash[key]
            return None
        return s

    def drop(self, cookie: str) -> None:
        self._by_hash.pop(_digest(cookie), None)

    def adopt(self, old: SessionStore, role_of: Callable[[str], str | None]) -> None:
        """Keep ``old``'s sessions whose user still has a role, with that role."""
        for key, s in old._by_hash.items():
            role = role_of(s.user)
            if role is not None:
                expires = min(s.expires, s.created + self.max_age_s)
                self._by_hash[key] = Session(s.user, role, s.csrf, s.created, expires)

    def _sweep(self) -> None:
        now = time.time()
        for k in [k for k, s in self._by_hash.items() if now >= s.expires]:
            del self._by_hash[k]
        while len(self._by_hash) >= self._max:  # oldest first: dicts keep insertion order
            del self._by_hash[next(iter(self._by_hash))]


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()
