"""Debian's Prometheus 2.42 over a history written in OpenMetrics and backfilled with promtool:
the peer that reports and SLO backtests are compared with, over the same samples."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def backfilled_prometheus(tmp: Path, openmetrics: str, ready_query: str,
                          timeout_s: float = 90) -> Iterator[str]:
    """Backfill ``openmetrics`` into ``tmp/data``, start Prometheus on it and yield its URL once
    ``ready_query`` answers (the blocks are loaded); Prometheus is stopped on the way out."""
    (tmp / "history.om").write_text(openmetrics)
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(tmp / "history.om"),
                    str(tmp / "data")], check=True, capture_output=True, timeout=300)
    (tmp / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
    port = _free_port()
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=30d"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                r = httpx.get(url + "/api/v1/query", params={"query": ready_query}, timeout=2)
                if r.json()["data"]["result"]:
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Prometheus did not load the backfilled blocks within {timeout_s:g}s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
