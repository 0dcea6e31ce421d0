"""Request latency on a keep-alive connection to a real ``guardia serve``.

Grafana, Prometheus (federation, remote read) and most HTTP clients reuse one connection for
many requests.  A response written in two parts (headers, then body) on a socket with Nagle's
algorithm on waits for the client's delayed ACK (40 ms on Linux) before its second part goes
out, so this measures exactly what a dashboard refresh pays per query.  Last line: the median
keep-alive request time and its ratio to a request on a fresh connection.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx

REQUESTS = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    port = _free_port()
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "guardia.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 15s\n")
        proc = subprocess.Popen(
            [sys.executable, "-m", "guardia.cli.main", "serve", "--config.file", cfg,
             "--storage.tsdb.path", os.path.join(d, "data"),
             "--web.listen-address", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}/api/v1/query"
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(url, params={"query": "1"}).raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            keep: list[float] = []
            with httpx.Client() as c:
                for i in range(REQUESTS):
                    t = time.perf_counter()
                    c.post(url, data={"query": f"{i}+1"}).raise_for_status()
                    keep.append(time.perf_counter() - t)
            fresh: list[float] = []
            for i in range(REQUESTS // 4):
                with httpx.Client() as c:
                    t = time.perf_counter()
                    c.post(url, data={"query": f"{i}+1"}).raise_for_status()
                    fresh.append(time.perf_counter() - t)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    k, n = statistics.median(keep), statistics.median(fresh)
    print(f"fresh connection: median {n * 1000:.2f} ms over {len(fresh)} requests")
    print(f"keep-alive: median {k * 1000:.2f} ms, {k / n:.2f}x a fresh connection's")


if __name__ == "__main__":
    main()
