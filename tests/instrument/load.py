"""A bounded local load: a fixed number of requests, each on its own connection, so a worker
killed between phases never holds a request the client counted as sent."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx


def send(base: str, paths: list[str], threads: int = 4) -> Counter[int]:
    """Send every path once; returns requests answered per worker pid. Any failure raises."""

    def one(path: str) -> int:
        with httpx.Client(timeout=30, headers={"connection": "close"}) as c:
            r = c.get(base + path)
            r.raise_for_status()
            return int(r.json()["pid"])

    with ThreadPoolExecutor(threads) as pool:
        return Counter(pool.map(one, paths))
