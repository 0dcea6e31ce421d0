"""A dashboard view's shared reads and the results cache answer exactly what the engine
answers alone: same series, same values, whatever was read or computed before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guardia.model import Labels, Matcher
from guardia.promql import Engine, Memo
from guardia.storage.tsdb import TSDB
from guardia.web.ui.dashboards.reader import StoreReader
from guardia.web.ui.dashboards.results_cache import CachingReader, ResultsCache
from guardia.web.ui.dashboards.shared_reads import SharedReads

STEP = 15_000
T0 = 1_700_000_000_000
N = 400  # samples per series: 100 minutes


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Any:
    d = TSDB.open(tmp_path_factory.mktemp("tsdb"))
    app = d.appender()
    rng = np.random.default_rng(7)
    series = [Labels.of(__name__="http_requests_total", job="api", handler=h, code=c)
              for h in ("/a", "/b", "/c") for c in ("200", "500")]
    series += [Labels.of(__name__="temperature", job="api", sensor=str(i)) for i in range(4)]
    refs = [app.ref(lb) for lb in series]
    totals = np.zeros(len(series))
    for k in range(N):
        totals += rng.integers(0, 10, len(series))
        for i, r in enumerate(refs):
            # the last sensor stops reporting half way: a series that ends inside the range
            if i == len(refs) - 1 and k > N // 2:
                continue
            app.append(r, T0 + k * STEP, float(totals[i]) if i < 6 else float(rng.normal(20, 2)))
    app.commit()
    yield d
    d.close()


def same(a: Any, b: Any) -> None:
    assert a.type == b.type
    av = sorted(a.value, key=lambda s: s.labels)
    bv = sorted(b.value, key=lambda s: s.labels)
    assert [s.labels for s in av] == [s.labels for s in bv]
    for x, y in zip(av, bv, strict=True):
        assert np.array_equal(x.timestamps, y.timestamps)
        assert np.allclose(x.values, y.values, equal_nan=True)


EXPRS = [
    'sum by (handler) (rate(http_requests_total{job="api"}[2m]))',
    'sum(rate(http_requests_total{job="api",code="500"}[1m]))'
    ' / sum(rate(http_requests_total{job="api"}[5m]))',
    'topk(2, sum by (code) (increase(http_requests_total{job="api"}[30m])))',
    'avg by (sensor) (temperature{job="api"})',
    'http_requests_total{job="api"} offset 10m',
]


def test_shared_reads_give_the_engines_answers_and_read_each_selector_once(db: Any) -> None:
    engine = Engine()
    shared = SharedReads(db)
    start, end = T0 + 40 * 60_000, T0 + (N - 1) * STEP
    for expr in EXPRS + EXPRS:
        same(engine.range(shared, expr, start, end, 60_000), engine.range(db, expr, start, end, 60_000))
    # reads: X{job}, X{job} widened for [5m] and again for [30m], temperature; X{job,code}
    # is cut from X{job}'s read, the offset selector falls inside what was read, and the
    # second pass reads nothing
    assert (shared.reads, shared.shared) == (4, 8)
    q = shared.querier(start, end)
    try:
        assert q.label_values("handler") == ["/a", "/b", "/c"]
        matchers = [Matcher.equal("__name__", "temperature")]
        assert len(q.select(matchers, sort=True)) == 4
    finally:
        q.close()


def test_a_narrower_selector_is_cut_from_a_wider_read_as_the_store_selects_it(db: Any) -> None:
    """``{job="api", code="500"}`` after ``{job="api"}`` over a covered range comes from
    that read: the same series (regex, negative and absent-label matchers too) and samples
    as the store's own select; a range the read does not cover goes to the store."""
    shared = SharedReads(db)
    start, end = T0 + 10 * 60_000, T0 + 90 * 60_000
    wide = [Matcher.equal("job", "api")]
    q = shared.querier(start, end)
    q.select(wide)
    assert (shared.reads, shared.shared) == (1, 0)
    narrower = [
        [Matcher.equal("job", "api"), Matcher.equal("code", "500")],
        [Matcher.equal("job", "api"), Matcher.parse("code", "=~", "5..|404")],
        [Matcher.equal("job", "api"), Matcher.parse("code", "!=", "500")],
        [Matcher.equal("job", "api"), Matcher.equal("code", "")],  # series without a code
        [Matcher.equal("job", "api"), Matcher.equal("__name__", "temperature"), Matcher.equal("sensor", "3")],
    ]
    for ms in narrower:
        for lo, hi in ((start, end), (start + 600_000, end - 60_000)):
            got = shared.querier(lo, hi).select(ms, sort=True)
            plain = db.querier(lo, hi)
            try:
                want = plain.select(ms, sort=True)
            finally:
                plain.close()
            assert got.labels == want.labels and len(got.labels) > 0, ms
            np.testing.assert_array_equal(got.timestamps, want.timestamps)
            np.testing.assert_array_equal(got.values, want.values)
            np.testing.assert_array_equal(got.starts, want.starts)
    assert (shared.reads, shared.shared) == (1, 2 * len(narrower))
    # outside the read's range: a read of its own
    shared.querier(start - 600_000, end).select(narrower[0])
    assert shared.reads == 2
    q.close()


