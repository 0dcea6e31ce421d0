"""Series index: postings stay exact while cached, and intersections match numpy's."""

from __future__ import annotations

import numpy as np
import pytest

import guardia.storage.tsdb.index as index_mod
from guardia.model import Labels, Matcher
from guardia.storage.tsdb.index import MemIndex, _intersect_sorted, layout_key


def test_cached_postings_follow_new_series() -> None:
    idx = MemIndex()
    idx.add(Labels.of(__name__="up", job="a"))
    idx.add(Labels.of(__name__="up", job="b"))
    sel = [Matcher.equal("__name__", "up"), Matcher.equal("job", "a")]
    assert idx.postings_for(sel).tolist() == [0]
    idx.add(Labels.of(__name__="up", job="a", instance="x"))
    assert idx.postings_for(sel).tolist() == [0, 2]
    assert idx.postings_for([Matcher.parse("job", "=~", "a|b")]).tolist() == [0, 1, 2]
    assert idx.postings_for([Matcher.parse("job", "!=", "a")]).tolist() == [1]


def test_intersect_sorted_matches_numpy() -> None:
    rng = np.random.default_rng(5)
    for _ in range(300):
        a = np.unique(rng.integers(0, 60, int(rng.integers(0, 30)))).astype(np.int64)
        b = np.unique(rng.integers(0, 60, int(rng.integers(0, 30)))).astype(np.int64)
        np.testing.assert_array_equal(_intersect_sorted(a, b), np.intersect1d(a, b))


def _random_sets(n: int, seed: int) -> list[Labels]:
    """Label sets sharing names and values in many combinations (and some duplicates)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        d = {"__name__": f"m{rng.integers(0, 7)}", "job": f"j{rng.integers(0, 3)}"}
        for name in ("instance", "code", "le"):
            if rng.random() < 0.7:
                d[name] = f"{name[0]}{rng.integers(0, 40)}"
        out.append(Labels(d))
    return out


def test_lookup_finds_every_set_and_nothing_else() -> None:
    idx = MemIndex()
    seen: dict[Labels, int] = {}
    for lbs in _random_sets(6000, seed=1):  # grows the lookup table several times
        sid, created = idx.get_or_add(lbs)
        assert created == (lbs not in seen)
        seen.setdefault(lbs, sid)
        assert sid == seen[lbs]
    assert len(idx) == len(seen)
    for lbs, sid in seen.items():
        assert idx.get(lbs) == sid
    # Known pairs in a combination never added, and a pair never seen at all.
    fresh = [s for s in _random_sets(3000, seed=2) if s not in seen]
    assert fresh
    assert all(idx.get(s) is None for s in fresh)
    assert idx.get(Labels.of(__name__="m1", job="nope")) is None
    ids = np.array(sorted(seen.values())[::7], dtype=np.int64)
    by_id = {sid: lbs for lbs, sid in seen.items()}
    assert idx.labels_of(ids) == [by_id[i] for i in ids.tolist()]
    assert list(idx.iter_labels(batch=1000)) == [by_id[i] for i in range(len(idx))]


def test_equal_hashes_are_told_apart_by_their_pairs() -> None:
    # Different label sets whose hash() collides must stay different series.
    idx = MemIndex()
    a, b, c = Labels.of(__name__="a"), Labels.of(__name__="b"), Labels.of(__name__="c")
    assert idx._add(a, 42) == 0
    assert idx._add(b, 42) == 1
    assert idx._find(a, 42, [0]) == 0
    assert idx._find(b, 42, [1]) == 1
    idx._add(c, 42 + 1024)  # same slot once masked: the probe sequence passes a and b
    assert idx._find(c, 42 + 1024, [2]) == 2
    assert idx._find(c, 42, [2]) is None


def test_label_names_and_values_of_some_series() -> None:
    idx = MemIndex()
    idx.add(Labels.of(__name__="up", job="a", instance="x"))
    idx.add(Labels.of(__name__="up", job="b"))
    idx.add(Labels.of(__name__="go", env="prod"))
    some = np.array([0, 1], dtype=np.int64)
    assert idx.label_names(some) == {"__name__", "job", "instance"}
    assert idx.label_values("job", some) == {"a", "b"}
    assert idx.label_values("env", some) == set()
    assert idx.label_values("env", None) == {"prod"}
    assert idx.label_names(np.zeros(0, dtype=np.int64)) == set()


def test_layout_rank_orders_series_as_layout_key_does() -> None:
    rng = np.random.default_rng(4)
    idx = MemIndex()
    sets = []
    odds = (("__name__", 0.9), ("instance", 0.6), ("job", 0.6), ("a", 0.4), ("b", 0.4), ("zz", 0.3))
    for _ in range(3000):
        d = {}
        for name, p in odds:
            if rng.random() < p:
                d[name] = f"v{rng.integers(0, 12)}"
        sets.append(Labels(d))
    for s in sets:
        idx.get_or_add(s)
    added = list(idx.iter_labels())
    want = sorted(range(len(added)), key=lambda i: layout_key(added[i]))
    rank = idx.layout_rank()
    assert np.argsort(rank).tolist() == want


def test_built_label_sets_are_reused_and_the_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Label sets built for one query serve the next (dashboards re-read the same series);
    the cache is cleared when full, and a mix of cached and new ids reads back in order."""
    monkeypatch.setattr(index_mod, "_BUILT_CAP", 300)
    idx = MemIndex()
    sets = [Labels.of(__name__="m", i=str(i), job=f"j{i % 7}") for i in range(1_000)]
    for lb in sets:
        idx.add(lb)
    first = idx.labels_of(np.arange(0, 200, dtype=np.int64))
    again = idx.labels_of(np.arange(0, 200, dtype=np.int64))
    assert first == sets[:200] and all(a is b for a, b in zip(first, again, strict=True))
    mixed = np.array([5, 250, 7, 999, 150, 600], dtype=np.int64)
    assert idx.labels_of(mixed) == [sets[i] for i in mixed.tolist()]
    many = np.arange(0, 1_000, 3, dtype=np.int64)  # more than the cap at once
    assert idx.labels_of(many) == [sets[i] for i in many.tolist()]
    assert len(idx._built) <= 300


