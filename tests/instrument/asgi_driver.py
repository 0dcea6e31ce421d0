"""Drive an ASGI app in-process without an HTTP client: thousands of requests in a second."""

from __future__ import annotations

import asyncio
from typing import Any

from guardia.model.textparse import parse


async def call(app: Any, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"test"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1), "server": ("test", 80),
    }
    sent: list[dict[str, Any]] = []
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if not done:
            done = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def run(app: Any, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    return asyncio.run(call(app, method, path, body))


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """An exposition, parsed by guardia's own parser, as {(name, labels): value}."""
    return {(s.name, frozenset(s.labels)): s.value for s in parse(text).samples}


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)
