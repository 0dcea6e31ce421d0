"""The read side's contract: one querier serves a whole query, hints narrow each select,
labels-only selects answer from the index, and the set of series reads like a list."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from guardia.model import Labels, Matcher
from guardia.storage.interface import SelectHints, Series, SeriesSet
from guardia.storage.memory import MemoryStorage
from guardia.storage.tsdb import TSDB

from .conftest import ALL, dump
from .test_blocks import MIN, R, opts, scrape

Open = Callable[..., TSDB]


def test_a_querier_open_while_the_head_is_cut_still_reads_what_moved_into_the_block(open_db: Open) -> None:
    db = open_db(opts(max_block_range_ms=R))
    scrape(db, 5, 0, R + 2 * MIN)
    q = db.querier(0, R + 2 * MIN - 1)  # the query starts: all of this is in the head
    want = dump(q)
    scrape(db, 5, R + 2 * MIN, 2 * R)  # more data arrives; the head spans 2 ranges
    assert db.maintain().blocks_cut  # [0, R) leaves the head for a block
    assert dump(q) == want
    q.close()


def test_hints_narrow_the_select_to_the_selectors_window(open_db: Open) -> None:
    db = open_db(opts())
    scrape(db, 3, 0, 5 * MIN)
    mem = MemoryStorage()
    for s in db.querier(0, 10**9).select(ALL):
        mem.add_series(s.labels, s.timestamps.tolist(), s.values.tolist())
    for store in (db, mem):
        q = store.querier(0, 10**9)
        got = q.select([Matcher.equal("i", "1")], SelectHints(MIN, 2 * MIN, step=15_000, func="rate"))
        assert got[0].timestamps.tolist() == list(range(MIN, 2 * MIN + 1, 15_000))
        # the querier's own range still bounds what a hint may ask for
        narrow = store.querier(0, MIN)
        got = narrow.select([Matcher.equal("i", "1")], SelectHints(MIN // 2, 10 * MIN))
        assert got[0].timestamps.tolist() == list(range(30_000, MIN + 1, 15_000))
        narrow.close()
        q.close()


def test_a_labels_only_select_gives_label_sets_without_samples(open_db: Open) -> None:
    db = open_db(opts())
    scrape(db, 4, 0, 2 * MIN)
    q = db.querier(0, 10**9)
    got = q.select([Matcher.equal("__name__", "m")], SelectHints(0, 10**9, labels_only=True), sort=True)
    assert got.labels == [Labels.of(__name__="m", i=str(i)) for i in range(4)]
    assert got.timestamps.size == 0 and got.starts.tolist() == [0] * 5
    assert sorted(q.series([Matcher.equal("__name__", "m")])) == got.labels
    with pytest.raises(ValueError, match="non-empty matcher"):
        q.select([Matcher.parse("x", "=~", ".*")], SelectHints(0, 1, labels_only=True))
    q.close()


def test_a_sorted_select_orders_series_by_labels_with_their_samples(open_db: Open) -> None:
    db = open_db(opts())
    app = db.appender()
    for name in ("c", "a", "b"):
        app.append(Labels.of(__name__="x", k=name), 1000, float(ord(name)))
    app.append(Labels.of(__name__="x", k="a"), 2000, 1.0)
    app.commit()
    got = db.querier(0, 10**9).select([Matcher.equal("__name__", "x")], sort=True)
    assert [s.labels.get("k") for s in got] == ["a", "b", "c"]
    assert [s.values.tolist() for s in got] == [[97.0, 1.0], [98.0], [99.0]]


def test_a_series_set_reads_as_a_list_of_series() -> None:
    a = Series(Labels.of(__name__="a"), np.array([1, 2]), np.array([1.0, 2.0]))
    b = Series(Labels.of(__name__="b"), np.array([3]), np.array([3.0]))
    ss = SeriesSet.of([b, a])
    assert len(ss) == 2 and ss[1].labels == a.labels and ss[-1].timestamps.tolist() == [1, 2]
    assert [s.labels for s in ss] == [b.labels, a.labels]
    assert [s.values.tolist() for s in ss.in_label_order()] == [[1.0, 2.0], [3.0]]
    assert SeriesSet.of([]) == [] and ss != []
    with pytest.raises(IndexError):
        ss[2]


def test_a_select_over_many_blocks_merges_each_series_once_even_when_keys_collide(
    open_db: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Series found in several blocks are matched by a key over their label pairs; equal
    keys are confirmed pair by pair, so forced collisions fall back to the exact path and
    the answer does not change."""
    import guardia.storage.tsdb.querier as querier_mod

    db = open_db(opts())
    scrape(db, 30, 0, 5 * R)
    db.maintain()
    assert db.blocks
    expected = dump(db.querier(0, 5 * R))
    assert len(expected) == 30
    calls: list[int] = []
    slow = querier_mod._merge_by_dict

    def counted(hits):  # type: ignore[no-untyped-def]
        calls.append(len(hits))
        return slow(hits)

    monkeypatch.setattr(querier_mod, "_merge_by_dict", counted)
    assert dump(db.querier(0, 5 * R)) == expected and not calls  # the fast path
    class Ones:
        def integers(self, lo: int, hi: int, size: int, dtype: type) -> np.ndarray:
            return np.ones(size, dtype=dtype)

    monkeypatch.setattr(querier_mod, "_rng", Ones())  # label sets of as many pairs: one key
    assert dump(db.querier(0, 5 * R)) == expected and calls  # confirmed unequal: the exact path


