"""Line filters over part of a chunk: a hit outside the lines asked about never marks one of them
(it did: a query window inside a chunk could return a non-matching line at its edge)."""

from __future__ import annotations

import numpy as np

from guardia.logs import LogStore, PushStream
from guardia.logs.chunk import Lines
from guardia.logs.logql import LogQLEngine, StreamsResult
from guardia.logs.logql.ast import LineFilter
from guardia.logs.logql.linefilter import chunk_filter
from guardia.model import Labels

NS = 1_000_000_000
T0 = 1_700_000_000 * NS


def test_a_window_inside_a_chunk_returns_only_matching_lines(tmp_path) -> None:
    store = LogStore(tmp_path)
    lines = [b"hit %d" % i if i in (0, 8) else b"miss %d" % i for i in range(10)]
    store.push([PushStream(Labels({"job": "a"}), [T0 + i * NS for i in range(10)], lines)])
    engine = LogQLEngine(store)
    for flushed in (False, True):  # the head, then a chunk on disk
        res = engine.query_range('{job="a"} |= "hit"', T0 + 2 * NS, T0 + 6 * NS, NS, 100, "forward")
        assert isinstance(res, StreamsResult) and res.streams == [], flushed
        res = engine.query_range('{job="a"} |= "hit"', T0, T0 + 9 * NS, NS, 100, "forward")
        assert isinstance(res, StreamsResult)
        assert [line for _, values in res.streams for _, line in values] == ["hit 0", "hit 8"]
        store.flush()
    store.close()


def test_a_subset_of_lines_skips_hits_in_the_lines_left_out() -> None:
    ls = Lines.from_list(np.arange(5, dtype=np.int64), [b"a", b"x", b"b", b"x", b"c"])
    sub = ls.take(np.array([0, 2, 4]))
    assert chunk_filter(LineFilter("|=", ("x",)))(sub).tolist() == [False, False, False]
    assert chunk_filter(LineFilter("!=", ("x",)))(sub).tolist() == [True, True, True]
    assert chunk_filter(LineFilter("|=", ("b", "c")))(sub).tolist() == [False, True, True]
