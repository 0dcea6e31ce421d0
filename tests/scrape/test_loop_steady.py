"""A steady scrape (the same series as the last one) appends its samples and report series as
one batch: the WAL and the head it leaves are byte for byte those of two batches, through
series that come, vanish and return, and failed scrapes; a numpy-free (agent) store's log
stays as it was."""

from __future__ import annotations

import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import guardia.scrape.loop as loop_mod
from guardia.model import Matcher
from guardia.scrape.loop import ScrapeLoop
from guardia.scrape.target import Target, populate_labels
from guardia.storage.agent import AgentStorage
from guardia.storage.tsdb import TSDB, wal
from tests.scrape.helpers import Sink, job, respond

BODIES = [
    "a 1\nb 2\n",
    "a 1.5\nb 2\n",  # steady
    "a 2\nb 3\n",  # steady
    "a 2\n",  # b vanishes: a stale marker
    "a 3\n",  # steady again, without b
    "a 3\nb 4\nc 1\n",  # b returns, c is new
    "not a metric line {\n",  # a failed scrape: every series stale, up 0
    "a 4\nb 5\nc 2\n",
    "a 5\nb 6\nc 3\n",  # steady
    "# HELP a help\na 6\nb 7\nc 4\n",  # another body with the same series: steady
]


def _clock() -> Iterator[float]:
    """A scrape every 5 s, each taking 12.5 ms: the same timestamps and durations in both runs."""
    t = 1_733_000_000.0
    while True:
        yield t
        yield t + 0.0125
        t += 5.0


class _Target:
    """One local target for both runs (the same ``instance`` label), serving ``BODIES`` in
    order from each ``restart``."""

    def __init__(self) -> None:
        self.bodies = iter(BODIES)
        self.sink = Sink(lambda req: respond(next(self.bodies))(req))

    def restart(self) -> Sink:
        self.bodies = iter(BODIES)
        return self.sink


@pytest.fixture
def target() -> Iterator[_Target]:
    t = _Target()
    yield t
    t.sink.close()


async def _scrape_all(
    store: object, monkeypatch: pytest.MonkeyPatch, merge: bool, target: _Target
) -> ScrapeLoop:
    clock = _clock()
    monkeypatch.setattr(loop_mod, "time", types.SimpleNamespace(time=lambda: next(clock)))
    monkeypatch.setattr(loop_mod, "_MERGE", merge)
    sink = target.restart()
    cfg = job(f"scrape_configs:\n  - job_name: t\n    static_configs: [{{targets: ['{sink.address}']}}]\n")
    final, pre = populate_labels({"__address__": sink.address}, cfg)
    assert final is not None
    loop = ScrapeLoop(Target("t", final, pre), cfg, store)  # type: ignore[arg-type]
    try:
        for _ in BODIES:
            await loop.scrape_once()
    finally:
        await loop.stop(mark_stale=False)
    return loop


def _records(waldir: Path) -> list[tuple[int, bytes]]:
    return [r for r in wal.replay_records(waldir, repair=False) if not isinstance(r, wal.Corruption)]


async def test_steady_scrapes_leave_the_same_wal_and_head_as_two_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: _Target
) -> None:
    recs: dict[bool, list[tuple[int, bytes]]] = {}
    heads: dict[bool, dict[str, tuple[list[int], list[int]]]] = {}
    joined = 0
    for merge in (False, True):
        db = TSDB.open(tmp_path / f"merge-{merge}")
        try:
            loop = await _scrape_all(db, monkeypatch, merge, target)
            if merge:
                joined = 0 if loop._joined is None else len(loop._joined[2])
            q = db.querier(0, 2**62)
            heads[merge] = {
                str(s.labels): (s.timestamps.tolist(), s.values.view(np.uint64).tolist())
                for s in q.select([Matcher.parse("__name__", "=~", ".+")])
            }
        finally:
            db.close()
        recs[merge] = _records(tmp_path / f"merge-{merge}" / "wal")
    assert recs[True] == recs[False]
    # one record of samples per scrape, whichever way
    assert sum(1 for rtype, _ in recs[True] if rtype == wal.REC_SAMPLES_T) == len(BODIES)
    assert heads[True] == heads[False]
    assert len(heads[True]) == 3 + 5
    assert joined == 3 + 5  # the last scrapes went the steady way: a, b, c and the report series


async def test_a_numpy_free_store_logs_as_it_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: _Target
) -> None:
    """An agent's scrapes keep two batches (its log writes those as a record with a
    timestamp per sample): the same log with the switch on or off."""
    recs: dict[bool, list[tuple[int, bytes]]] = {}
    for merge in (False, True):
        store = AgentStorage(tmp_path / f"agent-{merge}")
        try:
            await _scrape_all(store, monkeypatch, merge, target)
        finally:
            store.close()
        recs[merge] = _records(tmp_path / f"agent-{merge}" / "wal")
    assert recs[True] == recs[False]
    assert sum(1 for rtype, _ in recs[True] if rtype == wal.REC_SAMPLES) == len(BODIES)
