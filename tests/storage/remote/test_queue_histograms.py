"""Native histograms on the sending side (``send_native_histograms``): read from the WAL's
histogram records, relabeled, retried, dropped and counted apart from float samples, in 1.0 and
2.0; a queue without the setting passes them over.  The last test is a real Prometheus 2.42
that was not started with ``--enable-feature=native-histograms``: it answers 500, the sender
retries (as Prometheus's sender does) and logs the receiver's reason."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from guardia.config.relabel import RelabelConfig
from guardia.model import Labels
from guardia.model.histogram import FloatHistogram
from guardia.storage.remote.decode import decompress
from guardia.storage.remote.histograms import decode_histogram
from guardia.storage.remote.proto import WriteRequest
from guardia.storage.remote.queue_manager import QueueManager
from guardia.storage.remote.wal_watcher import Position, WALWatcher
from guardia.storage.remote.write_receiver import WriteReceiver
from guardia.storage.tsdb import TSDB
from tests.storage.remote.peers import prometheus_receiver
from tests.storage.remote.test_queue import T0, _append, _queue, _store, _until
from tests.web.conftest import LiveServer


def _h(n: int, whole: bool = True) -> FloatHistogram:
    c = float(n) if whole else n + 0.25
    return FloatHistogram(schema=1, count=3 * c, sum=4.5 * n, zero_threshold=0.001, zero_count=c,
                          positive={0: c, 3: c}, negative={-1: 0.0}, counter_reset_hint=2)


def _append_h(db: TSDB, t: int, job: str = "a", whole: bool = True) -> None:
    app = db.appender()
    for i in range(3):
        app.append_histogram(Labels({"__name__": "h", "job": job, "i": str(i)}), t, _h(i + 1, whole))
    app.commit()


class HReceiver:
    """Keeps the float samples and the histograms of what it takes (1.0 or 2.0); answers each
    POST with the next status of ``script`` first."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.floats: list[tuple[dict[str, str], int, float]] = []
        self.hists: list[tuple[dict[str, str], int, FloatHistogram]] = []
        self.app = Starlette(routes=[Route("/write", self.write, methods=["POST"])])

    async def write(self, request: Request) -> Response:
        body = decompress(await request.body())
        if self.script:
            return Response(status_code=self.script.pop(0), content=b"scripted refusal")
        if request.headers.get("content-type", "").endswith("io.prometheus.write.v2.Request"):
            dec = WriteReceiver._decode_v2(body)
            series, hists = dec.series, dec.histograms
            self.floats += [(lb.as_dict(), t, v) for lb, samples in series for t, v in samples]
            self.hists += [(lb.as_dict(), t, h) for lb, t, h in hists]
            return Response(status_code=204, headers={
                "X-Prometheus-Remote-Write-Samples-Written": str(sum(len(s) for _, s in series)),
                "X-Prometheus-Remote-Write-Histograms-Written": str(len(hists))})
        req = WriteRequest()
        req.ParseFromString(body)
        for ts in req.timeseries:
            lb = {x.name: x.value for x in ts.labels}
            self.floats += [(lb, s.timestamp, s.value) for s in ts.samples]
            for hm in ts.histograms:
                t, h = decode_histogram(hm.SerializeToString())
                self.hists.append((lb, t, h))
        return Response(status_code=204)


def test_the_watcher_reads_histogram_records_only_when_asked(tmp_path: Path) -> None:
    db = _store(tmp_path / "db")
    _append(db, T0)
    _append_h(db, T0)
    off = WALWatcher(tmp_path / "db" / "wal", Position(0, 0)).read(10_000)
    on = WALWatcher(tmp_path / "db" / "wal", Position(0, 0), send_histograms=True).read(10_000)
    assert off.size == on.size == 10 and off.histograms == [] and off.total == 10
    assert on.total == 13
    assert [(lb.get("i"), t, h) for lb, t, h in on.histograms] == [(str(i), T0, _h(i + 1)) for i in range(3)]
    db.close()


@pytest.mark.parametrize("v2", [False, True])
def test_histograms_are_sent_relabeled_retried_and_counted_apart(tmp_path: Path, v2: bool) -> None:
    db = _store(tmp_path / "db")
    rx = HReceiver()
    drop_i2 = RelabelConfig(source_labels=("i",), regex="2", action="drop")
    extra = {"protobuf_message": "io.prometheus.write.v2.Request"} if v2 else {}
    with LiveServer(rx.app) as srv:
        async def go() -> QueueManager:
            q = _queue(tmp_path, f"{srv.url}/write", send_native_histograms=True,
                       write_relabel_configs=(drop_i2,), **extra)
            q.start()
            await _until(lambda: q.watcher is not None)
            _append_h(db, T0)  # integer histograms
            _append(db, T0)
            await _until(lambda: len(rx.hists) == 2 and len(rx.floats) == 9)
            rx.script = [503]
            _append_h(db, T0 + 1000, whole=False)  # float histograms: 503, then taken
            await _until(lambda: len(rx.hists) == 4)
            rx.script = [400]
            _append_h(db, T0 + 2000)  # refused for good: dropped, counted failed
            await _until(lambda: q.m.hist_failed._value.get() == 2)
            _append_h(db, T0 + 3000)
            await _until(lambda: len(rx.hists) == 6)
            await q.stop()
            return q

        q = asyncio.run(go())
    assert q.v2 is v2
    got = sorted((lb["i"], t, h.count, h.zero_count) for lb, t, h in rx.hists)
    assert got == [("0", T0, 3.0, 1.0), ("0", T0 + 1000, 3.75, 1.25), ("0", T0 + 3000, 3.0, 1.0),
                   ("1", T0, 6.0, 2.0), ("1", T0 + 1000, 6.75, 2.25), ("1", T0 + 3000, 6.0, 2.0)]
    for lb, t, h in rx.hists:
        assert lb["site"] == "x" and lb["__name__"] == "h"  # external labels added
        want = _h(int(lb["i"]) + 1, whole=t != T0 + 1000)
        assert h == want
    assert q.m.hist_sent._value.get() == 6 and q.m.hist_retried._value.get() == 2
    assert q.m.hist_dropped._value.get() == 4  # i="2", in each of four commits
    assert q.m.sent._value.get() == 9 and q.m.failed._value.get() == 0  # floats counted apart
    db.close()


