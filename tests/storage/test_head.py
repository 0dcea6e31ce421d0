"""Append semantics and reads of the in-memory head, through the Storage protocol."""

from __future__ import annotations

import itertools
import mmap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from guardia.model import STALE_NAN, Labels, Matcher, MatchType
from guardia.storage.interface import AppendError
from guardia.storage.tsdb import TSDB, TSDBOptions, head_append
from guardia.storage.tsdb.chunks import _HEADER, frame_rows

from .conftest import dump

Open = Callable[..., TSDB]


def lb(**kw: str) -> Labels:
    return Labels(kw)


def test_a_scrape_batch_is_visible_after_commit_only(open_db: Open) -> None:
    db = open_db()
    app = db.appender()
    refs = [app.ref(lb(__name__="up", instance=f"i{i}")) for i in range(3)]
    app.append_batch(refs, 1000, [1.0, 0.0, 1.0])
    assert db.querier(0, 2000).select([Matcher.equal("__name__", "up")]) == []
    stats = app.commit()
    assert stats.appended == 3
    sel = db.querier(0, 2000).select([Matcher.equal("__name__", "up")])
    got = {str(s.labels): s.values.tolist() for s in sel}
    assert got == {'up{instance="i0"}': [1.0], 'up{instance="i1"}': [0.0], 'up{instance="i2"}': [1.0]}


def test_rollback_drops_queued_samples(open_db: Open) -> None:
    db = open_db()
    app = db.appender()
    r = app.ref(lb(__name__="x"))
    app.append(r, 1, 1.0)
    app.rollback()
    assert app.commit().appended == 0
    assert dump(db.querier(0, 10)) == {}


def test_duplicate_timestamp_with_other_value_is_rejected_and_counted(open_db: Open) -> None:
    db = open_db()
    app = db.appender()
    r = app.ref(lb(__name__="x"))
    app.append(r, 10, 1.0)
    app.commit()
    app.append(r, 10, 1.0)  # identical: ignored silently
    s = app.commit()
    assert (s.appended, s.duplicate) == (0, 0)
    app.append(r, 10, 2.0)
    s = app.commit()
    assert (s.appended, s.duplicate) == (0, 1)
    assert db.querier(0, 100).select([Matcher.equal("__name__", "x")])[0].values.tolist() == [1.0]
    assert db.metrics.registry.get_sample_value("prometheus_tsdb_duplicate_samples_total") == 1


def test_out_of_order_is_rejected_without_a_window(open_db: Open) -> None:
    db = open_db()
    app = db.appender()
    r = app.ref(lb(__name__="x"))
    app.append(r, 100, 1.0)
    app.commit()
    app.append(r, 50, 2.0)
    s = app.commit()
    assert s.out_of_order == 1 and s.appended == 0
    reg = db.metrics.registry
    assert reg.get_sample_value("prometheus_tsdb_out_of_order_samples_total", {"type": "float"}) == 1


def test_out_of_order_within_the_window_is_merged_in_time_order(open_db: Open) -> None:
    db = open_db(TSDBOptions(out_of_order_time_window_ms=1000))
    app = db.appender()
    r = app.ref(lb(__name__="x"))
    for t in (100, 200, 300):
        app.append(r, t, float(t))
    app.commit()
    app.append(r, 150, 1.5)
    app.append(r, 200, 9.0)  # same timestamp, other value: duplicate
    app.append(r, -5000, 1.0)  # outside the window: "too old", as Prometheus 3 counts it
    s = app.commit()
    assert (s.appended, s.duplicate, s.out_of_order, s.too_old) == (1, 1, 0, 1)
    reg = db.metrics.registry
    assert reg.get_sample_value("prometheus_tsdb_too_old_samples_total", {"type": "float"}) == 1
    appended = reg.get_sample_value("prometheus_tsdb_head_out_of_order_samples_appended_total",
                                    {"type": "float"})
    assert appended == 1
    got = db.querier(0, 1000).select([Matcher.equal("__name__", "x")])[0]
    assert got.timestamps.tolist() == [100, 150, 200, 300]
    assert got.values.tolist() == [100.0, 1.5, 200.0, 300.0]


