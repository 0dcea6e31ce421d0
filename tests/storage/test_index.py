"""Series index: postings stay exact while cached, and intersections match numpy's."""

from __future__ import annotations

import numpy as np

from guardia.model import Labels, Matcher
from guardia.storage.tsdb.index import MemIndex, _intersect_sorted


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