def test_a_series_histograms_and_its_staleness_marker_arrive_in_time_order(tmp_path: Path) -> None:
    """A backlog round holding, per series, a histogram, the marker that ends it and a
    histogram after it comes back: over four shards and small batches, the receiver gets each
    series' samples in time order (one shard per series, runs of one kind in time order)."""
    from guardia.config.prometheus import QueueConfig, RemoteWriteConfig
    from guardia.model.samples import STALE_NAN
    from guardia.storage.remote.metrics import RemoteWriteMetrics

    db = _store(tmp_path / "db")
    series = [Labels({"__name__": "h", "i": str(i)}) for i in range(12)]
    for k, kind in enumerate(["h", "stale", "h", "h"]):
        app = db.appender()
        for lb in series:
            if kind == "h":
                app.append_histogram(lb, T0 + k * 1000, _h(k + 1))
            else:
                app.append(lb, T0 + k * 1000, STALE_NAN)
        app.append(Labels({"__name__": "up"}), T0 + k * 1000, 1.0)
        app.commit()
    rx = HReceiver()
    arrivals: list[tuple[str, int]] = []
    real = rx.write

    async def write(request: Request) -> Response:
        n_f, n_h = len(rx.floats), len(rx.hists)
        resp = await real(request)
        arrivals.extend((lb.get("i", "up"), t) for lb, t, _ in rx.floats[n_f:])
        arrivals.extend((lb["i"], t) for lb, t, _ in rx.hists[n_h:])
        return resp

    rx.app = Starlette(routes=[Route("/write", write, methods=["POST"])])
    q_cfg = QueueConfig(min_shards=4, max_shards=4, max_samples_per_send=5, batch_send_deadline="50ms")
    cfg = RemoteWriteConfig(url="http://x", name="order", queue_config=q_cfg, send_native_histograms=True)
    with LiveServer(rx.app) as srv:
        async def go() -> None:
            q = QueueManager(cfg.model_copy(update={"url": f"{srv.url}/write"}),
                             waldir=tmp_path / "db" / "wal", state_path=tmp_path / "state.json",
                             external_labels={}, metrics=RemoteWriteMetrics(None))
            q.save_position(Position(0, 0))  # the whole WAL is the backlog of one round
            q.start()
            await _until(lambda: len(rx.hists) == 36 and len(rx.floats) == 16)
            await q.stop()
            assert q.m.hist_failed._value.get() == 0

        asyncio.run(go())
    for lb in series:
        times = [t for i, t in arrivals if i == lb.get("i")]
        assert times == [T0, T0 + 1000, T0 + 2000, T0 + 3000], (lb, times)
    db.close()


def test_without_send_native_histograms_none_are_sent(tmp_path: Path) -> None:
    db = _store(tmp_path / "db")
    rx = HReceiver()
    with LiveServer(rx.app) as srv:
        async def go() -> None:
            q = _queue(tmp_path, f"{srv.url}/write")
            q.start()
            await _until(lambda: q.watcher is not None)
            _append_h(db, T0)
            _append(db, T0)
            await _until(lambda: len(rx.floats) == 10)
            await asyncio.sleep(0.3)
            await q.stop()
            assert q.m.hist_sent._value.get() == 0 and q.m.hist_dropped._value.get() == 0

        asyncio.run(go())
    assert rx.hists == []
    db.close()


def test_a_prometheus_without_native_histograms_refuses_and_the_sender_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    prom = prometheus_receiver(tmp_path).start()
    db = _store(tmp_path / "db")
    try:
        async def go() -> QueueManager:
            q = _queue(tmp_path, f"{prom.url}/api/v1/write", send_native_histograms=True)
            q.start()
            await _until(lambda: q.watcher is not None)
            _append(db, int(time.time() * 1000))
            _append_h(db, int(time.time() * 1000))
            await _until(lambda: q.m.hist_retried._value.get() >= 6, timeout=30)
            await q.stop()
            return q

        with caplog.at_level(logging.WARNING, logger="guardia.storage.remote"):
            q = asyncio.run(go())
        assert q.m.hist_sent._value.get() == 0 and q.m.sent._value.get() == 10
        assert "native histograms are disabled" in caplog.text  # the receiver's reason, logged
        assert prom.query("count(m)", time.time())["result"][0]["value"][1] == "10"
    finally:
        prom.stop()
        db.close()