def _backfill(path: Path, n: int, t0: int, t1: int, step: int, value: float = 0.0) -> None:
    from guardia.storage.tsdb.backfill import ParsedFile, write_blocks

    ts = np.arange(t0, t1, step, dtype=np.int64)
    labels = [Labels.of(__name__="m", i=str(i)) for i in range(n)]
    sid = np.repeat(np.arange(n, dtype=np.int64), ts.size)
    vs = np.tile(ts / 1000 + value, n) + sid
    write_blocks(ParsedFile(labels, sid, np.tile(ts, n), vs.astype(np.float64)), path, block_range_ms=R)


def test_select_pieces_hands_over_block_samples_in_time_order(tmp_path: Path) -> None:
    """Pieces of a select over blocks, put together per series, are the select's samples;
    a head holding samples in the range makes it decline (None), and blocks whose samples
    overlap stop the iteration with PiecesOverlap."""
    from guardia.storage.tsdb.querier import PiecesOverlap

    _backfill(tmp_path / "a", 12, 0, 5 * R, 7_000)
    db = TSDB.open(tmp_path / "a", read_only=True)
    # blocks of the very same series share one index
    assert len(db.blocks) == 5 and len({id(b.index) for b in db.blocks}) == 1
    sel = [Matcher.equal("__name__", "m")]
    q = db.querier(R // 2, 4 * R)
    whole = q.select(sel)
    got = q.select_pieces(sel)
    assert got is not None
    labels, pieces = got
    per: dict[int, list[tuple[int, float]]] = {}
    for f in pieces:
        starts = np.concatenate(([0], np.cumsum(f.counts)))
        for r, qi in enumerate(f.qidx.tolist()):
            a, b = int(starts[r]), int(starts[r + 1])
            per.setdefault(qi, []).extend(zip(f.ts[a:b].tolist(), f.vs[a:b].tolist(), strict=True))
    assert {labels[i]: v for i, v in per.items()} == {
        s.labels: list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True)) for s in whole}
    q.close()
    db.close()
    _backfill(tmp_path / "a", 12, R + 3_000, 2 * R, 7_000, value=0.5)  # same series, same range
    db = TSDB.open(tmp_path / "a", read_only=True)
    q = db.querier(0, 5 * R)
    got = q.select_pieces(sel)
    assert got is not None
    with pytest.raises(PiecesOverlap):
        list(got[1])
    q.close()
    db.close()
    live = TSDB.open(tmp_path / "b", opts())
    scrape(live, 3, 0, 2 * MIN)
    q = live.querier(0, 2 * MIN)
    assert q.select_pieces(sel) is None  # in the head
    q.close()
    live.close()