def test_samples_before_the_head_lower_bound_are_out_of_bounds(open_db: Open) -> None:
    db = open_db()
    app = db.appender()
    r = app.ref(lb(__name__="x"))
    app.append(r, 5000, 1.0)
    app.commit()
    db.head.truncate(4000)
    app.append(lb(__name__="y"), 3000, 1.0)
    s = app.commit()
    assert s.out_of_bounds == 1


def test_staleness_markers_survive_chunk_closing(open_db: Open) -> None:
    db = open_db(TSDBOptions(chunk_slots=4))
    app = db.appender()
    r = app.ref(lb(__name__="x"))
    vals = [1.0, STALE_NAN, 2.0, float("nan"), 3.0, STALE_NAN, 4.0, 5.0, STALE_NAN]
    for i, v in enumerate(vals):
        app.append_batch([r], i * 15_000, [v])
        app.commit()
    assert db.head.num_chunks() == 2  # two spills of four slots
    got = db.querier(0, 10**9).select([Matcher.equal("__name__", "x")])[0]
    assert got.values.view(np.uint64).tolist() == np.array(vals).view(np.uint64).tolist()
    # Much later data compresses the window (spills and buffer) into a frame.
    app.append_batch([r], 3_600_000, [STALE_NAN])
    app.commit()
    assert len(db.head.spans) == 1 and db.head.num_chunks() == 1
    got = db.querier(0, 10**9).select([Matcher.equal("__name__", "x")])[0]
    assert got.values.view(np.uint64).tolist() == np.array([*vals, STALE_NAN]).view(np.uint64).tolist()


def test_a_batch_repeating_a_ref_keeps_the_first_and_counts_the_other(open_db: Open) -> None:
    db = open_db()
    app = db.appender()
    r = app.ref(lb(__name__="x"))
    app.append_batch([r, r], 10, [1.0, 2.0])
    s = app.commit()
    assert (s.appended, s.duplicate) == (1, 1)


def test_unknown_refs_and_mismatched_batches_are_refused(open_db: Open) -> None:
    app = open_db().appender()
    with pytest.raises(AppendError, match="unknown series ref"):
        app.append(7, 1, 1.0)
    r = app.ref(lb(__name__="x"))
    with pytest.raises(AppendError, match="as many values"):
        app.append_batch([r], 1, [1.0, 2.0])


@pytest.fixture
def populated(open_db: Open) -> TSDB:
    db = open_db(TSDBOptions(chunk_slots=4, page_rows=3))
    app = db.appender()
    sets = [
        lb(__name__="http_requests_total", job="api", code="200"),
        lb(__name__="http_requests_total", job="api", code="500"),
        lb(__name__="http_requests_total", job="web", code="200"),
        lb(__name__="up", job="api"),
        lb(__name__="up", job="web", env="prod"),
    ]
    refs = np.array([app.ref(s) for s in sets])
    for k in range(10):
        app.append_batch(refs, 1000 * k, np.arange(5, dtype=np.float64) + k)
        app.commit()
    return db


@pytest.mark.parametrize(
    ("matchers", "expected"),
    [
        ([("__name__", "=", "up")], {'up{job="api"}', 'up{env="prod", job="web"}'}),
        ([("__name__", "=", "up"), ("env", "=", "")], {'up{job="api"}'}),
        ([("__name__", "=", "up"), ("env", "!=", "")], {'up{env="prod", job="web"}'}),
        (
            [("job", "!=", "api"), ("__name__", "=~", ".+")],
            {'http_requests_total{code="200", job="web"}', 'up{env="prod", job="web"}'},
        ),
        ([("code", "=~", "5..")], {'http_requests_total{code="500", job="api"}'}),
        ([("__name__", "=~", "h.*"), ("code", "=~", "2..|")], {'http_requests_total{code="200", job="api"}',
                                    'http_requests_total{code="200", job="web"}'}),
        ([("__name__", "=~", "http.*"), ("code", "!~", "2..")],
         {'http_requests_total{code="500", job="api"}'}),
        ([("__name__", "=~", ".+"), ("code", "!~", "2..|5..")],
         {'up{job="api"}', 'up{env="prod", job="web"}'}),
        ([("__name__", "=", "nothing")], set()),
    ],
)
def test_select_supports_all_matcher_types(
    populated: TSDB, matchers: list[tuple[str, str, str]], expected: set[str]
) -> None:
    ms = [Matcher.parse(*m) for m in matchers]
    got = populated.querier(0, 10**6).select(ms, sort=True)
    assert {str(s.labels) for s in got} == expected
    for s in got:
        assert s.timestamps.tolist() == [1000 * k for k in range(10)]


