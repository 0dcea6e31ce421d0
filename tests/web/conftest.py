"""Shared fixtures: an app on MemoryStorage with a few series, reached over real HTTP."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from guardia.model import Labels
from guardia.promql import Engine
from guardia.storage.memory import MemoryStorage
from guardia.web import AppDeps, create_app
from guardia.web.api_v1 import ApiDeps

T0 = 1_700_000_000_000  # ms


def sample_storage() -> MemoryStorage:
    st = MemoryStorage()
    for job, inst in (("api", "a:1"), ("api", "b:1"), ("db", "c:1")):
        for code in ("200", "500"):
            st.add_series(
                Labels.of(__name__="http_requests_total", job=job, instance=inst, code=code),
                [T0 + i * 15_000 for i in range(40)],
                [float(i * (10 if code == "200" else 1)) for i in range(40)],
            )
        st.add_series(
            Labels.of(__name__="up", job=job, instance=inst), [T0 + i * 15_000 for i in range(40)], [1.0] * 40
        )
    return st


class LiveServer:
    """uvicorn serving an ASGI app on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def __enter__(self) -> LiveServer:
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                break
            threading.Event().wait(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)


@pytest.fixture(scope="module")
def storage() -> MemoryStorage:
    return sample_storage()


@pytest.fixture(scope="module")
def app_deps(storage: MemoryStorage) -> AppDeps:
    api = ApiDeps(storage=storage, engine=Engine(), now_ms=lambda: T0 + 600_000)
    return AppDeps(api=api, write_storage=storage)


@pytest.fixture(scope="module")
def client(app_deps: AppDeps) -> Iterator[httpx.Client]:
    with LiveServer(create_app(app_deps)) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        yield c
