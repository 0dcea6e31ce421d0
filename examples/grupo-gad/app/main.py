"""GRUPO_GAD's API, reduced to what its monitoring needs: a few HTTP routes and the WebSocket
channel, instrumented with guardia.instrument.

Run it:  uvicorn main:app --app-dir examples/grupo-gad/app --port 8000 [--workers 2]

It exposes http_requests_total, http_request_duration_seconds, ... (the names the team's alert
rules already use) and the WebSocket metrics under their own ggrt_ prefix with the env label, at
GET /metrics.
"""

from __future__ import annotations

import asyncio
import os
import time

from fastapi import FastAPI, HTTPException, WebSocket, WebSocketDisconnect

from guardia.instrument import instrument

ENV = os.environ.get("ENVIRONMENT", "development")

app = FastAPI(title="GRUPO_GAD API (example)")

TASKS = {1: "Patrullaje zona norte", 2: "Inspección edificio municipal"}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/v1/tasks")
def tasks() -> list[dict[str, object]]:
    return [{"id": k, "title": v} for k, v in TASKS.items()]


@app.get("/api/v1/tasks/{task_id}")
def task(task_id: int) -> dict[str, object]:
    if task_id not in TASKS:
        raise HTTPException(status_code=404, detail="task not found")
    return {"id": task_id, "title": TASKS[task_id]}


@app.get("/api/v1/reports/slow")
async def slow_report(seconds: float = 0.6) -> dict[str, float]:
    """A report that takes a while: drives the latency alerts (capped at 3 s)."""
    seconds = min(max(seconds, 0.0), 3.0)
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    return {"took": time.perf_counter() - started}


@app.get("/api/v1/simulate-error")
def simulate_error() -> None:
    """Fails on purpose, to exercise HighErrorRate (a drill, as the audit recommends)."""
    raise RuntimeError("simulated failure")


@app.websocket("/ws/connect")
async def ws_connect(ws: WebSocket) -> None:
    await ws.accept()
    try:
        while True:
            message = await ws.receive_text()
            if message == "ping":
                await ws.send_text("pong")
            else:
                await ws.send_json({"echo": message, "env": ENV})
    except WebSocketDisconnect:
        return


instrument(app, websocket_prefix="ggrt_", websocket_labels={"env": ENV}, excluded_handlers=["/health"])
