"""kill -9 in the middle of a group, then restart on the same data dir: what was delivered is
not delivered again, what was pending is delivered once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import httpx

from tests.alerting.sinks import HTTPSink

CONFIG = """
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{{url: '{sink}/hook'}}]
"""


async def start(cfg: Path, data: Path, tmp: Path) -> tuple[asyncio.subprocess.Process, str]:
    port_file = tmp / f"port-{time.monotonic_ns()}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.alerting.run_am", str(cfg), str(data), str(port_file),
        cwd=str(Path(__file__).parents[2]))
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text():
        assert time.monotonic() < deadline, "guardia did not start"
        assert proc.returncode is None, "guardia exited"
        await asyncio.sleep(0.05)
    return proc, f"http://127.0.0.1:{port_file.read_text()}"


async def test_kill_mid_group_then_restart(tmp_path: Path) -> None:
    sink = await HTTPSink().start()
    cfg = tmp_path / "am.yml"
    cfg.write_text(CONFIG.format(sink=sink.url))
    data = tmp_path / "data"
    proc, url = await start(cfg, data, tmp_path)
    async with httpx.AsyncClient(base_url=url) as c:
        (await c.post("/api/v2/alerts", json=[{"labels": {"alertname": "A"}}])).raise_for_status()
        await sink.wait_for(1, 10)
        # Let A's delivery be acknowledged and logged.  (A kill between the receiver's 200 and
        # the log write resends A after restart: at-least-once, as with Alertmanager.)
        await asyncio.sleep(0.3)
        (await c.post("/api/v2/alerts", json=[{"labels": {"alertname": "B"}}])).raise_for_status()
    os.kill(proc.pid, signal.SIGKILL)  # B's group_wait (1s) has not passed
    await proc.wait()
    assert [r.json()["groupLabels"]["alertname"] for r in sink.requests] == ["A"], [
        (r.at, r.json()) for r in sink.requests]

    proc, url = await start(cfg, data, tmp_path)
    try:
        await sink.wait_for(2, 10)
        await asyncio.sleep(2.5)  # two more group intervals: nothing may be resent
        async with httpx.AsyncClient(base_url=url) as c:
            alive = sorted(a["labels"]["alertname"] for a in (await c.get("/api/v2/alerts")).json())
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
        await sink.stop()
    assert [r.json()["groupLabels"]["alertname"] for r in sink.requests] == ["A", "B"]
    assert alive == ["A", "B"]
