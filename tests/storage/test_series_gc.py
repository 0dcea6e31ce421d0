"""Series garbage collection: churned series leave the head (index, postings, label values,
checkpoints) at head truncation; restarts do not bring them back; answers stay complete."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from guardia.model import Labels, Matcher, MatchType
from guardia.storage.remote.wal_watcher import WALWatcher
from guardia.storage.tsdb import TSDB, TSDBOptions, wal

MIN = 60_000
OPTS = TSDBOptions(block_range_ms=30 * MIN, retention_ms=0, page_rows=16, chunk_slots=4)
TARGETS, PER_TARGET, STEP = 8, 5, 30_000
POD_LIFE = 40 * MIN


def labels(gen: int, target: int, k: int) -> Labels:
    return Labels({"__name__": f"m{k}", "job": "app", "instance": f"pod-{gen}-{target}"})


class Churn:
    """Targets whose pods restart every ``POD_LIFE`` (a new ``instance`` each time)."""

    def __init__(self) -> None:
        self.expect: dict[Labels, list[tuple[int, float]]] = {}
        self.t = 0

    def scrape(self, db: TSDB) -> None:
        gen = self.t // POD_LIFE
        app = db.appender()
        lbs = [labels(gen, i, k) for i in range(TARGETS) for k in range(PER_TARGET)]
        refs = np.array([app.ref(lb) for lb in lbs], dtype=np.int64)
        vs = np.arange(len(lbs), dtype=np.float64) + self.t / 1000
        app.append_batch(refs, self.t, vs)
        app.commit()
        for lb, v in zip(lbs, vs.tolist(), strict=True):
            self.expect.setdefault(lb, []).append((self.t, v))
        self.t += STEP

    def run(self, db: TSDB, minutes: int) -> None:
        for _ in range(minutes * MIN // STEP):
            self.scrape(db)
            if self.t % (5 * MIN) == 0:
                db.maintain()

    def check_all(self, db: TSDB) -> None:
        got = {s.labels: list(zip(s.timestamps.tolist(), s.values.tolist(), strict=True))
               for s in db.querier(0, self.t).select([Matcher.equal("job", "app")])}
        assert got.keys() == self.expect.keys()
        for lb, samples in self.expect.items():
            assert got[lb] == samples, lb


def head_instances(db: TSDB) -> set[str]:
    return db.head.index.label_values("instance")


def test_churn_drops_dead_series_and_a_restart_does_not_bring_them_back(tmp_path: Path) -> None:
    db = TSDB.open(tmp_path / "d", OPTS)
    churn = Churn()
    churn.run(db, 150)
    created = len(churn.expect)
    assert db.head.num_series < created  # generations whose samples went to blocks are gone
    gen = (churn.t - STEP) // POD_LIFE
    live = {f"pod-{g}-{i}" for g in range(gen - 2, gen + 1) for i in range(TARGETS)}
    assert head_instances(db) <= live, head_instances(db) - live
    assert db.metrics.head_series_removed._value.get() > 0
    before = (db.head.num_series, head_instances(db))
    churn.check_all(db)
    db.close()

    db = TSDB.open(tmp_path / "d", OPTS)  # checkpoint + WAL replay
    assert (db.head.num_series, head_instances(db)) == before
    churn.check_all(db)
    churn.run(db, 150)
    assert db.head.num_series <= 3 * TARGETS * PER_TARGET
    churn.check_all(db)
    db.close()


def test_wal_replay_repeats_a_gc_that_no_checkpoint_followed(tmp_path: Path) -> None:
    """A crash between the GC and the checkpoint: replay meets the GC record in the WAL and
    drops and renumbers at the same point, so later records land on the right series."""
    db = TSDB.open(tmp_path / "d", OPTS)
    churn = Churn()
    churn.run(db, 100)
    db.checkpoint = lambda: None  # type: ignore[method-assign]  # the process dies before it
    removed = db.metrics.head_series_removed._value.get()
    churn.run(db, 60)
    dropped = db.metrics.head_series_removed._value.get() - removed
    assert dropped > 0
    state = (db.head.num_series, head_instances(db))
    churn.check_all(db)
    db.close()  # no checkpoint on close either: the GC records are replayed from the segments
    db = TSDB.open(tmp_path / "d", OPTS)
    assert db.replay.series_dropped == dropped
    assert (db.head.num_series, head_instances(db)) == state
    churn.check_all(db)
    db.close()


def test_gc_waits_for_open_appenders_and_kept_refs_are_translated(tmp_path: Path) -> None:
    db = TSDB.open(tmp_path / "d", OPTS)
    churn = Churn()
    churn.run(db, 50)
    late = Labels({"__name__": "late", "job": "app", "instance": "new"})
    live = labels((churn.t - STEP) // POD_LIFE, 0, 0)
    kept = db.appender()
    kept_refs = np.array([kept.ref(live)], dtype=np.int64)  # as a scrape cache keeps them
    kept.rollback()
    app = db.appender()
    new_ref = app.ref(late)  # an appender in use: GC waits for it
    with db.read_lock:
        db.head.truncate(churn.t - 5 * MIN)
        assert db._collect_garbage() == 0
    app.append(new_ref, churn.t, 2.5)
    app.commit()
    with db.read_lock:
        assert db._collect_garbage() > 0
    app = db.appender()
    assert app.ref_epoch == kept.ref_epoch + 1
    assert app.translate(kept_refs, kept.ref_epoch - 1) is None  # two GCs back: look them up again
    moved = app.translate(kept_refs, kept.ref_epoch)
    assert moved is not None and moved[0] >= 0
    app.append_batch(moved, churn.t, np.array([1.5]))
    app.commit()
    # refs kept from before the GC, used without translation by an appender that began before
    # it, are translated at commit
    stale = db.appender()
    stale.ref_epoch -= 1
    stale.append_batch(kept_refs, churn.t + 1, np.array([4.5]))
    stale.commit()
    got = {s.labels: s.values.tolist() for s in db.querier(churn.t, churn.t + 1).select(
        [Matcher.equal("job", "app"), Matcher("__name__", MatchType.REGEX, "late|m0")])}
    assert got[late] == [2.5]
    assert got[live] == [1.5, 4.5]
    db.close()


def test_a_query_during_gc_gets_complete_answers(tmp_path: Path) -> None:
    db = TSDB.open(tmp_path / "d", OPTS)
    churn = Churn()
    churn.run(db, 35)
    stop = threading.Event()
    bad: list[str] = []
    answers = 0

    def query() -> None:
        nonlocal answers
        while not stop.is_set():
            t = churn.t - STEP
            gen = t // POD_LIFE
            inst = [Matcher.equal("instance", f"pod-{gen}-3")]
            got = db.querier(t, t).select(inst)
            if len(got) != PER_TARGET or any(s.timestamps.tolist() != [t] for s in got):
                bad.append(f"t={t}: {[(s.labels, s.timestamps.tolist()) for s in got]}")
            answers += 1

    th = threading.Thread(target=query)
    th.start()
    try:
        churn.run(db, 120)
    finally:
        stop.set()
        th.join()
    assert db.metrics.head_series_removed._value.get() > 0
    assert answers > 10 and not bad, bad[:3]
    db.close()


def test_remote_write_wal_reader_follows_the_renumbering(tmp_path: Path) -> None:
    db = TSDB.open(tmp_path / "d", OPTS)
    churn = Churn()
    churn.run(db, 20)
    w = WALWatcher(tmp_path / "d" / "wal", None)  # at the end of the WAL now
    with db.read_lock:
        db.head.truncate(churn.t)  # every series so far is dead
        db.head.min_valid_t = 0
        assert db._collect_garbage() == len(churn.expect)
    sent_from = churn.t
    for _ in range(50 * MIN // STEP):  # new pods, no cut (the reader keeps no segments here)
        churn.scrape(db)
    got: dict[Labels, list[tuple[int, float]]] = {}
    while True:
        r = w.read(1000)
        if not r.refs:
            break
        for ref, t, v in zip(r.refs.tolist(), r.timestamps.tolist(), r.values.tolist(), strict=True):
            lb = w.labels[ref]
            assert lb is not None
            got.setdefault(lb, []).append((t, v))
    want = {lb: [(t, v) for t, v in s if t >= sent_from] for lb, s in churn.expect.items()}
    assert got == {lb: s for lb, s in want.items() if s}
    recs = list(wal.replay_records(tmp_path / "d" / "wal", repair=False))
    assert not [r for r in recs if isinstance(r, wal.Corruption)]
    assert any(r[0] == wal.REC_GC for r in recs if not isinstance(r, wal.Corruption))
    db.close()


def test_pin_tells_a_cache_holder_which_numbering_and_holds_gc_off(tmp_path: Path) -> None:
    """An appender made before a GC (a scrape's, during the fetch) reads the new epoch from
    ``pin``, and once pinned GC waits for its commit or rollback."""
    db = TSDB.open(tmp_path / "d", OPTS)
    churn = Churn()
    churn.run(db, 50)
    early = db.appender()
    before = early.ref_epoch
    with db.read_lock:
        db.head.truncate(churn.t - 5 * MIN)
        assert db._collect_garbage() > 0  # not pinned yet: GC goes ahead
    assert early.pin() == before + 1 == db.ref_epoch
    churn.run(db, 50)  # scrapes, cuts and maintenance while it is pinned
    with db.read_lock:
        db.head.truncate(churn.t - 5 * MIN)
        assert db._collect_garbage() == 0  # pinned: waits
    early.rollback()
    with db.read_lock:
        assert db._collect_garbage() > 0
    db.close()

