"""The WAL brings back every committed sample, and a damaged tail costs only that tail."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from guardia.model import STALE_NAN, Labels, Matcher
from guardia.storage.tsdb import TSDB, TSDBOptions
from guardia.storage.tsdb.db import StorageLockedError

from .conftest import dump

Open = Callable[..., TSDB]


def fill(db: TSDB, n_series: int, n_scrapes: int, t0: int = 0) -> None:
    app = db.appender()
    refs = np.array([app.ref(Labels.of(__name__="m", i=str(i))) for i in range(n_series)])
    for k in range(n_scrapes):
        app.append_batch(refs, t0 + 15_000 * k, np.arange(n_series, dtype=np.float64) + k)
        app.commit()


def test_a_reopened_store_has_every_committed_sample(open_db: Open, tmp_path: Path) -> None:
    db = open_db(TSDBOptions(chunk_slots=4))
    fill(db, 20, 11)
    app = db.appender()
    app.append(Labels.of(__name__="pushed"), 5, STALE_NAN)
    app.commit()
    before = dump(db.querier(0, 10**9))
    db.close()
    db2 = open_db(TSDBOptions(chunk_slots=4))
    assert dump(db2.querier(0, 10**9)) == before
    assert db2.replay.samples == 20 * 11 + 1
    # Appends continue with the same refs after replay.
    app = db2.appender()
    assert app.ref(Labels.of(__name__="m", i="3")) == 3


def test_a_second_writer_is_refused(open_db: Open) -> None:
    open_db()
    with pytest.raises(StorageLockedError, match=f"in use by process {os.getpid()} "):
        open_db()


def _segments(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "data" / "wal").iterdir() if p.name.isdigit())


def test_a_torn_tail_is_truncated_and_the_rest_kept(open_db: Open, tmp_path: Path) -> None:
    db = open_db()
    fill(db, 10, 5)
    db.close()
    seg = _segments(tmp_path)[-1]
    data = seg.read_bytes()
    seg.write_bytes(data[:-7])  # the last commit was cut mid-write
    db2 = open_db()
    got = db2.querier(0, 10**9).select([Matcher.equal("i", "0")])[0]
    assert got.timestamps.tolist() == [0, 15_000, 30_000, 45_000]
    assert db2.metrics.registry.get_sample_value("prometheus_tsdb_wal_corruptions_total") == 1
    assert "torn record" in db2.replay.corruptions[0]
    # The log is usable again: new commits survive another restart.
    app = db2.appender()
    app.append(0, 60_000, 1.0)
    app.commit()
    db2.close()
    db3 = open_db()
    assert db3.querier(0, 10**9).select([Matcher.equal("i", "0")])[0].timestamps[-1] == 60_000
    assert db3.replay.corruptions == []


def test_a_corrupt_record_drops_it_and_what_follows(
    open_db: Open, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = open_db()
    fill(db, 10, 6)
    db.close()
    seg = _segments(tmp_path)[-1]
    data = bytearray(seg.read_bytes())
    # Records: series, then one per commit of 10 samples (9 + 12 + 8*10 bytes each).
    rec = 9 + 12 + 8 * 10
    first_samples = len(data) - 6 * rec
    data[first_samples + 3 * rec + 20] ^= 0xFF  # flip a byte inside the 4th commit
    seg.write_bytes(bytes(data))
    db2 = open_db()
    assert db2.querier(0, 10**9).select([Matcher.equal("i", "1")])[0].timestamps.tolist() == [
        0, 15_000, 30_000]
    assert "checksum mismatch" in db2.replay.corruptions[0]
    assert "wal_corruption" in caplog.text


def test_checkpoint_replaces_old_segments_and_replays_the_same(open_db: Open, tmp_path: Path) -> None:
    db = open_db(TSDBOptions(chunk_slots=4, out_of_order_time_window_ms=100_000))
    fill(db, 10, 9)
    app = db.appender()
    app.append(0, 1, 42.0)  # out of order, inside the window
    app.commit()
    db.checkpoint()
    fill(db, 10, 3, t0=1_000_000)
    before = dump(db.querier(0, 10**9))
    db.close()
    names = {p.name for p in (tmp_path / "data" / "wal").iterdir()}
    assert any(n.startswith("checkpoint.") for n in names)
    db2 = open_db(TSDBOptions(chunk_slots=4, out_of_order_time_window_ms=100_000))
    assert dump(db2.querier(0, 10**9)) == before


def test_series_keep_their_refs_across_restarts_whatever_was_committed(open_db: Open, tmp_path: Path) -> None:
    # Series created by a rolled-back appender, by a commit, after a checkpoint and just
    # before close: each reopened store knows all the head still has, under the same refs
    # (series garbage collection has dropped those with no sample left in the head).
    db = open_db(TSDBOptions(block_range_ms=60_000, retention_ms=0))
    app = db.appender()
    la = [Labels.of(__name__="a", i=str(i)) for i in range(3)]
    for lab in la:
        app.ref(lab)
    app.rollback()
    b = app.ref(Labels.of(__name__="b"))
    app.append(b, 1000, 1.0)
    app.commit()
    fill(db, 4, 12, t0=2000)  # three minutes of 1-minute blocks: maintain checkpoints
    db.maintain()
    assert db.metrics.head_series_removed._value.get() >= 4  # a0..a2 never had a sample; b's is in a block
    assert all(db.head.index.get(lab) is None for lab in [*la, Labels.of(__name__="b")])
    app = db.appender()
    c = app.ref(Labels.of(__name__="c", env="x"))
    want = db.head.labels_of(np.arange(db.head.num_series, dtype=np.int64))
    db.close()
    db2 = open_db(TSDBOptions(block_range_ms=60_000, retention_ms=0), tmp_path / "data")
    assert db2.head.labels_of(np.arange(db2.head.num_series, dtype=np.int64)) == want
    app2 = db2.appender()
    assert [app2.ref(lab) for lab in want] == list(range(len(want)))
    assert app2.ref(Labels.of(__name__="c", env="x")) == c
    assert db2.head.num_series == len(want)


def test_sample_records_read_and_written_as_numpy_or_python_arrays_alike() -> None:
    """The agent and remote write read and write sample records as Python arrays (no numpy);
    the head as numpy arrays: the same bytes either way, and each reads the other's."""
    from array import array

    from guardia.storage.tsdb import wal

    rng = np.random.default_rng(1)
    refs = rng.integers(0, 2**31 - 1, 500)
    ts = rng.integers(-(2**62), 2**62, 500)
    vs = rng.standard_normal(500)
    vs[:4] = [np.nan, np.inf, -0.0, 5e-324]
    t0 = 1_700_000_000_123
    t_rec = wal.encode_samples_t(refs, t0, vs)
    pv = array("d", vs.tolist())
    assert wal.encode_samples_t(array("q", refs.tolist()), t0, pv) == t_rec
    assert wal.encode_samples_t(array("i", refs.tolist()), t0, pv) == t_rec
    rec = wal.encode_samples(refs, ts, vs)
    assert wal.encode_samples(array("q", refs.tolist()), array("q", ts.tolist()), pv) == rec
    r, t, v = wal.decode_samples_t_arrays(t_rec)
    nr, nt, nv = wal.decode_samples_t(t_rec)
    assert r.typecode == "i" and v.typecode == "d" and t == nt == t0
    assert r.tolist() == nr.tolist() == refs.tolist() and nr.dtype == np.int64
    assert v.tobytes() == nv.tobytes() == vs.tobytes()
    r, tt, v = wal.decode_samples_arrays(rec)
    nr, ntt, nv = wal.decode_samples(rec)
    assert r.tolist() == nr.tolist() == refs.tolist() and tt.tolist() == ntt.tolist() == ts.tolist()
    assert v.tobytes() == nv.tobytes() == vs.tobytes()
    dead = np.array([3, 9, 2**40])
    gc = wal.encode_gc(dead)
    assert wal.decode_gc_arrays(gc).tolist() == wal.decode_gc(gc).tolist() == dead.tolist()
