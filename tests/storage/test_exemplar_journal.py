"""Exemplars survive a crash as samples do: the journal behind ``ExemplarStore.open_journal``,
in the store and in a ``guardia serve`` killed with SIGKILL."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from guardia.model import Labels, Matcher
from guardia.storage.exemplars import Exemplar, ExemplarStore, _Journal
from tests.test_serve import serving
from tests.web.test_exemplars import QUERIES, T0, _Target, _until, exemplars

A = Labels.of(__name__="req_total", job="api")
B = Labels.of(__name__="req_total", job="db")
ALL = [[Matcher.equal("__name__", "req_total")]]


def ex(trace: str, t: int) -> Exemplar:
    return Exemplar(Labels.of(trace_id=trace), 1.0, t)


def content(store: ExemplarStore) -> list[tuple[Labels, list[Exemplar]]]:
    return [(s.series, s.exemplars) for s in store.select(0, 10**13, ALL)]


def paths(tmp: Path) -> tuple[Path, Path]:
    return tmp / "exemplars.jsonl", tmp / "exemplars.journal"


def test_a_crash_loses_no_accepted_exemplar(tmp_path: Path) -> None:
    store = ExemplarStore(100)
    assert store.open_journal(*paths(tmp_path)) == 0
    for i in range(20):
        store.add_many([(A, ex(f"a{i}", i)), (B, ex(f"b{i}", i))])
    store.add(A, ex("single", 100))
    # no close_journal: the process died here
    again = ExemplarStore(100)
    assert again.open_journal(*paths(tmp_path)) == 41
    assert content(again) == content(store)
    assert again.add(A, ex("single", 100)) is False  # still the newest of its series


def test_a_torn_journal_tail_costs_that_record_only_and_later_records_survive(tmp_path: Path) -> None:
    store = ExemplarStore(100)
    store.open_journal(*paths(tmp_path))
    store.add_many([(A, ex("a1", 1)), (B, ex("b1", 1))])
    with paths(tmp_path)[1].open("ab") as f:
        f.write(b'[["__name__","req_total"],[["trace_id","tor')  # died in the middle of a write
    second = ExemplarStore(100)
    assert second.open_journal(*paths(tmp_path)) == 2
    second.add(A, ex("a2", 2))  # appended after the torn bytes would be lost; it is not
    third = ExemplarStore(100)
    assert third.open_journal(*paths(tmp_path)) == 3
    assert [e.labels.get("trace_id") for _, exs in content(third) for e in exs] == ["a1", "a2", "b1"]


def replayed(tmp: Path, size: int) -> ExemplarStore:
    """What a new process would recover from the files as they are now (without rewriting them)."""
    snapshot, journal = paths(tmp)
    crashed = ExemplarStore(size)
    for p in (snapshot, journal.with_name(journal.name + ".old"), journal):
        crashed.load(p, quiet=True)
    return crashed


def test_the_journal_is_cut_back_and_replays_the_same_after_every_batch(tmp_path: Path) -> None:
    store = ExemplarStore(10)
    store.open_journal(*paths(tmp_path))
    snapshot, journal = paths(tmp_path)
    for i in range(200):  # twenty rings' worth: the journal is rotated and snapshotted often
        store.add_many([(A if i % 2 else B, ex(f"t{i}", i))])
        cutting = store._journal._cutting if store._journal else None
        if cutting is not None:
            cutting.join()
        assert content(replayed(tmp_path, 10)) == content(store), i
    assert journal.stat().st_size < 70 * 21  # at most two rings' worth of lines, not 200
    store.close_journal()
    assert not journal.exists() and snapshot.exists()
    clean = ExemplarStore(10)
    assert clean.open_journal(*paths(tmp_path)) == 10
    assert content(clean) == content(store)


@pytest.mark.parametrize("dies", ["before the snapshot", "before removing the old journal"])
def test_a_crash_in_the_middle_of_a_cut_replays_the_same(tmp_path: Path, dies: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def cut(self: _Journal) -> None:  # the process dies at that point of the snapshot thread
        if dies == "before removing the old journal":
            self.store.save(self.snapshot)
        self._cutting = None

    monkeypatch.setattr(_Journal, "_cut", cut)
    store = ExemplarStore(10)
    store.open_journal(*paths(tmp_path))
    for i in range(25):  # past two rings: one rotation
        store.add_many([(A if i % 2 else B, ex(f"t{i}", i))])
    for t in threading.enumerate():  # the "crash" happens once the thread stopped where it dies
        if t.name == "guardia-exemplar-snapshot":
            t.join()
    old = paths(tmp_path)[1].with_name("exemplars.journal.old")
    assert old.exists()
    assert content(replayed(tmp_path, 10)) == content(store)
    again = ExemplarStore(10)
    again.open_journal(*paths(tmp_path))
    assert content(again) == content(store) and not old.exists()


def test_out_of_order_counts_only_real_refusals_not_replayed_duplicates(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry

    store = ExemplarStore(100)
    store.open_journal(*paths(tmp_path))
    store.add_many([(A, ex("a1", 1)), (A, ex("a2", 2))])
    reg = CollectorRegistry()
    again = ExemplarStore(100, reg)
    again.open_journal(*paths(tmp_path))
    assert reg.get_sample_value("prometheus_tsdb_exemplar_out_of_order_exemplars_total") == 0
    assert reg.get_sample_value("prometheus_tsdb_exemplar_exemplars_in_storage") == 2


def test_serve_keeps_scraped_exemplars_across_sigkill(tmp_path: Path) -> None:
    _Target.phase = 0
    target = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    config = f"""
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: shop
    static_configs: [{{targets: ["127.0.0.1:{target.server_address[1]}"]}}]
"""
    query = QUERIES[2]
    try:
        with serving(tmp_path, config) as guardia:
            _until(lambda: len(exemplars(guardia.url, query)) == 3)
            before = exemplars(guardia.url, query)
            guardia.proc.kill()
            guardia.proc.wait(10)
    finally:
        target.shutdown()  # nothing can scrape them again: what is there after restart was kept
        target.server_close()
    assert (tmp_path / "data" / "exemplars.journal").stat().st_size > 0
    with serving(tmp_path, config) as guardia:
        after = exemplars(guardia.url, query)
        assert after == before and len(after) == 3
        assert all(e["timestamp"] >= T0 for s in after for e in s["exemplars"])
        guardia.stop()
    # a clean stop leaves a snapshot and no journal
    assert (tmp_path / "data" / "exemplars.jsonl").exists()
    assert not (tmp_path / "data" / "exemplars.journal").exists()
