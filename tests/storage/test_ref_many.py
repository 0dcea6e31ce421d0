"""``Appender.ref_many`` (a scrape's new series in one call) is ``ref`` one by one: the same
refs in the same order, the same index, the same WAL series records and replayed head."""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from guardia.model import Labels, Matcher, MatchType
from guardia.storage.tsdb import TSDB, TSDBOptions, idtable
from guardia.storage.tsdb import index as index_mod
from guardia.storage.tsdb import wal as walmod
from guardia.storage.tsdb.index import MemIndex

from .conftest import dump

Open = Callable[..., TSDB]


def _sets(seed: int, n: int) -> list[Labels]:
    """Label sets with shared pairs, brand-new pairs, non-ASCII values and repeats."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        lb = {"__name__": rnd.choice(["up", "http_requests_total", "mém_bytes"]),
              "job": rnd.choice(["a", "b"]), "instance": f"h{rnd.randrange(40)}:9100"}
        if rnd.random() < 0.5:
            lb["le"] = rnd.choice(["0.1", "1", "+Inf", f"{rnd.random():.3f}"])
        out.append(Labels(lb))
    return out


def test_get_or_add_many_matches_one_at_a_time() -> None:
    for seed in range(20):
        first, second = _sets(seed, 300), _sets(seed + 100, 300)
        one, many = MemIndex(), MemIndex()
        want = [one.get_or_add(lb) for lb in first]
        ids, added = many.get_or_add_many(first)
        assert ids == [r for r, _ in want]
        assert added == [i for i, (_, new) in enumerate(want) if new]
        want2 = [one.get_or_add(lb) for lb in second]
        ids2, added2 = many.get_or_add_many(second)
        assert ids2 == [r for r, _ in want2]
        assert added2 == [i for i, (_, new) in enumerate(want2) if new]
        n = len(one)
        assert len(many) == n
        assert many.labels_of(np.arange(n)) == one.labels_of(np.arange(n))
        for lb in first + second:
            assert many.get(lb) == one.get(lb)
        for name in ("job", "le", "__name__"):
            for value in one.label_values(name):
                m = [Matcher(name, MatchType.EQUAL, value)]
                assert many.postings_for(m).tolist() == one.postings_for(m).tolist()


def test_series_records_and_replay_are_the_same(open_db: Open, tmp_path: Path) -> None:
    sets = _sets(7, 2000)
    a = open_db(TSDBOptions(), tmp_path / "one")
    b = open_db(TSDBOptions(), tmp_path / "many")
    app_a, app_b = a.appender(), b.appender()
    refs_a = [app_a.ref(lb) for lb in sets]
    refs_b = app_b.ref_many(sets)
    assert refs_a == refs_b
    assert a._pending_series == b._pending_series  # byte for byte, one record's payload
    first_seen: dict[int, Labels] = {}
    for r, lb in zip(refs_b, sets, strict=True):
        first_seen.setdefault(r, lb)
    assert walmod.decode_series(bytes(b._pending_series)) == sorted(first_seen.items())
    uniq = sorted(set(refs_b))
    for app in (app_a, app_b):
        app.append_batch(np.array(uniq), 1000, np.arange(len(uniq), dtype=np.float64))
        app.commit()
    before = dump(b.querier(0, 10**9))
    assert before == dump(a.querier(0, 10**9))
    b.close()
    again = open_db(TSDBOptions(), tmp_path / "many")
    assert dump(again.querier(0, 10**9)) == before
    assert again.head.num_series == len(uniq)


def test_empty_batch_and_existing_series(open_db: Open) -> None:
    db = open_db(TSDBOptions())
    app = db.appender()
    assert app.ref_many([]) == []
    r = app.ref(Labels.of(__name__="x"))
    pending = bytes(db._pending_series)
    assert app.ref_many([Labels.of(__name__="x"), Labels.of(__name__="x")]) == [r, r]
    assert bytes(db._pending_series) == pending  # nothing new: no series record


class _Clash(Labels):
    """Label sets whose ``hash()`` takes three values: distinct sets with equal hashes
    in one probe path, in one batch and against the series already indexed."""

    __slots__ = ()

    def __hash__(self) -> int:
        return len(self.get("instance")) % 3 - 7


def _clashing(seed: int, n: int) -> list[Labels]:
    return [_Clash(lb) for lb in _sets(seed, n)]


@pytest.mark.parametrize("make", [_sets, _clashing])
@pytest.mark.parametrize("few", [0, 32, 10**6])
def test_numpy_probing_matches_one_at_a_time(make: Callable[[int, int], list[Labels]], few: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches probed and placed with numpy (``idtable``, every one of at least
    ``_PROBE_BATCH``; ``_FEW`` moves where the rounds hand over to Python) give the ids,
    additions, label sets and postings of ``get_or_add`` one at a time, and every series
    is found again afterwards; the table is rebuilt (doubled) in the middle of it."""
    monkeypatch.setattr(idtable, "_FEW", few)
    k = 1 if make is _sets else 8  # clashing sets make long probe paths: fewer of them
    for seed in range(3):
        one, many = MemIndex(), MemIndex()
        batches = [make(seed, 700 // k), make(seed + 50, 1500 // k), make(seed, 100), make(seed + 9, 80)]
        for sets in batches:
            want = [one.get_or_add(lb) for lb in sets]
            ids, added = many.get_or_add_many(sets)
            assert ids == [r for r, _ in want]
            assert added == [i for i, (_, new) in enumerate(want) if new]
        n = len(one)
        assert len(many) == n
        assert many.labels_of(np.arange(n)) == one.labels_of(np.arange(n))
        for sets in batches:
            assert [many.get(lb) for lb in sets] == [one.get(lb) for lb in sets]
        for name in ("instance", "le", "__name__"):
            for value in one.label_values(name):
                m = [Matcher(name, MatchType.EQUAL, value)]
                assert many.postings_for(m).tolist() == one.postings_for(m).tolist()


def test_small_and_large_batches_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-series probe (batches under ``_PROBE_BATCH``) and the numpy one give the
    same answers on the same calls, pair ids widened past two bytes in a batch included."""
    monkeypatch.setattr(index_mod, "_NARROW_PAIRS", 300)
    wide = [Labels.of(__name__="w", id=str(i)) for i in range(400)]
    calls = [_sets(3, 200), _clashing(4, 150), _sets(3, 50) + wide + _sets(5, 250), _clashing(4, 10)]
    results = []
    for probe_batch in (1, 10**9):
        monkeypatch.setattr(index_mod, "_PROBE_BATCH", probe_batch)
        idx = MemIndex()
        got = [idx.get_or_add_many(sets) for sets in calls]
        assert idx._set.typecode == "i"
        results.append((got, idx.labels_of(np.arange(len(idx))), idx._set.tolist(), idx._off.tolist(),
                        idx._hash.tolist()))
    assert results[0] == results[1]


def test_place_and_same_hash_on_crowded_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids that all want the same few slots end in distinct slots, each reachable from its
    home slot without crossing an empty one; ``same_hash`` lists every id of the hash on the
    way, in probe order, through numpy rounds and the Python rest alike."""
    for few in (0, 32, 10**6):
        monkeypatch.setattr(idtable, "_FEW", few)
        tab = array("i", [-1]) * 1024
        mask = 1023
        hashes = np.array([1020 + (k % 5) + 1024 * k for k in range(400)], dtype=np.int64)
        idtable.place(tab, mask, hashes, np.arange(400, dtype=np.int32))
        slots = {sid: s for s, sid in enumerate(tab.tolist()) if sid >= 0}
        assert sorted(slots) == list(range(400))
        for k in range(400):
            s = int(hashes[k]) & mask
            while tab[s] != k:
                assert tab[s] >= 0
                s = (s + 1) & mask
        known = array("q", hashes.tolist())
        qs, ids = idtable.same_hash(tab, mask, hashes[[3, 7, 399]], known)
        assert (qs, ids) == ([0, 1, 2], [3, 7, 399])
        twice = array("q", [int(hashes[0])] * 400)  # every id has the first's hash
        s, path = int(hashes[0]) & mask, []
        while tab[s] >= 0:
            path.append(tab[s])
            s = (s + 1) & mask
        qs, ids = idtable.same_hash(tab, mask, hashes[:1], twice)
        assert qs == [0] * len(path) and ids == path and 0 in ids