def test_a_view_starts_from_the_settled_reads_of_the_view_before(tmp_path: Path) -> None:
    """A reload's reads start from the previous view's samples up to its settled time and
    read only what is newer: answers equal the store's, a sample written after the first
    view is seen, and a selector the first view did not read is read whole."""
    d = TSDB.open(tmp_path / "tsdb")
    try:
        app = d.appender()
        refs = [app.ref(Labels.of(__name__="requests_total", job="api", instance=str(i))) for i in range(5)]
        for k in range(200):
            for i, r in enumerate(refs):
                app.append(r, T0 + k * STEP, float(k * (i + 1)))
        app.commit()
        engine = Engine()
        now = T0 + 199 * STEP
        exprs = ['sum by (instance) (rate(requests_total{job="api"}[5m]))',
                 'increase(requests_total{job="api",instance="3"}[30m])']
        first = SharedReads(d)
        for e in exprs:
            engine.range(first, e, now - 3_600_000, now, 60_000)
        app = d.appender()
        for i, r in enumerate(refs):  # written after the first view: newer than its now
            app.append(r, T0 + 200 * STEP, 1e6 * (i + 1))
        app.commit()
        now2 = now + STEP
        second = SharedReads(d, parent=first, parent_settled=now - 60_000)
        for e in [*exprs, 'requests_total{job="api"}']:
            for start in (now2 - 3_600_000, now2 - 1_800_000):
                same(engine.range(second, e, start, now2, 15_000), engine.range(d, e, start, now2, 15_000))
        assert second.inherited == 2  # both selectors of the first view
        last = engine.instant(second, 'requests_total{job="api",instance="0"}', now2).value
        assert [x.v for x in last] == [1e6]
        # a range starting before the first view's reads: read whole, not inherited
        third = SharedReads(d, parent=first, parent_settled=now - 60_000)
        same(engine.range(third, exprs[0], now - 7_200_000, now2, 60_000),
             engine.range(d, exprs[0], now - 7_200_000, now2, 60_000))
        assert third.inherited == 0
    finally:
        d.close()


def test_a_views_memo_gives_the_engines_answers_and_evaluates_each_repeat_once(db: Any) -> None:
    engine = Engine()
    memo = Memo()
    reader = StoreReader(SharedReads(db), engine, memo=memo)
    start, end = T0 + 40 * 60_000, T0 + (N - 1) * STEP
    for expr in EXPRS + EXPRS:
        same(reader.range(expr, start, end, 60_000), engine.range(db, expr, start, end, 60_000))
        got, want = reader.instant(expr, end), engine.instant(db, expr, end)
        assert sorted((x.labels, x.v) for x in got.value) == sorted((x.labels, x.v) for x in want.value)
    assert memo.hits >= 2 * len(EXPRS)  # the second pass is answered whole


