"""A series GC of the store while a scrape is in flight (the maintenance thread runs it while
the loop awaits the target): the loop's cached refs belong to the numbering before it, and
every sample must still land on its own series."""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from guardia.model import Labels, Matcher
from guardia.scrape.loop import ScrapeLoop
from guardia.scrape.target import Target, populate_labels
from guardia.storage.tsdb import TSDB, TSDBOptions
from tests.scrape.helpers import Sink, close, job, respond

MIN = 60_000


async def test_samples_keep_their_series_when_a_gc_runs_during_the_fetch(tmp_path: Path) -> None:
    db = TSDB.open(tmp_path / "d", TSDBOptions(block_range_ms=30 * MIN, retention_ms=0))
    now = int(time.time() * 1000)
    # a churned series from hours ago: the GC drops it and renumbers every later ref
    app = db.appender()
    app.append(Labels({"__name__": "gone", "instance": "old-pod"}), now - 10 * 60 * MIN, 1.0)
    app.commit()
    with db.read_lock:
        assert db._collect_garbage() == 0  # still has a sample: only makes it a candidate

    def gc_then(body: str):  # type: ignore[no-untyped-def]
        def h(req: BaseHTTPRequestHandler) -> None:
            with db.read_lock:
                db.head.truncate(now - 60 * MIN)
                assert db._collect_garbage() == 1
            respond(body)(req)
        return h

    bodies = iter([respond("a 1\nb 2\n"), gc_then("a 1\nb 2\nc 3\n"), respond("a 1\nb 2\nc 3\n")])
    sink = Sink(lambda req: next(bodies)(req))
    cfg = job(f"scrape_configs:\n  - job_name: t\n    static_configs: [{{targets: ['{sink.address}']}}]\n")
    final, pre = populate_labels({"__address__": sink.address}, cfg)
    assert final is not None
    loop = ScrapeLoop(Target("t", final, pre), cfg, db)
    try:
        for _ in range(3):
            await loop.scrape_once()
            assert loop.target.health == "up", loop.target.last_error
    finally:
        sink.close()
        await close(loop)
    got = {s.labels.name: s.values.tolist()
           for s in db.querier(now - 60 * MIN, now + 10 * MIN).select([Matcher.equal("job", "t")])}
    db.close()
    assert got["a"] == [1.0, 1.0, 1.0]
    assert got["b"] == [2.0, 2.0, 2.0]
    assert got["c"] == [3.0, 3.0]
    assert got["up"] == [1.0, 1.0, 1.0]
    assert "gone" not in got
