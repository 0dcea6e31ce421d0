"""Latency the guardia.instrument middleware adds to one request on a trivial FastAPI endpoint.

The same FastAPI app (one ``GET /items/{item_id}`` returning a small JSON object) is called
straight through ASGI, with and without ``instrument(app)``, in alternating batches so drift of
the machine's speed hits both alike; the added latency is the difference of the medians of the
batches' per-request CPU times (thread CPU time: four workers on two cores would otherwise count
the time each waits for a core). No HTTP: the middleware's cost is CPU in the worker, and a socket
round trip on this shared 2-vCPU machine would bury a few microseconds in noise.

"1 worker": one process, prometheus_client's in-process values. "4 workers": four processes at
once, each a worker of one server as uvicorn ``--workers 4`` runs it: multiprocess mode, every
counter and histogram written to its memory-mapped file. The target is 30 µs per request.
Prints the worst of the two figures last.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from typing import Any

BATCH = 2_000
ROUNDS = 7


def _trivial_app(instrumented: bool) -> Any:
    from fastapi import FastAPI
    from prometheus_client import CollectorRegistry

    from guardia.instrument import instrument

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    if instrumented:
        # multiprocess values ignore the registry; a fresh one avoids duplicate names in-process
        instrument(app, registry=CollectorRegistry())
    return app


async def _batch(app: Any, n: int) -> float:
    scope_base = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                  "scheme": "http", "query_string": b"", "root_path": "",
                  "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 1), "server": ("b", 80)}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    t0 = time.thread_time()
    for i in range(n):
        path = f"/items/{i}"
        await app({**scope_base, "path": path, "raw_path": path.encode()}, receive, send)
    return (time.thread_time() - t0) / n


def _measure(result: Any) -> None:
    async def run() -> float:
        plain, instrumented = _trivial_app(False), _trivial_app(True)
        await _batch(plain, 200)
        await _batch(instrumented, 200)
        a, b = [], []
        for _ in range(ROUNDS):
            a.append(await _batch(plain, BATCH))
            b.append(await _batch(instrumented, BATCH))
        return statistics.median(b) - statistics.median(a), statistics.median(a)

    added, base = asyncio.run(run())
    result.put((os.getpid(), added, base))


def _worker(result: Any, mp_dir: str) -> None:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = mp_dir
    _measure(result)


def main() -> None:
    ctx = multiprocessing.get_context("spawn")
    q: Any = ctx.Queue()
    env_before = os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    p = ctx.Process(target=_measure, args=(q,))
    p.start()
    _, one, base1 = q.get()
    p.join()
    print(f"1 worker : endpoint alone {base1 * 1e6:6.1f} µs/request, "
          f"middleware adds {one * 1e6:5.1f} µs/request", flush=True)
    with tempfile.TemporaryDirectory() as d:
        procs = [ctx.Process(target=_worker, args=(q, d)) for _ in range(4)]
        for p in procs:
            p.start()
        got = [q.get() for _ in procs]
        for p in procs:
            p.join()
    four = statistics.median(g[1] for g in got)
    base4 = statistics.median(g[2] for g in got)
    print(f"4 workers: endpoint alone {base4 * 1e6:6.1f} µs/request, middleware adds "
          f"{four * 1e6:5.1f} µs/request (median of 4; each: "
          f"{', '.join(f'{g[1] * 1e6:.1f}' for g in got)})", flush=True)
    if env_before is not None:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = env_before
    print(f"instrument_overhead: {one * 1e6:.1f} µs/request (1 worker), {four * 1e6:.1f} µs/request "
          f"(4 workers, multiprocess mode); target <= 30")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
