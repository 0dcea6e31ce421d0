"""A scrape loop over an agent's store (Python arrays, no numpy) appends what it appends over
the embedded kind of store (numpy arrays): the same series with the same values in the same
order, staleness markers, report series, timestamped samples and duplicates included."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from guardia.model import STALE_NAN, Labels
from guardia.scrape.loop import ScrapeLoop
from guardia.scrape.target import Target, populate_labels
from guardia.storage.agent import AgentStorage
from guardia.storage.memory import MemoryStorage
from guardia.storage.remote.wal_watcher import Position, WALWatcher
from tests.scrape.helpers import Sink, close, job, respond

BODIES = [
    'a 1\nb 2\nc 3 1000\n# TYPE h histogram\nh_bucket{le="1"} 4\nh_bucket{le="+Inf"} 5\n',
    'a 1\nc 3 1000\nh_bucket{le="1"} 4\nh_bucket{le="+Inf"} 6\n',  # b gone
    'a 1\nb{x="1" 2\n',  # a malformed line: the scrape fails, everything goes stale
    "a 5\nd 1\nd 2\nb 7\n",  # back, with a series twice (the first line counts)
    "a 5\nd 1\nd 2\nb 7\n",  # the same again: from the caches
]
REPORT = {"scrape_duration_seconds"}  # its value is a time: compared by count only


def _bits(v: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", v))[0])


async def _run(storage: object, track: bool) -> None:
    bodies = iter(BODIES)
    sink = Sink(lambda req: respond(next(bodies))(req))
    extra = "    track_timestamps_staleness: true\n" if track else ""
    cfg = job(f"scrape_configs:\n  - job_name: t\n    static_configs: [{{targets: ['{sink.address}']}}]\n"
              + extra)
    final, pre = populate_labels({"__address__": sink.address}, cfg)
    assert final is not None
    loop = ScrapeLoop(Target("t", final, pre), cfg, storage, None)  # type: ignore[arg-type]
    try:
        for _ in BODIES:
            await loop.scrape_once()
    finally:
        sink.close()
        await close(loop)


def _series(got: dict[Labels, list[int]]) -> dict[str, list[int]]:
    out = {}
    for lb, vals in got.items():
        d = dict(lb)
        d.pop("instance")
        key = ",".join(f"{k}={v}" for k, v in sorted(d.items()))
        out[key] = [len(vals)] if lb.get("__name__") in REPORT else vals
    return out


@pytest.mark.parametrize("track", [False, True], ids=["plain", "track_timestamps_staleness"])
async def test_an_agent_stores_what_the_embedded_store_stores(tmp_path: Path, track: bool) -> None:
    mem = MemoryStorage()
    await _run(mem, track)
    want = {s.labels: [_bits(v) for v in s.vs] for s in mem._series}  # type: ignore[arg-type]
    agent = AgentStorage(tmp_path / "agent")
    assert agent.numpy_free
    try:
        await _run(agent, track)
    finally:
        agent.close()
    # what the agent logged, read back as remote write reads it; ordered and deduplicated by
    # timestamp as the memory store keeps samples (a timestamped line repeats its sample)
    w = WALWatcher(tmp_path / "agent" / "wal", Position(0, 0))
    logged: dict[Labels, dict[int, int]] = {}
    while (r := w.read(10_000)).total:
        for ref, t, v in zip(r.refs, r.timestamps, r.values, strict=True):
            lb = w.labels[ref]
            assert lb is not None
            logged.setdefault(lb, {}).setdefault(t, _bits(v))
    got = {lb: [v for _, v in sorted(by_t.items())] for lb, by_t in logged.items()}
    assert _series(got) == _series(want)
    stale = _bits(STALE_NAN)
    # b when it went, then a and the buckets (and c when tracked) when the scrape failed
    assert sum(v == stale for vals in got.values() for v in vals) == (5 if track else 4)
