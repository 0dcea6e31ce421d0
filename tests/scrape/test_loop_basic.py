"""One scrape loop against local targets: samples, synthetic series, staleness, errors."""

from __future__ import annotations

import math

import pytest

from guardia.model.samples import is_stale_nan
from guardia.scrape.loop import ScrapeLoop
from guardia.scrape.request import make_client
from guardia.scrape.target import Target, populate_labels
from guardia.storage.memory import MemoryStorage
from tests.scrape.helpers import Sink, close, job, respond, select


@pytest.fixture(params=["direct", "httpx"])
def via(request: pytest.FixtureRequest) -> str:
    """Both HTTP paths: the built-in client, and httpx (used when a proxy is configured)."""
    return str(request.param)

def _loop(sink: Sink, storage: MemoryStorage, via: str, extra: str = "") -> ScrapeLoop:
    cfg = job(
        f"scrape_configs:\n  - job_name: t\n    static_configs: [{{targets: ['{sink.address}']}}]\n{extra}"
    )
    final, pre = populate_labels({"__address__": sink.address}, cfg)
    assert final is not None
    return ScrapeLoop(Target("t", final, pre), cfg, storage, make_client(cfg) if via == "httpx" else None)


async def test_scrape_appends_samples_and_report_series(via: str) -> None:
    sink = Sink(respond('# TYPE a counter\na_total{x="1"} 3\nb 2.5\n'))
    storage = MemoryStorage()
    loop = _loop(sink, storage, via)
    try:
        await loop.scrape_once()
    finally:
        sink.close()
        await close(loop)
    assert loop.target.health == "up", loop.target.last_error
    (s,) = select(storage, __name__="a_total")
    assert dict(s.labels) == {"__name__": "a_total", "x": "1", "job": "t", "instance": sink.address}
    assert s.values.tolist() == [3.0]
    (up,) = select(storage, __name__="up")
    assert up.values.tolist() == [1.0]
    (n,) = select(storage, __name__="scrape_samples_scraped")
    assert n.values.tolist() == [2.0]
    (added,) = select(storage, __name__="scrape_series_added")
    assert added.values.tolist() == [2.0]
    assert "openmetrics" in sink.requests[0]["accept"]


async def test_disappearing_series_get_a_stale_marker(via: str) -> None:
    bodies = iter(["a 1\nb 2\n", "a 1\n"])
    sink = Sink(lambda req: respond(next(bodies))(req))
    storage = MemoryStorage()
    loop = _loop(sink, storage, via)
    try:
        await loop.scrape_once()
        await loop.scrape_once()
    finally:
        sink.close()
        await close(loop)
    (b,) = select(storage, __name__="b")
    assert b.values[0] == 2.0 and is_stale_nan(float(b.values[1]))


async def test_malformed_line_fails_the_scrape_with_line_number(via: str) -> None:
    bodies = iter(["a 1\nb 2\n", "a 1\nb{x=\"1\" 2\n"])
    sink = Sink(lambda req: respond(next(bodies))(req))
    storage = MemoryStorage()
    loop = _loop(sink, storage, via)
    try:
        await loop.scrape_once()
        await loop.scrape_once()
    finally:
        sink.close()
        await close(loop)
    assert loop.target.health == "down"
    assert loop.target.last_error.startswith("line 2:"), loop.target.last_error
    (up,) = select(storage, __name__="up")
    assert up.values.tolist() == [1.0, 0.0]
    (a,) = select(storage, __name__="a")
    assert a.values[0] == 1.0 and is_stale_nan(float(a.values[1]))
    assert not math.isnan(a.values[0])


async def test_series_with_explicit_timestamps_get_no_stale_marker(via: str) -> None:
    bodies = iter(["a 1 1000\nb 2\n", "b 2\n"])
    sink = Sink(lambda req: respond(next(bodies))(req))
    storage = MemoryStorage()
    loop = _loop(sink, storage, via)
    try:
        await loop.scrape_once()
        await loop.scrape_once()
    finally:
        sink.close()
        await close(loop)
    (a,) = select(storage, __name__="a")
    assert a.timestamps.tolist() == [1000] and a.values.tolist() == [1.0]


async def test_track_timestamps_staleness_marks_them_too() -> None:
    bodies = iter(["a 1 1000\nb 2\n", "b 2\n"])
    sink = Sink(lambda req: respond(next(bodies))(req))
    storage = MemoryStorage()
    loop = _loop(sink, storage, "direct", "    track_timestamps_staleness: true\n")
    try:
        await loop.scrape_once()
        await loop.scrape_once()
    finally:
        sink.close()
        await close(loop)
    (a,) = select(storage, __name__="a")
    assert a.values[0] == 1.0 and is_stale_nan(float(a.values[-1]))