def test_results_cache_reuses_settled_steps_and_recomputes_the_rest(db: Any) -> None:
    engine = Engine()
    cache = ResultsCache()
    plain = StoreReader(db, engine)
    step = 60_000
    for expr in EXPRS[:4]:
        start = T0 // step * step + 30 * step
        for shift in (0, 7_000, 61_000, 190_000, 190_000):  # reloads as the clock moves on
            now = T0 + (N - 20) * STEP + shift
            end = -(-now // step) * step
            cached = CachingReader(plain, cache, now, now - 2 * step)
            same(cached.range(expr, start + shift // step * step, end, step),
                 plain.range(expr, start + shift // step * step, end, step))
    assert cache.reused_steps > 0
    computed = cache.computed_steps
    # the same view again is answered whole
    now = T0 + (N - 20) * STEP + 190_000
    end = -(-now // step) * step
    start = T0 // step * step + 30 * step + 190_000 // step * step
    CachingReader(plain, cache, now, now - 2 * step).range(EXPRS[0], start, end, step)
    assert cache.computed_steps == computed


def test_a_late_sample_in_an_unsettled_step_is_seen_on_reload(tmp_path: Path) -> None:
    d = TSDB.open(tmp_path / "tsdb")
    try:
        app = d.appender()
        ref = app.ref(Labels.of(__name__="queue_depth", job="w"))
        for k in range(20):
            app.append(ref, T0 + k * STEP, 1.0)
        app.commit()
        cache = ResultsCache()
        reader = StoreReader(d, Engine())
        now = T0 + 19 * STEP
        first = CachingReader(reader, cache, now, now - 60_000).range("queue_depth", T0, now, STEP)
        assert first.value[0].values[-1] == 1.0
        app = d.appender()
        app.append(ref, T0 + 20 * STEP, 5.0)
        app.commit()
        now2 = now + STEP
        second = CachingReader(reader, cache, now2, now2 - 60_000).range("queue_depth", T0, now2, STEP)
        assert second.value[0].values[-1] == 5.0 and len(second.value[0].values) == 21
    finally:
        d.close()


def test_a_view_lets_go_of_its_results_once_every_panel_is_answered_and_of_its_reads_later(
        db: Any) -> None:
    from guardia.web.ui.pages.dashboards import View

    shared = SharedReads(db)
    shared.select([Matcher.equal("__name__", "temperature")], T0, T0 + N * STEP)
    memo = Memo()
    view = View(ctx=None, reader=StoreReader(shared, Engine(), memo=memo),  # type: ignore[arg-type]
                shared=shared, memo=memo, now=T0, made=0.0, expected=2)
    view.reader.range(EXPRS[0], T0 + 40 * 60_000, T0 + 60 * 60_000, 60_000)
    assert memo._entries
    view.answered()
    assert shared.select([Matcher.equal("__name__", "temperature")], T0, T0 + N * STEP).labels
    assert (shared.reads, shared.shared) == (2, 1)  # temperature, and the panel's selector
    view.answered()
    assert not memo._entries  # subexpression results let go at once
    # the reads stay a minute, for the next view (a reload) to start from, then go
    shared.select([Matcher.equal("__name__", "temperature")], T0, T0 + N * STEP)
    assert shared.reads == 2
    view.release()
    assert view.released
    shared.select([Matcher.equal("__name__", "temperature")], T0, T0 + N * STEP)
    assert shared.reads == 3  # read again: the view had let go


def test_a_time_slice_keeps_each_series_samples_in_range() -> None:
    """``time_slice`` equals filtering every series on its own: series that are empty
    (at the start, in the middle, at the end) or emptied by the range are left out and
    native histograms follow their samples; a range that keeps every sample shares the
    arrays (read-only) instead of copying them."""
    from guardia.storage.interface import Series, SeriesSet
    from guardia.web.ui.dashboards.shared_reads import time_slice

    rng = np.random.default_rng(3)
    series = []
    for i in range(12):
        n = 0 if i in (0, 5, 11) else int(rng.integers(1, 40))
        t = np.sort(rng.choice(10_000, n, replace=False)).astype(np.int64)
        series.append(Series(Labels.of(i=str(i)), t, rng.normal(size=n)))
    ss = SeriesSet.of(series)
    hs = np.array([f"h{j}" for j in range(len(ss.timestamps))], dtype=object)
    with_h = SeriesSet(ss.labels, ss.timestamps, ss.values, ss.starts, hs)
    everything = time_slice(with_h, 0, 9_999)  # as it is (a store's read has no empty series)
    assert everything.labels == ss.labels and everything.timestamps is ss.timestamps
    assert not everything.timestamps.flags.writeable
    for mint, maxt in ((2_000, 4_000), (9_990, 9_999), (-5, -1), (3_000, 3_000), (0, 9_000)):
        got = time_slice(with_h, mint, maxt)
        want = [(s.labels, s.timestamps[(s.timestamps >= mint) & (s.timestamps <= maxt)],
                 s.values[(s.timestamps >= mint) & (s.timestamps <= maxt)]) for s in series]
        want = [w for w in want if len(w[1])]
        assert got.labels == [w[0] for w in want]
        assert [g.timestamps.tolist() for g in got] == [w[1].tolist() for w in want]
        assert [g.values.tolist() for g in got] == [w[2].tolist() for w in want]
        keep = (ss.timestamps >= mint) & (ss.timestamps <= maxt)
        assert got.histograms is not None and got.histograms.tolist() == hs[keep].tolist()
