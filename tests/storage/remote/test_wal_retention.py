"""A receiver (Debian's VictoriaMetrics) down across a head cut and WAL checkpoint: the
checkpoint keeps the segments the remote write queue has not sent, a queue restarted meanwhile
resumes from them, and once the receiver is back it holds every sample; with no room to keep
them (``wal_keep_for_remote_bytes=0``, Prometheus's behaviour) the same outage loses samples,
which shows the keeping is what saves them."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from guardia.config.prometheus import PrometheusConfig, QueueConfig, RemoteWriteConfig
from guardia.model import Labels
from guardia.storage.remote.write_storage import RemoteWriteStorage
from guardia.storage.tsdb import TSDB, TSDBOptions, wal
from tests.storage.remote.peers import Proc, flush_victoria, victoria

SERIES = 40
STEP_MS = 1000


def _config(url: str) -> PrometheusConfig:
    q = QueueConfig(min_backoff="20ms", max_backoff="200ms", batch_send_deadline="50ms")
    return PrometheusConfig(remote_write=(RemoteWriteConfig(url=f"{url}/api/v1/write", name="vm",
                                                            queue_config=q),))


def _append(db: TSDB, t: int) -> None:
    app = db.appender()
    for i in range(SERIES):
        app.append(Labels({"__name__": "kept_total", "i": str(i)}), t, float(t // STEP_MS + i))
    app.commit()


def _count_at_victoria(vm: Proc, lo: int, hi: int) -> int:
    flush_victoria(vm)
    r = vm.http.get("/api/v1/export", params={"match[]": "kept_total", "start": lo / 1000, "end": hi / 1000})
    r.raise_for_status()
    return sum(len(json.loads(line)["timestamps"]) for line in r.text.splitlines())


async def _until(cond: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


def _outage(tmp: Path, keep_bytes: int) -> tuple[int, int, int]:
    """Samples appended, samples the receiver holds afterwards, WAL segments kept past the
    checkpoint while it was down."""
    vm = victoria(tmp).start()
    # 1-minute blocks: a head cut (and checkpoint) after 90 s of data; small segments
    opts = TSDBOptions(block_range_ms=60_000, wal_segment_bytes=4096, wal_keep_for_remote_bytes=keep_bytes)
    db = TSDB.open(tmp / "db", opts)
    waldir = tmp / "db" / "wal"
    t0 = (int(time.time() * 1000) - 3_600_000) // 60_000 * 60_000  # an hour ago, on a block edge
    t = t0

    def new_storage() -> RemoteWriteStorage:
        rw = RemoteWriteStorage(waldir, tmp / "remote_write", CollectorRegistry())
        db.wal_readers = rw.lowest_segment  # as the server wires it
        return rw

    async def go() -> int:
        nonlocal t
        rw = new_storage()
        await rw.apply_config(_config(vm.url))
        rw.start()
        (_, q), = rw.queues.values()
        await _until(lambda: q.watcher is not None)
        for _ in range(20):
            _append(db, t)
            t += STEP_MS
        await _until(lambda: _count_at_victoria(vm, t0, t) == 20 * SERIES)
        await asyncio.to_thread(vm.stop)  # the receiver goes away ...
        for _ in range(200):  # ... for 200 s of data: more than 1.5 block ranges
            _append(db, t)
            t += STEP_MS
        await _until(lambda: q.m.retried._value.get() > 0)
        rep = await asyncio.to_thread(db.maintain)  # the head is cut, the WAL checkpointed
        assert rep.blocks_cut and wal.last_checkpoint(waldir) is not None
        cp = wal.last_checkpoint(waldir)
        assert cp is not None
        kept = len([s for s in wal.list_segments(waldir) if s <= cp[0]])
        await rw.stop()  # guardia restarts while the receiver is down
        rw = new_storage()
        await rw.apply_config(_config(vm.url))
        rw.start()
        for _ in range(10):
            _append(db, t)
            t += STEP_MS
        await asyncio.to_thread(vm.start)  # back
        (_, q), = rw.queues.values()
        await _until(lambda: q.watcher is not None and q.watcher.pos == q.watcher.tail_position()
                     and q.m.pending._value.get() == 0, timeout=60)
        await asyncio.sleep(0.5)
        await rw.stop()
        if keep_bytes:
            # everything sent: the next checkpoint deletes what was kept
            db.checkpoint()
            cp = wal.last_checkpoint(waldir)
            assert cp is not None and not [s for s in wal.list_segments(waldir) if s <= cp[0]]
        return kept

    try:
        kept = asyncio.run(go())
        got = _count_at_victoria(vm, t0, t)
    finally:
        db.close()
        vm.stop()
    return (t - t0) // STEP_MS * SERIES, got, kept


def test_a_checkpoint_during_an_outage_keeps_what_the_queue_has_not_sent(tmp_path: Path) -> None:
    appended, received, kept = _outage(tmp_path, keep_bytes=1 << 30)
    assert kept > 1  # segments the checkpoint covers, kept for the queue
    assert received == appended == 230 * SERIES


def test_without_room_to_keep_them_the_same_outage_loses_samples(tmp_path: Path) -> None:
    appended, received, kept = _outage(tmp_path, keep_bytes=0)
    assert kept == 0
    assert received < appended  # what Prometheus does: the checkpointed segments are gone
