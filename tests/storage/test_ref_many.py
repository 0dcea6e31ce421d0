"""``Appender.ref_many`` (a scrape's new series in one call) is ``ref`` one by one: the same
refs in the same order, the same index, the same WAL series records and replayed head."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np

from guardia.model import Labels, Matcher, MatchType
from guardia.storage.tsdb import TSDB, TSDBOptions
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
