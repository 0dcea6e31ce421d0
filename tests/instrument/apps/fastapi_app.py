"""A small FastAPI app the tests run under a real uvicorn (one or several workers)."""

from __future__ import annotations

import os

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from guardia.instrument import instrument  # before the app's own metrics: see workers.enable

app = FastAPI()


@app.get("/work/{n}")
def work(n: int) -> dict[str, int]:
    return {"n": n, "pid": os.getpid()}


@app.get("/pid")
def pid() -> dict[str, int]:
    return {"pid": os.getpid()}


@app.websocket("/ws/{room}")
async def chat(ws: WebSocket, room: str) -> None:
    await ws.accept()
    try:
        while True:
            text = await ws.receive_text()
            if text == "bye":
                await ws.close(code=4000)
                return
            await ws.send_text(f"{room}:{text}")
    except WebSocketDisconnect:
        return


instrument(app, websocket_prefix=os.environ.get("WS_PREFIX", "websocket_"),
           websocket_labels={"env": "test"})
