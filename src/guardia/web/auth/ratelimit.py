"""Failed sign-ins counted per account and per client address over a sliding window.

Past the limit, that account (or address) is refused without checking the password until
failures age out of the window, so a brute force gets a handful of guesses per window instead
of thousands.  Counting per account stops a distributed guess at one user; counting per address
stops one client trying many users.  A success clears the account's count (not the address's).
"""

from __future__ import annotations

import time
from collections import deque


class FailedLogins:
    def __init__(self, per_account: int, per_address: int, window_s: float, max_keys: int = 100_000) -> None:
        self.per_account = per_account
        self.per_address = per_address
        self.window_s = window_s
        self._seen: dict[str, deque[float]] = {}
        self._max_keys = max_keys

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._seen.get(key)
        if q is None:
            return deque()
        while q and now - q[0] >= self.window_s:
            q.popleft()
        if not q:
            del self._seen[key]
        return q

    def retry_after(self, user: str | None, address: str) -> float:
        """Seconds until this user (None: an API token, counted per address only) from this
        address may try again (0: now)."""
        now = time.time()
        wait = 0.0
        keys = [(f"a:{address}", self.per_address)]
        if user is not None:
            keys.append((f"u:{user}", self.per_account))
        for key, limit in keys:
            q = self._recent(key, now)
            if len(q) >= limit:
                wait = max(wait, q[-limit] + self.window_s - now)
        return wait

    def failed(self, user: str | None, address: str) -> None:
        now = time.time()
        if len(self._seen) >= self._max_keys:
            self._seen.clear()  # a flood of distinct keys: forget, rather than grow without bound
        for key in (f"a:{address}", *((f"u:{user}",) if user is not None else ())):
            self._seen.setdefault(key, deque(maxlen=1000)).append(now)

    def succeeded(self, user: str) -> None:
        self._seen.pop(f"u:{user}", None)
