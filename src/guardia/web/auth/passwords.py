"""Checking a password against its bcrypt hash, cached.

bcrypt costs ~50-250 ms by design; a client sending basic auth on every request (Prometheus
scraping, Grafana querying) would pay it each time.  A successful check is remembered under a
SHA-256 of (user, password, hash), as exporter-toolkit does, so only the first request pays and
a changed hash or password misses the cache.  Failed checks are never cached: each one costs
the full bcrypt time, which is what slows a brute force down.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict

_dummy: bytes | None = None


def _dummy_hash() -> bytes:
    """A valid hash to check against when the user does not exist, so an unknown user costs
    the same time as a wrong password and the answer's timing does not say which names exist.

    Made (and bcrypt imported) by the first checker that has users, not at import: a server
    without basic-auth users neither keeps bcrypt resident nor spends a hash at start-up."""
    global _dummy
    if _dummy is None:
        import bcrypt

        _dummy = bcrypt.hashpw(b"guardia-no-such-user", bcrypt.gensalt(rounds=10))
    return _dummy


class PasswordChecker:
    def __init__(self, users: dict[str, str], cache_size: int = 1024) -> None:
        self._users = users
        self._ok: OrderedDict[bytes, None] = OrderedDict()
        self._size = cache_size
        if users:
            _dummy_hash()  # before any request: an unknown name's first try costs no extra hash

    def check(self, user: str, password: str) -> bool:
        hashed = self._users.get(user)
        key = hashlib.sha256(f"{user}\0{password}\0{hashed}".encode()).digest()
        if hashed is not None and key in self._ok:
            self._ok.move_to_end(key)
            return True
        ok = _checkpw(password, hashed.encode() if hashed is not None else _dummy_hash())
        if hashed is None:
            return False
        if ok:
            self._ok[key] = None
            if len(self._ok) > self._size:
                self._ok.popitem(last=False)
        return ok


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _checkpw(password: str, hashed: bytes) -> bool:
    import bcrypt

    try:
        return bcrypt.checkpw(password.encode(), hashed)
    except ValueError:  # a malformed hash, or a password over bcrypt's 72 bytes: never a match
        return False
