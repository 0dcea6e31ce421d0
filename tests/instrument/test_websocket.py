"""WebSocket metrics under a real uvicorn, with real websockets clients."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import websockets

from tests.instrument.asgi_driver import value
from tests.instrument.servers import free_port, server, uvicorn


def test_the_gauge_follows_clients_and_closes_are_counted_by_code(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    with server(uvicorn("tests.instrument.apps.fastapi_app:app", port), port, tmp_path,
                env={"WS_PREFIX": "ggrt_"}):

        def metric(name: str, **labels: str) -> float:
            return value(httpx.get(url).text, name, env="test", **labels)

        async def scenario() -> None:
            ws_url = f"ws://127.0.0.1:{port}/ws/"
            clients = [await websockets.connect(ws_url + f"room{i}") for i in range(5)]
            active = metric("ggrt_active_connections", handler="/ws/{room}")
            assert active == 5
            for c in clients[:2]:
                await c.send("hola")
                assert (await c.recv()).endswith(":hola")
            await clients[0].close(code=1000)
            await clients[1].send("bye")  # the app closes with 4000
            await clients[1].wait_closed()
            assert clients[1].close_code == 4000
            await asyncio.sleep(0.3)
            assert metric("ggrt_active_connections", handler="/ws/{room}") == 3
            for c in clients[2:]:
                await c.close(code=1001)
            await asyncio.sleep(0.3)

        asyncio.run(scenario())
        text = httpx.get(url).text
        h = {"env": "test", "handler": "/ws/{room}"}
        assert value(text, "ggrt_active_connections", **h) == 0
        assert value(text, "ggrt_connections_total", **h) == 5
        assert value(text, "ggrt_disconnections_total", **h, code="1000") == 1
        assert value(text, "ggrt_disconnections_total", **h, code="4000") == 1
        assert value(text, "ggrt_disconnections_total", **h, code="1001") == 3
        assert value(text, "ggrt_messages_received_total", **h) == 3
        assert value(text, "ggrt_messages_sent_total", **h) == 2
        assert value(text, "ggrt_message_latency_seconds_count", **h) == 2
        # the handshake is not an HTTP request of the app
        assert "ws/{room}" not in "".join(
            line for line in text.splitlines() if line.startswith("http_requests_total"))
