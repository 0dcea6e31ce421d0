"""``storage.tsdb.out_of_order_time_window`` on a real ``guardia serve``: late samples from
remote write within the window are accepted and queryable, and still there after a restart
(the window is known before the WAL replays); outside it they are refused."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np

from guardia.model import Labels
from guardia.storage.remote.encode import PrefixTable, compress, encode_labels
from tests.test_serve import Serve

CONFIG = """
global: {scrape_interval: 1h}
storage:
  tsdb: {out_of_order_time_window: 10m}
"""


def _write(s: Serve, t_ms: int, v: float) -> httpx.Response:
    table = PrefixTable()
    table.add(0, encode_labels(Labels({"__name__": "late_metric", "job": "push"})))
    body = compress(table.encode(np.array([0]), np.array([t_ms]), np.array([v])))
    return s.http.post("/api/v1/write", content=body, headers={
        "Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
        "X-Prometheus-Remote-Write-Version": "0.1.0"})


def _values(s: Serve, now_ms: int) -> list[tuple[float, str]]:
    r = s.http.get("/api/v1/query", params={"query": "late_metric[30m]", "time": now_ms / 1000}).json()
    assert r["status"] == "success", r
    return [(float(t), v) for t, v in r["data"]["result"][0]["values"]] if r["data"]["result"] else []


def test_late_samples_within_the_window_are_kept_across_a_restart(tmp_path: Path) -> None:
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(CONFIG)
    now = (int(time.time()) - 60) * 1000
    s = Serve(tmp_path, "--config", str(cfg))
    try:
        s.wait_ready()
        assert _write(s, now, 1.0).status_code == 204
        assert _write(s, now - 5 * 60_000, 2.0).status_code == 204  # 5 min late: inside 10m
        assert _write(s, now - 20 * 60_000, 3.0).status_code == 400  # 20 min late: outside, refused
        want = [((now - 5 * 60_000) / 1000, "2"), (now / 1000, "1")]
        assert _values(s, now) == want
        s.stop()
        s = Serve(tmp_path, "--config", str(cfg))
        s.wait_ready()
        assert _values(s, now) == want, s.log.read_text()
    finally:
        if s.proc.poll() is None:
            s.stop()
