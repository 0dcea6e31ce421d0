"""The compact series-text cache answers exactly as a dict would, even when hashes collide."""

from __future__ import annotations

import random

import numpy as np
import pytest

from guardia.scrape import seriescache
from guardia.scrape.seriescache import SeriesCache


def _texts(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        code = rnd.choice(["200", "404", "500", "é", "日本"])
        out.append(f'http_requests_total{{handler="/r{i}",code="{code}"}}')
    return out


@pytest.mark.parametrize("numpy", [False, True])
@pytest.mark.parametrize("collide", [False, True])
def test_the_cache_answers_as_a_dict_does(monkeypatch: pytest.MonkeyPatch, collide: bool,
                                          numpy: bool) -> None:
    """With its table merged in Python or with numpy (``SeriesCache(numpy=True)``)."""
    if collide:  # only 7 distinct hashes: every look-up must compare the texts themselves
        monkeypatch.setattr(seriescache, "_hash", lambda s: len(s) % 7 - 3)
    cache = SeriesCache(numpy=numpy)
    ref: dict[str, int] = {}
    texts = _texts(3000, 1)
    rnd = random.Random(2)
    for round_ in range(6):
        for t in rnd.sample(texts, 400):
            v = rnd.choice([-2, -1, rnd.randrange(10**12)]) if t not in ref else ref[t]
            if round_ == 5 and rnd.random() < 0.2:
                v = rnd.randrange(10**6)  # a text set again takes its new value
            cache[t] = v
            ref[t] = v
        if round_ % 2:
            cache.settle()
        for t in texts:  # from the table and, before settling, the texts waiting beside it
            assert cache.get(t) == ref.get(t)
        cache["fresh{}"] = 5  # waiting beside the table
        ref["fresh{}"] = 5
        gone = [*rnd.sample(sorted(ref.keys() - {"fresh{}"}), 3), "fresh{}"]
        for t in gone:  # forgotten, whether still waiting or in the table already
            assert cache.pop(t) == ref.pop(t)
            assert cache.pop(t, -9) == -9
            assert cache.get(t) is None
        cache.settle()
        assert len(cache) == len(ref)
        # a prefix or an extension of a known text is not a hit
        assert cache.get(texts[0][:-1]) is None
        assert cache.get(texts[0] + "x") is None
        assert dict(cache) == ref
    known = [t for t in texts if t in ref]
    rnd.shuffle(known)
    got = cache.get_many(known)
    assert got is not None
    assert got.tolist() == [ref[t] for t in known]
    assert cache.get_many([*known[:5], "nope{}"]) is None
    assert cache.get_many([*known[:5], known[0][:-1]]) is None
    cache.clear()
    assert len(cache) == 0
    assert cache.get(known[0]) is None
    assert cache.get_many(known[:3]) is None
    empty = cache.get_many([])
    assert empty is not None and empty.size == 0 and empty.dtype == np.int64


@pytest.mark.parametrize("collide", [False, True])
def test_numpy_merge_builds_the_same_table(monkeypatch: pytest.MonkeyPatch, collide: bool) -> None:
    """The table merged with numpy is the one merged in Python, array for array, after a
    first batch into an empty table and after batches into a full one (texts set again
    among them, equal hashes kept in the order they came)."""
    if collide:
        monkeypatch.setattr(seriescache, "_hash", lambda s: len(s) % 7 - 3)
    caches = [SeriesCache(), SeriesCache(numpy=True)]
    texts = _texts(2500, 3)
    rnd = random.Random(4)
    for batch in ([texts[:2000]] + [rnd.sample(texts, 300) for _ in range(3)]):
        for k, t in enumerate(batch):
            for c in caches:
                c[t] = k
        for c in caches:
            c.settle()
        a, b = caches
        assert [a._hashes, a._refs, a._starts, a._lens, a._text()] == [b._hashes, b._refs, b._starts, b._lens,
                                                                          b._text()]
