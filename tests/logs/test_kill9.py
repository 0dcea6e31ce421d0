"""kill -9 during ingestion loses no acknowledged line (and stores none twice)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from guardia.logs import LogStore, StoreOptions
from guardia.model import Matcher

SERVER = """
import sys, uvicorn
from starlette.applications import Starlette
from guardia.logs import LogStore, StoreOptions
from guardia.web.loki_api import LokiApi
# small chunks: heads are cut and compressed while pushes arrive, so the kill lands in every phase
store = LogStore(sys.argv[1], StoreOptions(chunk_target_bytes=20_000))
app = Starlette(routes=LokiApi(store).routes())
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="error")
"""


def _port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return int(p)


def test_kill_9_loses_no_acknowledged_line(tmp_path: Path) -> None:
    port = _port()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp_path / "logs"), str(port)], env=env)
    url = f"http://127.0.0.1:{port}/loki/api/v1/push"
    acked: list[str] = []
    stop = threading.Event()
    base = 1_700_000_000 * 10**9

    def pusher() -> None:
        with httpx.Client(timeout=5) as c:
            i = 0
            while not stop.is_set():
                lines = [f"batch {i} line {j} " + "x" * 100 for j in range(200)]
                body = {
                    "streams": [
                        {
                            "stream": {"job": "k9"},
                            "values": [[str(base + i * 1000 + j), ln] for j, ln in enumerate(lines)],
                        }
                    ]
                }
                try:
                    r = c.post(url, json=body)
                except httpx.TransportError:
                    if acked:  # the server is gone
                        return
                    time.sleep(0.05)
                    continue
                if r.status_code == 204:
                    acked.extend(lines)
                i += 1

    t = threading.Thread(target=pusher)
    t.start()
    deadline = time.monotonic() + 20
    while len(acked) < 20_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    stop.set()
    t.join(10)
    assert len(acked) >= 2_000

    store = LogStore(tmp_path / "logs", StoreOptions())
    [s] = store.select([Matcher.equal("job", "k9")])
    stored = [p.line(i).decode() for p in store.read(s, 0, 1 << 62) for i in range(len(p))]
    assert len(stored) == len(set(stored)), "a line was stored twice"
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged lines lost"
    store.close()
