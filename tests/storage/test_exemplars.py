"""The circular exemplar store: fixed capacity shared by all series, oldest overwritten first,
duplicates ignored and out-of-order exemplars refused as Prometheus's storage does."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardia.model import Labels, Matcher
from guardia.storage.exemplars import Exemplar, ExemplarError, ExemplarStore

A = Labels.of(__name__="req_total", job="api")
B = Labels.of(__name__="req_total", job="db")


def ex(trace: str, t: int, v: float = 1.0) -> Exemplar:
    return Exemplar(Labels.of(trace_id=trace), v, t)


def traces(
    store: ExemplarStore, *matchers: Matcher, start: int = 0, end: int = 10**13
) -> dict[str, list[str]]:
    sets = [list(matchers)] if matchers else [[Matcher.equal("__name__", "req_total")]]
    return {s.series.get("job"): [e.labels.get("trace_id") for e in s.exemplars]
            for s in store.select(start, end, sets)}


def test_ring_overwrites_the_oldest_across_series() -> None:
    store = ExemplarStore(3)
    store.add(A, ex("a1", 1))
    store.add(B, ex("b1", 2))
    store.add(A, ex("a2", 3))
    assert traces(store) == {"api": ["a1", "a2"], "db": ["b1"]}
    store.add(A, ex("a3", 4))  # overwrites a1
    assert traces(store) == {"api": ["a2", "a3"], "db": ["b1"]}
    store.add(A, ex("a4", 5))  # overwrites b1: db has none left
    assert traces(store) == {"api": ["a2", "a3", "a4"]}
    assert traces(store, start=4, end=4) == {"api": ["a3"]}
    assert traces(store, Matcher.equal("job", "db")) == {}


def test_duplicates_and_out_of_order() -> None:
    store = ExemplarStore(10)
    assert store.add(A, ex("a1", 10)) is True
    assert store.add(A, ex("a1", 10)) is False  # the same as the newest: ignored
    with pytest.raises(ExemplarError, match="out of order"):
        store.add(A, ex("a0", 9))
    assert store.add(B, ex("b0", 9)) is True  # order is per series
    with pytest.raises(ExemplarError, match="128"):
        store.add(A, Exemplar(Labels.of(trace_id="x" * 130), 1.0, 11))
    assert store.add_many([(A, ex("a0", 1)), (A, ex("a2", 12))]) == 1
    assert traces(store) == {"api": ["a1", "a2"], "db": ["b0"]}


def test_resize_keeps_the_newest_and_zero_turns_storage_off() -> None:
    store = ExemplarStore(5)
    for i in range(5):
        store.add(A if i % 2 else B, ex(f"t{i}", i))
    store.resize(2)
    assert traces(store) == {"api": ["t3"], "db": ["t4"]}
    store.resize(4)
    store.add(A, ex("t5", 5))
    assert traces(store) == {"api": ["t3", "t5"], "db": ["t4"]}
    store.resize(0)
    assert store.add(A, ex("t6", 6)) is False and traces(store) == {}


def test_save_and_load_keep_order_and_survive_a_damaged_tail(tmp_path: Path) -> None:
    store = ExemplarStore(10)
    for i in range(4):
        store.add(A if i % 2 else B, ex(f"t{i}", i, v=i * 0.5))
    path = tmp_path / "exemplars.jsonl"
    assert store.save(path) == 4
    again = ExemplarStore(3)  # smaller: the oldest one does not fit
    assert again.load(path) == 3
    assert traces(again) == {"api": ["t1", "t3"], "db": ["t2"]}
    with path.open("ab") as f:
        f.write(b'[["broken"\n')
    third = ExemplarStore(10)
    assert third.load(path) == 4 and third.load(tmp_path / "missing") == 0


def test_growing_the_ring_or_loading_fewer_than_it_holds_keeps_every_exemplar(tmp_path: Path) -> None:
    store = ExemplarStore(6)
    for i in range(6):
        store.add(A if i % 2 else B, ex(f"t{i}", i))
    store.resize(10)  # more room: nothing may be dropped (a negative slice start once dropped 2)
    assert traces(store) == {"api": ["t1", "t3", "t5"], "db": ["t0", "t2", "t4"]}
    path = tmp_path / "exemplars.jsonl"
    store.save(path)
    bigger = ExemplarStore(10)
    assert bigger.load(path) == 6
    assert traces(bigger) == traces(store)


def test_the_ring_holds_no_slots_until_it_fills_and_answers_as_a_full_ring_would(tmp_path: Path) -> None:
    """The ring's slots are made as it first fills: an unused store of the default size
    holds none, and at every step (before the first wrap, across it, after a resize and a
    save/load) the store answers as the reference: the newest ``size`` exemplars kept."""
    assert len(ExemplarStore()._slots) == 0  # the default 100,000 slots are not held up front
    size = 7
    store = ExemplarStore(size)
    kept: list[tuple[str, str]] = []  # (job, trace), oldest first: the reference
    for i in range(25):
        series = (A, B, Labels.of(__name__="req_total", job="web"))[i * 7 % 3]
        job = series.get("job")
        assert store.add(series, ex(f"t{i}", i))
        kept = [*kept, (job, f"t{i}")][-size:]
        assert len(store._slots) == min(i + 1, size)
        want: dict[str, list[str]] = {}
        for j, t in kept:
            want.setdefault(j, []).append(t)
        assert traces(store) == want
        if i == 4:  # a save of a ring that has not wrapped, loaded into a smaller one
            store.save(tmp_path / "x.jsonl")
            small = ExemplarStore(3)
            assert small.load(tmp_path / "x.jsonl") == 3
            assert sorted(t for ts in traces(small).values() for t in ts) == ["t2", "t3", "t4"]
    store.resize(10)
    assert len(store._slots) == size  # the kept ones, in a new ring that grows again
    store.add(A, ex("t25", 25))
    assert [t for ts in traces(store).values() for t in ts].count("t25") == 1
    assert sum(len(ts) for ts in traces(store).values()) == size + 1