@pytest.mark.parametrize("dense", [True, False])
def test_an_index_built_from_a_stored_table_answers_like_one_built_series_by_series(
    dense: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks build their index with numpy from the file's symbol table (a lookup table of
    pair codes, or a sort when symbols are many): the same postings, label sets, lookups."""
    if not dense:
        monkeypatch.setattr(index_mod, "_DENSE_PAIR_CODES", 0)
    sets = sorted(set(_random_sets(3000, seed=3)), key=layout_key)
    ref = MemIndex()
    ref.add_all(sets)
    symbols = sorted({x for lb in sets for kv in lb for x in kv})
    sym = {s: i for i, s in enumerate(symbols)}
    nlab = np.array([len(lb) for lb in sets], dtype=np.int64)
    pairs = np.array([sym[x] for lb in sets for kv in lb for x in kv], dtype=np.uint32)
    idx = MemIndex.from_table(symbols, nlab, pairs)
    ids = np.arange(len(sets), dtype=np.int64)
    assert len(idx) == len(ref) and idx.labels_of(ids) == sets
    for sel in ([Matcher.equal("__name__", "m3")], [Matcher.parse("code", "=~", "c1.*")],
                [Matcher.parse("job", "!=", "j1"), Matcher.equal("le", "")],
                [Matcher.parse("instance", "!~", "i[0-5]"), Matcher.equal("__name__", "m1")]):
        np.testing.assert_array_equal(idx.postings_for(sel), ref.postings_for(sel))
    assert idx.label_names() == ref.label_names() and idx.symbols() == ref.symbols()
    assert idx.label_values("code", ids[::7]) == ref.label_values("code", ids[::7])
    np.testing.assert_array_equal(idx.layout_rank(), ref.layout_rank())
    assert idx.postings_stats("__name__", 5) == ref.postings_stats("__name__", 5)
    # lookups by label set work (hashes computed on the first), and so do appends after
    assert all(idx.get(lb) == i for i, lb in enumerate(sets[::97]) for i in [sets.index(lb)])
    new = Labels.of(__name__="fresh", job="j0")
    assert idx.get_or_add(new) == (len(sets), True) and idx.get(new) == len(sets)
    assert idx.get_or_add(sets[5]) == (5, False)


def test_pair_ids_widen_past_two_bytes_and_every_answer_stays_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pair ids are 2 bytes each until the index has more pairs than that holds, then 4: the
    switch comes in the middle of a batch of new series (``get_or_add_many``) and of single
    adds, and lookups, label sets, postings, compaction and pair rows answer as before it."""
    monkeypatch.setattr(index_mod, "_NARROW_PAIRS", 40)
    sets = [Labels.of(__name__=f"m{i % 3}", job="j", id=str(i)) for i in range(120)]
    idx = MemIndex()
    refs, added = idx.get_or_add_many(sets[:30])
    assert idx._set.typecode == "H" and refs == list(range(30)) and added == list(range(30))
    refs, added = idx.get_or_add_many(sets[:20] + sets[30:70])  # widens in the middle
    assert idx._set.typecode == "i" and refs == list(range(20)) + list(range(30, 70))
    for k, lb in enumerate(sets[70:], start=70):
        assert idx.get_or_add(lb) == (k, True)
    assert [idx.get(lb) for lb in sets] == list(range(120))
    assert idx.labels_of(np.arange(120, dtype=np.int64)) == sets
    assert idx.postings_for([Matcher.equal("__name__", "m1")]).tolist() == list(range(1, 120, 3))
    assert idx.postings_for([Matcher.equal("id", "77")]).tolist() == [77]
    lens, flat, pairs = idx.pair_rows(np.array([5, 100], dtype=np.int64))
    assert lens.tolist() == [3, 3] and [pairs[p] for p in flat.tolist()] == [*sets[5], *sets[100]]
    keep = np.zeros(120, dtype=np.bool_)
    keep[::7] = True
    small = idx.compacted(keep)  # 18 series, 3 + 1 + 18 pairs: 2-byte ids again
    assert small._set.typecode == "H" and small.labels_of(np.arange(18, dtype=np.int64)) == sets[::7]
    assert small.postings_for([Matcher.equal("job", "j")]).tolist() == list(range(18))
