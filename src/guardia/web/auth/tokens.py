"""API tokens for automation: one role each, hashed at rest, shown once.

A token reads ``gdt_<id>_<secret>``.  The file ``<data>/auth/tokens.json`` keeps only the id,
the name, the role, the times and a SHA-256 of the whole token: a token is 256 random bits,
so a fast hash is enough (a slow one like bcrypt protects guessable passwords, and would cost
every automated request its time).  The file is rewritten atomically on each change (temp file,
fsync, rename) and re-read by the server when its modification time changes, so
``guardia token create`` takes effect on a running server without a reload.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from guardia.web.auth.routes import RANK

PREFIX = "gdt_"


class TokenError(ValueError):
    """A token request that cannot be carried out (unknown role or id); the message says why."""


@dataclass(frozen=True, slots=True)
class Token:
    id: str
    name: str
    role: str
    sha256: str
    created: float
    expires: float | None = None

    def expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires


class TokenStore:
    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / "auth" / "tokens.json"
        self._tokens: dict[str, Token] = {}
        self._mtime: float | None = None

    def _load(self) -> dict[str, Token]:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self._tokens, self._mtime = {}, None
            return self._tokens
        if mtime != self._mtime:
            raw = json.loads(self.path.read_text())
            self._tokens = {t["id"]: Token(**t) for t in raw.get("tokens", [])}
            self._mtime = mtime
        return self._tokens

    def _save(self, tokens: dict[str, Token]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        body = json.dumps({"tokens": [asdict(t) for t in tokens.values()]}, indent=1)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._mtime = None

    def create(self, name: str, role: str, ttl_s: float | None = None) -> tuple[Token, str]:
        """A new token and its secret text, which exists nowhere else after this returns."""
        if role not in RANK:
            raise TokenError(f"unknown role {role!r}; use viewer, editor or admin")
        if not name.strip():
            raise TokenError("a token needs a name saying what uses it (e.g. ci-deploy)")
        tokens = dict(self._load())
        tid = secrets.token_hex(4)
        while tid in tokens:
            tid = secrets.token_hex(4)
        text = f"{PREFIX}{tid}_{secrets.token_urlsafe(32)}"
        now = time.time()
        token = Token(tid, name.strip(), role, _digest(text), now, now + ttl_s if ttl_s else None)
        tokens[tid] = token
        self._save(tokens)
        return token, text

    def list(self) -> list[Token]:
        return sorted(self._load().values(), key=lambda t: t.created)

    def revoke(self, tid: str) -> Token:
        tokens = dict(self._load())
        if tid not in tokens:
            raise TokenError(f"no token with id {tid!r} (guardia token list shows them)")
        token = tokens.pop(tid)
        self._save(tokens)
        return token

    def verify(self, text: str) -> Token | None:
        """The token ``text`` stands for, if it exists and has not expired."""
        if not text.startswith(PREFIX):
            return None
        tid = text[len(PREFIX):].partition("_")[0]
        try:
            token = self._load().get(tid)
        except (OSError, ValueError, TypeError):
            return None
        if token is None or not hmac.compare_digest(token.sha256, _digest(text)):
            return None
        return None if token.expired(time.time()) else token


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
