"""Late samples below the head (their range is in blocks already) within
``out_of_order_time_window``, as Prometheus 3 takes them: accepted, queryable at once, logged
in the WAL (replayed after a crash), written into blocks of their own at the next head cut,
and merged with the blocks they overlap by compaction, duplicates resolved the same way in
queries and in compaction (``compact.block_order``)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from guardia.model import Labels, Matcher
from guardia.storage.remote.wal_watcher import WALWatcher
from guardia.storage.tsdb import TSDB, TSDBOptions, wal
from tests.storage.conftest import dump

H = 3_600_000
M = 60_000
N = 20  # series
SEL = [Matcher.equal("__name__", "m")]


def opts(window: int = 6 * H, **kw: int) -> TSDBOptions:
    return TSDBOptions(out_of_order_time_window_ms=window, retention_ms=0, **kw)  # type: ignore[arg-type]


def labels(i: int) -> Labels:
    return Labels.of(__name__="m", i=str(i))


def scrape(db: TSDB, t0: int, t1: int, step: int = M) -> None:
    """In-order scrapes of every series at [t0, t1) (value = t / 1000 + series)."""
    app = db.appender()
    refs = np.array([app.ref(labels(i)) for i in range(N)], dtype=np.int64)
    for t in range(t0, t1, step):
        app.append_batch(refs, t, t / 1000 + np.arange(N, dtype=np.float64))
    app.commit()


def push(db: TSDB, samples: list[tuple[int, int, float]]):  # type: ignore[no-untyped-def]
    """Commit (series, t, v) samples as remote write does: one appender, any order."""
    app = db.appender()
    for i, t, v in samples:
        app.append(labels(i), t, v)
    return app.commit()


def series(db: TSDB, i: int, mint: int = 0, maxt: int = 100 * H) -> dict[int, float]:
    q = db.querier(mint, maxt)
    try:
        for s in q.select([*SEL, Matcher.equal("i", str(i))]):
            return dict(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))
        return {}
    finally:
        q.close()


def overlapping(db: TSDB) -> list[tuple[str, str]]:
    bs = sorted(db.blocks, key=lambda b: b.mint)
    return [(a.ulid, b.ulid) for a, b in itertools.pairwise(bs) if b.mint <= a.maxt]


def store_with_blocks(open_db, **kw: int) -> TSDB:  # type: ignore[no-untyped-def]
    """Scrapes 0–5h: the head is cut at [0, 2h) (its lower bound becomes 2h)."""
    db: TSDB = open_db(opts(**kw))
    scrape(db, 0, 5 * H)
    db.maintain()
    assert [(b.mint, b.maxt) for b in db.blocks] == [(0, 2 * H - 1)]
    assert db.head.min_valid_t == 2 * H
    return db


def test_late_samples_below_the_head_are_accepted_and_queryable_at_once(open_db) -> None:  # type: ignore[no-untyped-def]
    db = store_with_blocks(open_db)
    late = [(i, H + 30_000 + k * M, -float(k)) for i in range(3) for k in range(5)]
    s = push(db, late)
    assert (s.appended, s.ooo_appended, s.rejected) == (15, 15, 0)
    got = series(db, 1, H, H + 10 * M)
    # block samples every minute, late ones 30 s after: merged in time order
    assert sorted(got) == sorted([H + k * M for k in range(11)] + [H + 30_000 + k * M for k in range(5)])
    assert got[H + 30_000 + 2 * M] == -2.0
    reg = db.metrics.registry
    assert reg.get_sample_value("prometheus_tsdb_head_out_of_order_samples_appended_total",
                                {"type": "float"}) == 15


def test_late_samples_older_than_the_window_are_refused_as_too_old(open_db) -> None:  # type: ignore[no-untyped-def]
    db = store_with_blocks(open_db, window=4 * H)
    # the newest sample is at 5h - 1 min: the window reaches back to 1h - 1 min
    s = push(db, [(0, 30 * M + 1, 1.0), (0, 90 * M + 1, 2.0), (0, 5 * H + M, 3.0)])
    assert (s.appended, s.too_old, s.out_of_order, s.out_of_bounds) == (2, 1, 0, 0)
    reg = db.metrics.registry
    assert reg.get_sample_value("prometheus_tsdb_too_old_samples_total", {"type": "float"}) == 1
    assert 30 * M + 1 not in series(db, 0) and series(db, 0)[90 * M + 1] == 2.0


def test_without_a_window_samples_below_the_head_stay_out_of_bounds(open_db) -> None:  # type: ignore[no-untyped-def]
    db = store_with_blocks(open_db, window=0)
    s = push(db, [(0, H + 30_000, 1.0)])
    assert (s.appended, s.out_of_bounds, s.too_old) == (0, 1, 0)
    reg = db.metrics.registry
    assert reg.get_sample_value("prometheus_tsdb_out_of_bound_samples_total", {"type": "float"}) == 1


def test_late_samples_are_replayed_from_their_own_wal_record(open_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = store_with_blocks(open_db)
    push(db, [(i, H + 30_000, 7.0) for i in range(N)])
    push(db, [(0, H + 30_000, 8.0)])  # same timestamp, other value: the first stays
    before = dump(db.querier(0, 100 * H))
    types = [rt for seg in wal.list_segments(tmp_path / "data" / "wal")
             for rt, _ in wal.read_records(tmp_path / "data" / "wal" / wal.segment_name(seg))[0]]
    assert wal.REC_OOO_LATE in types
    # no close(): the WAL is all there is, as after kill -9 (test_ooo_serve kills a server)
    db._release()
    db2: TSDB = open_db(opts())
    assert dump(db2.querier(0, 100 * H)) == before
    assert series(db2, 0)[H + 30_000] == 7.0


def test_late_samples_go_to_a_block_of_their_own_at_the_next_cut_and_compaction_merges_it(  # type: ignore[no-untyped-def]
    open_db
) -> None:
    db = store_with_blocks(open_db)
    push(db, [(i, H + 30_000, 0.5) for i in range(N)])
    db.maintain()  # the head spans 2h–5h: no cut due, so the late samples wait in the head
    assert len(db.blocks) == 1 and db.head.ooo
    scrape(db, 5 * H, 6 * H)
    before = dump(db.querier(0, 100 * H))
    rep = db.maintain()  # cut due: late range [0, 2h) first, then [2h, 4h); then compaction
    assert len(rep.blocks_cut) == 2
    assert rep.compacted, rep
    assert overlapping(db) == []
    assert not db.head.ooo
    reg = db.metrics.registry
    assert reg.get_sample_value("prometheus_tsdb_vertical_compactions_total") == 1
    assert dump(db.querier(0, 100 * H)) == before
    b = next(b for b in db.blocks if b.mint <= H <= b.maxt)
    q = db.querier(H, H + M)
    got = q.select(SEL)
    assert all(H + 30_000 in s.timestamps.tolist() for s in got) and len(got) == N
    assert b.num_samples == N * (120 + 1)


def test_queries_across_overlapping_blocks_match_the_compacted_result(open_db) -> None:  # type: ignore[no-untyped-def]
    """Before compaction runs, a query merges the overlapping blocks; the sample at a
    timestamp both hold comes from the block written first, in queries and after compaction."""
    db = store_with_blocks(open_db, ooo_late_flush_samples=1)
    push(db, [(0, H, 99.0), (0, H + 1, 98.0)])  # H: the block has 3600.0 there already
    assert series(db, 0)[H] == 3600.0  # the block wins over the head
    # write the late block, but stop before compaction to look at the overlap
    orig = db._compact
    db._compact = lambda rep: None  # type: ignore[method-assign]
    db.maintain()
    assert len(overlapping(db)) == 1
    over = series(db, 0)
    assert over[H] == 3600.0 and over[H + 1] == 98.0
    db._compact = orig  # type: ignore[method-assign]
    db.maintain()
    assert overlapping(db) == []
    assert series(db, 0) == over


def test_late_samples_arriving_while_their_block_is_written_wait_for_the_next_cut(  # type: ignore[no-untyped-def]
    open_db, monkeypatch
) -> None:
    import guardia.storage.tsdb.db as dbmod

    db = store_with_blocks(open_db, ooo_late_flush_samples=1)
    push(db, [(0, H + 1, 1.0)])
    real = dbmod.write_block
    sneaked = []

    def write_block(*a, **kw):  # type: ignore[no-untyped-def]
        if not sneaked:
            sneaked.append(push(db, [(0, H + 2, 2.0)]))  # an append while the block is written
        return real(*a, **kw)

    monkeypatch.setattr(dbmod, "write_block", write_block)
    db.maintain()
    assert sneaked[0].appended == 1
    got = series(db, 0)
    assert got[H + 1] == 1.0 and got[H + 2] == 2.0  # the second is in the head still
    assert db.head.ooo == {0: {H + 2: 2.0}}
    db.maintain()
    assert not db.head.ooo and overlapping(db) == []
    assert series(db, 0) == got


def test_a_crash_after_the_late_block_before_the_checkpoint_loses_and_doubles_nothing(  # type: ignore[no-untyped-def]
    open_db
) -> None:
    db = store_with_blocks(open_db, ooo_late_flush_samples=1)
    push(db, [(i, H + 30_000, 0.5) for i in range(N)])
    db.checkpoint = lambda: None  # type: ignore[method-assign]  # "crash" before it
    db.maintain()
    want = dump(db.querier(0, 100 * H))
    db._release()
    db2: TSDB = open_db(opts(ooo_late_flush_samples=1))
    assert dump(db2.querier(0, 100 * H)) == want  # replayed into the head again: same answers
    db2.maintain()  # written again and merged: duplicates collapse
    assert overlapping(db2) == [] and not db2.head.ooo
    assert dump(db2.querier(0, 100 * H)) == want
    stored = sum(b.num_samples for b in db2.blocks) + db2.head.num_samples()
    assert stored == sum(len(v) for v in want.values())


def test_the_window_counts_from_the_newest_sample_of_the_head_not_of_the_series(open_db) -> None:  # type: ignore[no-untyped-def]
    db: TSDB = open_db(opts(window=10 * M))
    push(db, [(0, 100 * M, 1.0), (1, 50 * M, 1.0)])
    # series 1's newest is 50 min, the head's 100 min: 45 min is beyond the 10 min window
    s = push(db, [(1, 45 * M, 2.0), (0, 95 * M, 2.0)])
    assert (s.appended, s.too_old) == (1, 1)


def test_remote_write_sends_late_samples_from_the_wal(open_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = store_with_blocks(open_db)
    w = WALWatcher(tmp_path / "data" / "wal", start=None)
    push(db, [(3, H + 30_000, 4.5)])
    got = w.read(1000)
    assert got.timestamps.tolist() == [H + 30_000] and got.values.tolist() == [4.5]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_late_and_in_order_samples_match_a_model_through_cuts_compaction_and_restarts(
    open_db, seed: int  # type: ignore[no-untyped-def]
) -> None:
    """Samples up to 4 h late (the window is 5 h, so none is too old), commits, cuts,
    compactions and kill -9 restarts at random: every query gives the first sample stored
    for each timestamp, whether it sits in the head, in a late block or a merged one."""
    rng = np.random.default_rng(seed)
    o = opts(window=5 * H, ooo_late_flush_samples=int(rng.integers(1, 50)))
    db: TSDB = open_db(o)
    model: dict[int, dict[int, float]] = {i: {} for i in range(4)}
    t = 0
    for step in range(60):
        batch = []
        for _ in range(int(rng.integers(1, 30))):
            i = int(rng.integers(0, 4))
            if rng.random() < 0.6:
                t += int(rng.integers(1, 20)) * M
                ts = t
            else:
                ts = t - int(rng.integers(0, 4 * H // 1000)) * 1000
            batch.append((i, ts, float(rng.integers(0, 1000))))
        app = db.appender()
        for i, ts, v in batch:
            app.append(labels(i), ts, v)
        stats = app.commit()
        assert stats.rejected == stats.duplicate, stats
        for i, ts, v in batch:
            model[i].setdefault(ts, v)
        if step % 7 == 6:
            db.maintain()
        if step % 13 == 12:
            db._release()  # as a kill -9: the WAL is all the head has
            db = open_db(o)
        got = {i: series(db, i, -(2**62), 2**62) for i in range(4)}
        assert got == model, (seed, step)
    assert len(db.blocks) > 1
