"""``storage.tsdb.out_of_order_time_window`` on a real ``guardia serve``: late samples from
remote write within the window are accepted and queryable, and still there after a restart
(the window is known before the WAL replays); outside it they are refused."""

from __future__ import annotations

import itertools
import json
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


LATE_CONFIG = """
global: {scrape_interval: 1h}
storage:
  tsdb: {out_of_order_time_window: 6h}
"""
H = 3_600_000
M = 60_000


def _write_many(s: Serve, samples: list[tuple[int, float]]) -> httpx.Response:
    """One remote-write request holding ``samples`` of ``late_metric`` (one TimeSeries each)."""
    table = PrefixTable()
    table.add(0, encode_labels(Labels({"__name__": "late_metric", "job": "push"})))
    body = compress(table.encode(np.zeros(len(samples), dtype=np.int64),
                                 np.array([t for t, _ in samples], dtype=np.int64),
                                 np.array([v for _, v in samples], dtype=np.float64)))
    return s.http.post("/api/v1/write", content=body, headers={
        "Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
        "X-Prometheus-Remote-Write-Version": "0.1.0"})


def _range(s: Serve, lo: int, hi: int) -> dict[int, float]:
    r = s.http.get("/api/v1/query", params={"query": f"late_metric[{(hi - lo) // 1000}s]",
                                            "time": hi / 1000}).json()
    assert r["status"] == "success", r
    res = r["data"]["result"]
    return {round(float(t) * 1000): float(v) for t, v in res[0]["values"]} if res else {}


def _blocks(data: Path) -> list[tuple[int, int]]:
    """The complete blocks' ranges. A block being written or deleted (``*.tmp``) is not one,
    and a directory may vanish between the listing and the read (compaction deletes it)."""
    out = []
    for meta in data.glob("*/meta.json"):
        if meta.parent.name.endswith(".tmp"):
            continue
        try:
            m = json.loads(meta.read_text())
        except FileNotFoundError:
            continue
        out.append((int(m["minTime"]), int(m["maxTime"])))
    return sorted(out)


def _disjoint(blocks: list[tuple[int, int]]) -> bool:
    return all(a[1] <= b[0] for a, b in itertools.pairwise(blocks))  # maxTime: exclusive


def _metric(s: Serve, name: str) -> float:
    for line in s.http.get("/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _until(cond, what: str, s: Serve, timeout: float = 80) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen in {timeout:.0f}s:\n{s.log.read_text()[-3000:]}")


def test_late_samples_below_the_blocks_survive_kill_9_and_are_compacted_into_their_block(
    tmp_path: Path,
) -> None:
    """Prometheus 3's out-of-order ingestion on a real ``guardia serve``: remote-written samples
    older than the newest block (within the 6 h window) are accepted and queryable, survive a
    kill -9 before any compaction, and once the head is cut again land in a block of their own
    that compaction merges with the block they overlap; too-old ones are refused (400)."""
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(LATE_CONFIG)
    data = tmp_path / "data"
    now = (int(time.time()) // 60 - 1) * 60_000
    first = [(now - 7 * H + k * M, float(k)) for k in range(4 * 60)]  # in order: 7 h to 3 h ago
    s = Serve(tmp_path, "--config", str(cfg))
    try:
        s.wait_ready()
        assert _write_many(s, first).status_code == 204
        _until(lambda: _blocks(data), "a head cut (maintenance every 30 s)", s)
        (lo, hi), = _blocks(data)[:1]
        assert lo <= now - 7 * H <= hi
        late = [(lo + 30_000 + k * M, 1000.0 + k) for k in range(10)]  # between the block's samples
        r = _write_many(s, late)
        assert r.status_code == 204, r.text
        too_old = _write_many(s, [(now - 10 * H, 5.0)])
        assert too_old.status_code == 400 and "too_old=1" in too_old.text, too_old.text
        assert _metric(s, "prometheus_tsdb_too_old_samples_total") == 1
        want = dict(first) | dict(late)
        want = {t: v for t, v in want.items() if now - 8 * H < t <= now}
        assert _range(s, now - 8 * H, now) == want
        s.proc.kill()  # kill -9: the late samples are only in the WAL
        s.proc.wait(10)
        s = Serve(tmp_path, "--config", str(cfg))
        s.wait_ready()
        assert _range(s, now - 8 * H, now) == want, s.log.read_text()[-3000:]
        # in-order data up to now: the next cut writes the late samples into a block that
        # overlaps the first one, and compaction merges the two
        rest = [(now - 3 * H + k * M, float(k)) for k in range(1, 3 * 60 + 1)]
        assert _write_many(s, rest).status_code == 204
        # The vertical merge may be followed by a level compaction in the same maintenance
        # pass, whose sources are deleted one by one after its block is written (a CI run saw
        # that moment): wait for blocks that no longer overlap, not only for the counter.
        _until(lambda: _metric(s, "prometheus_tsdb_vertical_compactions_total") >= 1
               and _disjoint(_blocks(data)), "merge", s)
        want |= {t: v for t, v in rest if t <= now}
        assert _range(s, now - 8 * H, now) == want
        s.stop()
        s = Serve(tmp_path, "--config", str(cfg))  # from the blocks and checkpoint now
        s.wait_ready()
        assert _range(s, now - 8 * H, now) == want
    finally:
        if s.proc.poll() is None:
            s.stop()