def test_select_refuses_matchers_that_match_everything(populated: TSDB) -> None:
    with pytest.raises(ValueError, match="non-empty matcher"):
        populated.querier(0, 10).select([Matcher("job", MatchType.REGEX, ".*")])


def test_time_range_is_inclusive_and_trims_samples(populated: TSDB) -> None:
    s = populated.querier(2000, 4000).select([Matcher.equal("__name__", "up"), Matcher.equal("job", "api")])
    assert s[0].timestamps.tolist() == [2000, 3000, 4000]
    assert populated.querier(20_000, 30_000).select([Matcher.equal("__name__", "up")]) == []


def test_label_names_and_values_with_matchers_and_time(populated: TSDB) -> None:
    q = populated.querier(0, 10**6)
    assert q.label_names() == ["__name__", "code", "env", "job"]
    assert q.label_names([Matcher.equal("__name__", "up")]) == ["__name__", "env", "job"]
    assert q.label_values("job") == ["api", "web"]
    assert q.label_values("code", [Matcher.equal("job", "web")]) == ["200"]
    assert q.label_values("__name__", [Matcher.parse("env", "=~", "p.*")]) == ["up"]
    assert populated.querier(10**7, 10**8).label_values("job") == []


def test_many_series_through_windows_merges_and_a_cut_read_back(open_db: Open, tmp_path: Path) -> None:
    # Enough series that window buffers are memory maps and each compression or merge
    # runs in several batches of frames; every sample must come back from head and block.
    n, step = 20_000, 12_000
    opts = TSDBOptions(block_range_ms=30 * 60_000, retention_ms=0, page_rows=64, chunk_slots=4)
    db = open_db(opts)
    app = db.appender()
    refs = np.array(
        [app.ref(lb(__name__=f"m{i % 7}", instance=f"i{i // 7}", job="j")) for i in range(n)], dtype=np.int64
    )
    rng = np.random.default_rng(3)
    rounds = 250  # 50 minutes of 1-minute windows (each spills once): merges, one block cut
    expect = np.cumsum(rng.integers(0, 5, size=(rounds, n)), axis=0).astype(np.float64)
    for k in range(rounds):
        t = k * step + (k % 3)  # jitter: timestamps are not a perfect grid
        app.append_batch(refs, t, expect[k])
        app.commit()
        if k % 20 == 19:
            db.maintain()
    owner: object = next(iter(db.head.windows.values())).vs
    while isinstance(owner, np.ndarray):
        owner = owner.base
    assert isinstance(owner, memoryview) and isinstance(owner.obj, mmap.mmap)  # a map of its own
    assert db.blocks and any(sp.end - sp.start > db.head.W for sp in db.head.spans)
    pick = rng.choice(n, 300, replace=False)
    got = {s.labels: s for s in db.querier(0, rounds * step).select([Matcher.equal("job", "j")])}
    assert len(got) == n
    times = np.array([k * step + (k % 3) for k in range(rounds)])
    for i in pick.tolist():
        s = got[lb(__name__=f"m{i % 7}", instance=f"i{i // 7}", job="j")]
        assert s.timestamps.tolist() == times.tolist()
        assert s.values.tolist() == expect[:, i].tolist()
    db.close()
    db2 = open_db(opts, tmp_path / "data")
    sel = [Matcher.equal("instance", "i5"), Matcher.equal("__name__", "m3")]
    s = db2.querier(0, rounds * step).select(sel)
    assert len(s) == 1 and s[0].values.tolist() == expect[:, 5 * 7 + 3].tolist()


