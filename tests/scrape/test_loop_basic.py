"""One scrape loop against local targets: samples, synthetic series, staleness, errors."""

from __future__ import annotations

import math
import socket
import time
from typing import Any

import pytest

from guardia.model.samples import is_stale_nan
from guardia.scrape.loop import ScrapeLoop
from guardia.scrape.request import make_client
from guardia.scrape.target import Target, populate_labels
from guardia.storage.memory import MemoryStorage
from tests.scrape.helpers import Sink, close, free_port, job, respond, select


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


async def test_two_scrapes_in_one_millisecond_keep_their_staleness_marker(
    via: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Back-to-back scrapes can begin in the same millisecond on a fast machine: the second
    is stamped a millisecond later, or its stale marker would be a duplicate and lost."""
    import guardia.scrape.loop as loop_mod

    frozen = time.time()
    monkeypatch.setattr(loop_mod.time, "time", lambda: frozen)
    await test_disappearing_series_get_a_stale_marker(via)


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


def _loop_at(address: str, via: str) -> ScrapeLoop:
    cfg = job(f"scrape_configs:\n  - job_name: t\n    static_configs: [{{targets: ['{address}']}}]\n")
    final, pre = populate_labels({"__address__": address}, cfg)
    assert final is not None
    client = make_client(cfg) if via == "httpx" else None
    return ScrapeLoop(Target("t", final, pre), cfg, MemoryStorage(), client)


async def test_a_host_name_that_does_not_resolve_says_name_not_found(
        via: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not "is the target listening?": the fix is the name or the DNS, not the target.

    No DNS server may be asked from a test here, so only this one name's lookup is answered
    the way a resolver answers a name that does not exist; the rest of the path is real.
    """
    real = socket.getaddrinfo

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "api.nosuch.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    loop = _loop_at("api.nosuch.invalid:8000", via)
    try:
        await loop.scrape_once()
    finally:
        await close(loop)
    assert loop.target.health == "down"
    err = loop.target.last_error
    assert err.startswith("name not found: the host name 'api.nosuch.invalid' does not resolve"), err
    assert "listening" not in err


async def test_a_refused_connection_still_asks_whether_the_target_listens(via: str) -> None:
    loop = _loop_at(f"127.0.0.1:{free_port()}", via)
    try:
        await loop.scrape_once()
    finally:
        await close(loop)
    assert loop.target.last_error.startswith("connection failed (is the target listening?)")