def test_a_lagging_sender_reopens_a_window_once_not_once_per_batch(
    open_db: Open, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two senders, one of them a few windows of data behind (a remote-write shard catching
    up): its batches land in windows the head has already compressed.  Each reopened window
    is compressed once, not after every late batch, and every sample reads back."""
    db = open_db()
    head = db.head
    compressed: list[int] = []
    real = type(head).finalize

    def counting(self: object, wid: int) -> None:
        compressed.append(wid)
        real(self, wid)  # type: ignore[arg-type]

    monkeypatch.setattr(type(head), "finalize", counting)
    app = db.appender()
    ahead = np.array([app.ref(lb(__name__="m", s="ahead", i=str(i))) for i in range(50)], dtype=np.int64)
    behind = np.array([app.ref(lb(__name__="m", s="behind", i=str(i))) for i in range(50)], dtype=np.int64)
    step = 15_000
    lag = (2 * head.W) // step  # the lagging sender is two windows of data behind
    rounds = 6 * head.W // step
    want: dict[Labels, list[tuple[int, float]]] = {}
    for k in range(rounds + lag):
        for refs, t_idx in ((ahead, k), (behind, k - lag)):
            if 0 <= t_idx < rounds:
                t = 1_700_000_000_000 + t_idx * step
                vals = np.arange(50, dtype=np.float64) + t_idx
                app.append_batch(refs, t, vals)
                app.commit()
    for name in ("ahead", "behind"):
        for i in range(50):
            want[lb(__name__="m", s=name, i=str(i))] = [
                (1_700_000_000_000 + k * step, float(i + k)) for k in range(rounds)
            ]
    windows = set(compressed)
    assert len(compressed) <= 2 * len(windows), compressed  # compressed, then at most once more
    q = db.querier(0, 2**62)
    got = {s.labels: list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))
           for s in q.select([Matcher.equal("__name__", "m")])}
    assert got == want
    db.close()
    again = open_db(path=tmp_path / "data")
    got = {s.labels: list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))
           for s in again.querier(0, 2**62).select([Matcher.equal("__name__", "m")])}
    assert got == want


def test_windows_merge_into_20_then_40_minute_spans_and_read_back_bit_for_bit(
    open_db: Open, tmp_path: Path
) -> None:
    """Compressed 4-minute windows are merged into a 20-minute span while their 40-minute
    range is still open, and that span with the other windows into one 40-minute span
    once it closes: every sample written (staleness markers, gaps, series that come and
    go, two scrape timings) reads back bit for bit at every step and after a restart."""
    minute = 60_000
    n = 300
    db = open_db(TSDBOptions(retention_ms=0, page_rows=32))
    app = db.appender()
    refs = np.array([app.ref(lb(__name__=f"m{i % 9}", instance=f"i{i // 9}", job="j")) for i in range(n)])
    rng = np.random.default_rng(17)
    expect: dict[Labels, list[tuple[int, int]]] = {}
    layouts: set[tuple[tuple[int, int], ...]] = set()
    counters = np.cumsum(rng.integers(0, 1000, size=(312, n)), axis=0).astype(np.float64)
    for k in range(312):  # 78 minutes of 15 s scrapes
        present = rng.random(n) > 0.05 + 0.4 * ((np.arange(n) // 50 + k // 40) % 3 == 0)
        vals = np.where(np.arange(n) % 2 == 0, counters[k], rng.normal(0, 1e6, n))
        vals[rng.random(n) < 0.02] = STALE_NAN
        for half, jitter in ((np.arange(n) % 3 == 0, 0), (np.arange(n) % 3 != 0, 1 + k % 7)):
            sel = np.nonzero(present & half)[0]
            t = k * 15_000 + jitter
            app.append_batch(refs[sel], t, vals[sel])
            for i in sel.tolist():
                name = lb(__name__=f"m{i % 9}", instance=f"i{i // 9}", job="j")
                expect.setdefault(name, []).append((t, int(vals[i:i + 1].view(np.uint64)[0])))
        app.commit()
        if k % 16 == 15:
            db.maintain()
            spans = sorted((sp.start // minute, sp.end // minute) for sp in db.head.spans)
            layouts.add(tuple(spans))
            assert all((b - a) in (4, 20, 40) and a % (b - a) == 0 for a, b in spans)
            assert all(b <= c for (_, b), (c, _) in itertools.pairwise(spans))  # disjoint
        if k % 48 == 47:
            assert dump(db.querier(0, 78 * minute)) == expect
    db.maintain()
    spans = sorted((sp.start // minute, sp.end // minute) for sp in db.head.spans)
    # the window of 72-76 min is quiet (the head is past 76:30), so it is compressed too
    assert spans == [(0, 40), (40, 60), (60, 64), (64, 68), (68, 72), (72, 76)]
    for sp in db.head.spans:  # a window's zstd frames hold 16 rows at most
        most = 16 if sp.end - sp.start == db.head.W else 64
        for p in sp.frames:
            assert _HEADER.unpack_from(p.blob)[4] == frame_rows(p.nrows, p.nsamples, max_rows=most)
    assert max(_HEADER.unpack_from(p.blob)[4] for p in db.head.spans[-1].frames) == 16
    assert any((0, 20) in layout for layout in layouts)  # 20 minutes first, merged on
    assert dump(db.querier(0, 78 * minute)) == expect
    db.close()
    assert dump(open_db(None, tmp_path / "data").querier(0, 78 * minute)) == expect


def test_a_quiet_window_is_compressed_before_the_grace_and_a_late_sample_still_lands(
    open_db: Open, tmp_path: Path
) -> None:
    """Two targets scraped every 5 s, the second one's samples appended a few seconds after
    the first's (a slow scrape).  A window's buffer goes once the head is ``quiet`` past both
    its end and its last write (not only after the half-window grace), never while a slow
    target still writes into it; a sample for it that comes later still reopens it, and
    every sample reads back, from the head and after a restart (WAL replay)."""
    db = open_db()
    head = db.head
    app = db.appender()
    fast = np.array([app.ref(lb(__name__="m", t="fast", i=str(i))) for i in range(20)], dtype=np.int64)
    slow = np.array([app.ref(lb(__name__="m", t="slow", i=str(i))) for i in range(20)], dtype=np.int64)
    step, t0 = 5_000, 1_700_000_400_000 // head.W * head.W  # t0 starts a window
    end = t0 + head.W
    rounds = (head.W + head.grace) // step
    seen_gone = None
    for k in range(rounds):
        t = t0 + k * step
        app.append_batch(fast, t, np.full(20, float(k)))
        app.commit()
        if k >= 1:  # the slow target's scrape of the round before lands now
            app.append_batch(slow, t - step, np.full(20, float(k - 1)))
            app.commit()
        if seen_gone is None and t0 // head.W not in head.windows:
            seen_gone = head.maxt
    assert seen_gone is not None, "the first window was never compressed"
    assert end + head.quiet <= seen_gone < end + head.grace  # quiet, not the whole grace
    last = rounds - 1
    # a sample for the compressed window that comes even later reopens it and is kept
    late = app.ref(lb(__name__="m", t="late"))
    app.append_batch([late], end - 1, [7.0])
    app.commit()
    app.append_batch(slow, t0 + last * step, np.full(20, float(last)))
    app.commit()

    def check(d: TSDB) -> None:
        got = {s.labels: (s.timestamps.tolist(), s.values.tolist())
               for s in d.querier(0, 2**62).select([Matcher.equal("__name__", "m")])}
        times = [t0 + k * step for k in range(rounds)]
        for i in range(20):
            for who in ("fast", "slow"):
                assert got[lb(__name__="m", t=who, i=str(i))] == (times, [float(k) for k in range(rounds)])
        assert got[lb(__name__="m", t="late")] == ([end - 1], [7.0])

    check(db)
    db.close()
    check(open_db(path=tmp_path / "data"))


def test_window_buffers_grow_in_place_within_their_reserved_map() -> None:
    """``mapped_grow`` extends a mapped window buffer without copying while its map has room
    (the rows written so far stay, the new ones are zero) and copies into a new map beyond
    it; buffers from the heap (small ones) are always copied."""
    import numpy as np

    from guardia.storage.tsdb.head_layout import mapped_grow, mapped_zeros

    a = mapped_zeros((20_000, 16), np.float64)
    a[:] = np.arange(a.size, dtype=np.float64).reshape(a.shape)
    b = mapped_grow(a, 25_000)
    assert b.shape == (25_000, 16) and np.shares_memory(a, b)
    assert np.array_equal(b[:20_000], a) and not b[20_000:].any()
    c = mapped_grow(b, 40_000)  # the whole reservation
    assert np.shares_memory(a, c) and not c[20_000:].any()
    d = mapped_grow(c, 40_001)  # past it: a copy
    assert not np.shares_memory(c, d) and np.array_equal(d[:40_000], c) and not d[40_000:].any()
    e = mapped_grow(d, 60_000)  # the copy has its own reservation
    assert np.shares_memory(d, e)
    small = mapped_zeros((10, 16), np.int32)
    small[:] = 7
    grown = mapped_grow(small, 12)
    assert not np.shares_memory(small, grown) and (grown[:10] == 7).all() and not grown[10:].any()
    view = mapped_grow(a[1:], 30_000)  # not the start of its map: copied, never aliased
    assert not np.shares_memory(view, a) and np.array_equal(view[:19_999], a[1:])


@pytest.mark.parametrize("spill_rows", [None, 1_000])
def test_the_previous_window_is_spilled_when_the_next_opens_and_late_samples_still_land(
    open_db: Open, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spill_rows: int | None
) -> None:
    """When the first sample of a window comes, the rows of the window before (still open for
    late samples until it is quiet) go into compressed pages and its buffer's pages back to
    the OS, so two window buffers are not resident at once.  Late samples for it (a slow
    target) still land, in its emptied rows; every sample reads back bit for bit while it is
    open, once compressed, and after a restart (WAL replay).  6,000 series, so the buffers
    are memory maps as in a server; with ``spill_rows`` the turn's spill is cut into pages
    of at most that many rows (as a server's 100,000 series are, see ``_SPILL_ROWS``)."""
    if spill_rows is not None:
        monkeypatch.setattr(head_append, "_SPILL_ROWS", spill_rows)
    n = 6_000
    db = open_db()
    head = db.head
    app = db.appender()
    fast = np.array([app.ref(lb(__name__="m", t="fast", i=str(i))) for i in range(n)], dtype=np.int64)
    slow = np.array([app.ref(lb(__name__="m", t="slow", i=str(i))) for i in range(n // 10)], dtype=np.int64)
    step, t0 = 5_000, 1_700_000_400_000 // head.W * head.W
    rng = np.random.default_rng(5)
    expect: dict[Labels, list[tuple[int, int]]] = {}

    def put(refs: npt.NDArray[np.int64], names: list[Labels], t: int) -> None:
        vals = rng.normal(0, 1e6, refs.shape[0])
        app.append_batch(refs, t, vals)
        app.commit()
        for name, v in zip(names, vals.view(np.uint64).tolist(), strict=True):
            expect.setdefault(name, []).append((t, v))

    fast_names = [lb(__name__="m", t="fast", i=str(i)) for i in range(n)]
    slow_names = [lb(__name__="m", t="slow", i=str(i)) for i in range(n // 10)]
    first = t0 // head.W
    vacated = False
    for k in range((head.W + head.W // 2) // step):
        t = t0 + k * step
        before = len(head.windows[first].spills) if first in head.windows else 0
        put(fast, fast_names, t)
        if k >= 1:  # the slow target's scrape of the round before lands now, a few seconds late
            put(slow, slow_names, t - step)
        if not vacated and first + 1 in head.windows and first in head.windows:
            vacated = True
            old = head.windows[first]
            # the new window opened: the previous one holds spill pages, no buffered row but
            # the slow target's late ones (written after the new window opened)
            assert old.spills and set(np.flatnonzero(old.n).tolist()) <= set(slow.tolist())
            turn = old.spills[before:]  # the pages the new window's first sample made
            assert sum(p.nrows for p in turn) == n + n // 10
            rows = head_append._SPILL_ROWS if spill_rows is None else spill_rows
            assert len(turn) == -(-(n + n // 10) // rows)
            assert dump(db.querier(0, 2**62)) == expect
    assert vacated
    assert first not in head.windows  # compressed once quiet
    assert dump(db.querier(0, 2**62)) == expect
    db.close()
    assert dump(open_db(path=tmp_path / "data").querier(0, 2**62)) == expect


def test_released_window_pages_read_as_zeros_and_leave_the_process() -> None:
    """``release_pages`` on a mapped window buffer frees its pages: they read as zeros again
    and are no longer resident (a shared map, mmap's default, would keep both the pages and
    their old contents)."""
    import numpy as np

    from guardia.storage.tsdb.head_layout import mapped_grow, mapped_zeros, release_pages

    def rss_kib() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    a = mapped_grow(mapped_zeros((100_000, 16), np.float64), 120_000)  # 15 MiB, grown in place
    a[:] = 1.5
    before = rss_kib()
    release_pages(a)
    assert not a.any()
    assert before - rss_kib() > 10_000  # KiB: the pages left the process
    a[7, 3] = 2.0  # still writable; only that page comes back
    assert a[7, 3] == 2.0 and float(a.sum()) == 2.0


def test_window_timestamps_are_codes_until_a_window_has_too_many_distinct_ones(
    open_db: Open, tmp_path: Path
) -> None:
    """A window stores 2-byte codes of its distinct timestamps (scrapes share theirs); one
    that gets more distinct timestamps than codes pay for (samples with their own times)
    turns into plain offsets mid-window.  Every sample reads back bit for bit in both forms,
    from a frozen view, once compressed and after a restart (WAL replay)."""
    db = open_db(TSDBOptions(chunk_slots=4))
    head = db.head
    app = db.appender()
    names = [lb(__name__="m", i=str(i)) for i in range(300)]
    refs = np.array([app.ref(x) for x in names], dtype=np.int64)
    t0 = 1_700_000_400_000 // head.W * head.W
    rng = np.random.default_rng(11)
    expect: dict[Labels, list[tuple[int, int]]] = {}
    for k in range(5):  # scrapes: one time for all their samples (spills at 4 slots included)
        t = t0 + 1_000 + k * 5_000
        vals = rng.normal(0, 1e6, refs.shape[0])
        app.append_batch(refs, t, vals)
        app.commit()
        for x, v in zip(names, vals.view(np.uint64).tolist(), strict=True):
            expect.setdefault(x, []).append((t, v))
    w = head.windows[t0 // head.W]
    assert w.times is not None and w.ts.dtype == np.uint16 and len(w.codes) == 5
    assert dump(db.querier(0, 2**62)) == expect
    for k in range(8):  # then every sample with a time of its own: 2,400 distinct ones
        ts = t0 + 30_000 + k * 1_000 + rng.permutation(300)
        vals = rng.normal(0, 1e6, 300)
        for r, t, v in zip(refs.tolist(), ts.tolist(), vals.tolist(), strict=True):
            app.append(r, t, v)
        app.commit()
        for r, t, v in zip(refs.tolist(), ts.tolist(), vals.view(np.uint64).tolist(), strict=True):
            expect[names[r]].append((t, v))
        if k == 0:
            assert w.times is not None  # 305 distinct times: still codes
    assert w.times is None and w.ts.dtype == np.int32 and not w.codes  # turned into offsets
    assert dump(db.querier(0, 2**62)) == expect
    view = head.frozen_before(t0 + head.W)
    assert view.windows[t0 // head.W].times is None
    app.append_batch(refs, t0 + 50_000, np.zeros(300))  # and it goes on taking samples
    app.commit()
    for x in names:
        expect[x].append((t0 + 50_000, 0))
    assert dump(db.querier(0, 2**62)) == expect
    db.close()
    db2 = open_db(TSDBOptions(chunk_slots=4), path=tmp_path / "data")
    assert dump(db2.querier(0, 2**62)) == expect
    db2.head.finalize_all()
    assert not db2.head.windows and dump(db2.querier(0, 2**62)) == expect
