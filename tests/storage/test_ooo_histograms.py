"""Out-of-order native histograms within ``out_of_order_time_window``, as Prometheus 3 takes
them: older than their series' newest sample (or below the head, their range in blocks) but
within the window they are accepted by both append paths, logged in the WAL (replayed after
a restart or a SIGKILL), visible to queries at once in time order, written to blocks (late
ones into blocks of their own, merged by vertical compaction), and counted by Prometheus's
self-metrics with ``type="histogram"``."""

from __future__ import annotations

import itertools
import os
import random
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guardia.model import Labels, Matcher, MatchType
from guardia.model.histcols import HistCols
from guardia.model.histogram import (
    COUNTER_RESET,
    CUSTOM_BUCKETS_SCHEMA,
    GAUGE,
    NOT_COUNTER_RESET,
    UNKNOWN,
    FloatHistogram,
)
from guardia.promql import Engine
from guardia.storage.tsdb import TSDB, TSDBOptions, wal
from guardia.storage.tsdb.dump import dump_lines

MIN = 60_000
H = 3_600_000
NAME = "ooo_seconds"
SEL = [Matcher("__name__", MatchType.EQUAL, NAME)]
KINDS = ("int", "float", "custom")
CHILD = Path(__file__).with_name("crash_ooo_hist_child.py")


def series(kind: str) -> Labels:
    return Labels.of(__name__=NAME, kind=kind)


def hist(kind: str, t: int, hint: int = UNKNOWN) -> FloatHistogram:
    """Series ``kind``'s histogram at ``t`` (a counter growing with ``t``): integer counts on
    schema 3, float counts on schema -4, or custom buckets (schema -53)."""
    k = t // 1000
    if kind == "int":
        pos = {8: float(k), 9: float(2 * k)}
        return FloatHistogram(schema=3, count=float(4 * k), sum=0.5 * k, zero_threshold=2.0**-128,
                              zero_count=float(k), positive=pos, counter_reset_hint=hint)
    if kind == "float":
        return FloatHistogram(schema=-4, count=k / 3 + k / 7, sum=-k / 7, positive={2: k / 3},
                              negative={-1: k / 7}, counter_reset_hint=hint)
    return FloatHistogram(schema=CUSTOM_BUCKETS_SCHEMA, count=float(k), sum=k * 0.1, custom_values=[0.5, 5.0],
                          positive={0: float(k // 2), 2: float(k - k // 2)}, counter_reset_hint=hint)


def shape(h: FloatHistogram) -> tuple[Any, ...]:
    """Everything of a histogram but its hint, floats by their bits (NaN sums compare)."""
    def f(x: float) -> bytes:
        return struct.pack("<d", x)

    return (h.schema, f(h.count), f(h.sum), f(h.zero_count), f(h.zero_threshold), tuple(h.custom_values),
            tuple((i, f(c)) for i, c in sorted(h.positive.items())),
            tuple((i, f(c)) for i, c in sorted(h.negative.items())))


def stored(db: TSDB, kind: str, mint: int = -(2**62), maxt: int = 2**62) -> list[tuple[int, FloatHistogram]]:
    q = db.querier(mint, maxt)
    try:
        got = list(q.select([*SEL, Matcher("kind", MatchType.EQUAL, kind)]))
        if not got:
            return []
        (s,) = got
        assert s.histograms is not None
        return list(zip(s.timestamps.tolist(), s.histograms.tolist(), strict=True))
    finally:
        q.close()


def expect(db: TSDB, kind: str, times: list[int]) -> None:
    """The store holds ``kind``'s histograms at exactly ``times``, in time order."""
    got = stored(db, kind)
    assert [t for t, _ in got] == sorted(set(times)), kind
    for t, h in got:
        assert shape(h) == shape(hist(kind, t)), (kind, t)


def put(db: TSDB, samples: list[tuple[str, int]], columns: bool = False):  # type: ignore[no-untyped-def]
    """One commit of (kind, t) samples through ``append_histogram`` or, with ``columns``,
    through ``append_histograms`` (one call per timestamp)."""
    app = db.appender()
    if not columns:
        for kind, t in samples:
            app.append_histogram(series(kind), t, hist(kind, t))
        return app.commit()
    by_t: dict[int, list[str]] = {}
    for kind, t in samples:
        by_t.setdefault(t, []).append(kind)
    for t, kinds in by_t.items():
        refs = [app.ref(series(kind)) for kind in kinds]
        app.append_histograms(refs, t, HistCols.from_objects([hist(kind, t) for kind in kinds]))
    return app.commit()


def opts(window: int = 30 * MIN, **kw: int) -> TSDBOptions:
    return TSDBOptions(out_of_order_time_window_ms=window, retention_ms=0, **kw)  # type: ignore[arg-type]


def metric(db: TSDB, name: str, kind: str = "histogram") -> float:
    v = db.metrics.registry.get_sample_value(name, {"type": kind})
    return 0.0 if v is None else v


@pytest.mark.parametrize("columns", [False, True], ids=["objects", "columns"])
def test_in_window_histograms_are_taken_and_read_in_time_order(tmp_path: Path, columns: bool) -> None:
    db = TSDB.open(tmp_path, opts())
    even = [(k, t) for k in KINDS for t in range(0, 21 * MIN, 2 * MIN)]
    assert put(db, even, columns).appended == len(even)
    odd = [(k, t) for k in KINDS for t in range(19 * MIN, 0, -2 * MIN)]  # newest first, all older
    st = put(db, odd, columns)
    assert (st.appended, st.ooo_appended, st.rejected) == (len(odd), len(odd), 0)
    for k in KINDS:
        expect(db, k, [t for _, t in even + odd])
    assert metric(db, "prometheus_tsdb_head_out_of_order_samples_appended_total") == len(odd)
    assert metric(db, "prometheus_tsdb_head_samples_appended_total") == len(even) + len(odd)
    assert metric(db, "prometheus_tsdb_head_samples_appended_total", "float") == 0
    db.close()


def test_queries_over_out_of_order_histograms_equal_those_written_in_order(tmp_path: Path) -> None:
    """rate, histogram_quantile and a range select (the API's matrix) see the same data
    whichever order it came in."""
    times = list(range(0, 40 * MIN, 30_000))
    shuffled = times[:]
    random.Random(7).shuffle(shuffled)
    a = TSDB.open(tmp_path / "a", opts(window=H))
    b = TSDB.open(tmp_path / "b", opts(window=H))
    put(a, [(k, t) for t in times for k in KINDS])
    for lo in range(0, len(shuffled), 7):  # commits of a few samples, any order
        put(b, [(k, t) for t in shuffled[lo : lo + 7] for k in KINDS], columns=lo % 2 == 0)
    engine = Engine()
    for q in (f"histogram_count(rate({NAME}[5m]))", f"histogram_quantile(0.7, rate({NAME}[3m]))",
              f"histogram_sum(increase({NAME}[10m]))", f"histogram_count({NAME})"):
        ra = engine.range(a, q, 5 * MIN, 39 * MIN, 30_000).value
        rb = engine.range(b, q, 5 * MIN, 39 * MIN, 30_000).value
        assert len(ra) == len(rb) == 3, q
        for sa, sb in zip(sorted(ra, key=lambda s: str(s.labels)), sorted(rb, key=lambda s: str(s.labels)),
                          strict=True):
            assert sa.labels == sb.labels
            assert np.array_equal(sa.timestamps, sb.timestamps), q
            assert np.allclose(sa.values, sb.values, equal_nan=True), q
    for k in KINDS:
        assert [(t, shape(h)) for t, h in stored(a, k)] == [(t, shape(h)) for t, h in stored(b, k)]
    a.close()
    b.close()


def test_counter_reset_hints_around_an_out_of_order_sample_become_unknown(tmp_path: Path) -> None:
    """As Prometheus marks out-of-order histogram chunks: the sample put in among the others
    and the one after it (whose hint spoke of another predecessor) are *unknown*; the
    others keep theirs, and a gauge stays a gauge."""
    db = TSDB.open(tmp_path, opts())
    app = db.appender()
    for t in range(0, 10 * MIN, 2 * MIN):
        app.append_histogram(series("int"), t, hist("int", t, NOT_COUNTER_RESET))
        app.append_histogram(series("float"), t, hist("float", t, GAUGE))
    app.commit()
    app = db.appender()
    app.append_histogram(series("int"), 3 * MIN, hist("int", 3 * MIN, COUNTER_RESET))
    app.append_histogram(series("float"), 3 * MIN, hist("float", 3 * MIN, GAUGE))
    assert app.commit().ooo_appended == 2
    want = {0: 2, 2 * MIN: 2, 3 * MIN: 0, 4 * MIN: 0, 6 * MIN: 2, 8 * MIN: 2}
    for d in (db, None):
        if d is None:
            db.close()
            d = db = TSDB.open(tmp_path, opts())  # replayed the same way
        assert {t: h.counter_reset_hint for t, h in stored(d, "int")} == want
        assert {h.counter_reset_hint for _, h in stored(d, "float")} == {GAUGE}
    db.close()


def test_out_of_window_and_without_a_window_the_same_errors_as_before(tmp_path: Path) -> None:
    db = TSDB.open(tmp_path / "w", opts(window=10 * MIN))
    put(db, [("int", 60 * MIN)])
    st = put(db, [("int", 45 * MIN), ("int", 55 * MIN)])
    assert (st.too_old, st.appended, st.ooo_appended) == (1, 1, 1)
    assert metric(db, "prometheus_tsdb_too_old_samples_total") == 1
    expect(db, "int", [55 * MIN, 60 * MIN])
    db.close()
    db = TSDB.open(tmp_path / "none", opts(window=0))
    put(db, [("int", 60 * MIN)])
    st = put(db, [("int", 59 * MIN)])
    assert (st.out_of_order, st.appended) == (1, 0)
    assert metric(db, "prometheus_tsdb_out_of_order_samples_total") == 1
    db.close()


def test_a_timestamp_held_already_keeps_its_first_sample(tmp_path: Path) -> None:
    """An out-of-order sample at a timestamp the series holds is dropped without an error
    (Prometheus's out-of-order chunk does the same); at the newest timestamp a different
    histogram is still a duplicate."""
    db = TSDB.open(tmp_path, opts())
    put(db, [("int", t) for t in (0, MIN, 2 * MIN)])
    app = db.appender()
    app.append_histogram(series("int"), MIN, hist("int", 5 * MIN))  # another value at a held time
    app.append_histogram(series("int"), 30_000, hist("int", 30_000))
    app.append_histogram(series("int"), 30_000, hist("int", 40_000))  # twice in one commit: first wins
    st = app.commit()
    assert (st.rejected, st.ooo_appended, st.appended) == (0, 1, 1)  # only the one taken counts
    expect(db, "int", [0, 30_000, MIN, 2 * MIN])
    app = db.appender()
    app.append_histogram(series("int"), 2 * MIN, hist("int", 7 * MIN))
    assert app.commit().duplicate == 1
    db.close()


def _late_store(tmp_path: Path, window: int = 6 * H) -> TSDB:
    """Histograms (and a float) a minute apart over 0–5 h, the head cut at [0, 2h)."""
    db = TSDB.open(tmp_path, opts(window=window, block_range_ms=2 * H))
    for t0 in range(0, 5 * H, 30 * MIN):
        put(db, [(k, t) for t in range(t0 + MIN, t0 + 30 * MIN + 1, 2 * MIN) for k in KINDS])
    db.maintain()
    assert [(b.mint, b.maxt) for b in db.blocks] == [(0, 2 * H - 1)]
    assert db.histograms.min_valid_t == 2 * H
    return db


def _in_order_times() -> list[int]:
    return [t for t0 in range(0, 5 * H, 30 * MIN) for t in range(t0 + MIN, t0 + 30 * MIN + 1, 2 * MIN)]


def test_late_histograms_below_the_head_go_to_a_block_of_their_own_and_compaction_merges_it(
        tmp_path: Path) -> None:
    db = _late_store(tmp_path)
    late = list(range(H, H + 20 * MIN, 2 * MIN))  # between the block's samples
    st = put(db, [(k, t) for t in late for k in KINDS], columns=True)
    assert (st.appended, st.ooo_appended, st.rejected) == (3 * len(late), 3 * len(late), 0)
    want = _in_order_times() + late
    for k in KINDS:
        expect(db, k, want)  # at once, merged with the block's
    assert db.histograms.late_samples() == 3 * len(late)
    rep = db.maintain()
    assert rep.blocks_cut and rep.compacted, rep
    assert db.metrics.vertical_compactions._value.get() >= 1
    assert db.histograms.late_samples() == 0
    spans = sorted((b.mint, b.maxt) for b in db.blocks)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(spans)), spans  # merged
    for k in KINDS:
        expect(db, k, want)
    lines = list(dump_lines(db, SEL, H, H + 20 * MIN))
    assert len(lines) == 3 * len([t for t in want if H <= t <= H + 20 * MIN]) == 3 * 20
    db.close()
    db = TSDB.open(tmp_path, opts(block_range_ms=2 * H))
    for k in KINDS:
        expect(db, k, want)
    db.snapshot(tmp_path / "snap")
    db.close()
    snap = TSDB.open(tmp_path / "snap", opts(block_range_ms=2 * H), read_only=True)
    for k in KINDS:
        expect(snap, k, want)
    snap.close()


def test_late_histograms_without_a_window_or_older_than_it_are_refused(tmp_path: Path) -> None:
    db = _late_store(tmp_path / "a", window=2 * H)  # newest 5h: the window reaches back to 3h
    st = put(db, [("int", H + MIN // 2)])
    assert (st.too_old, st.appended) == (1, 0)
    db.close()
    db = _late_store(tmp_path / "b", window=6 * H)
    db.set_out_of_order_window(0)
    st = put(db, [("int", H + MIN // 2)], columns=True)
    assert (st.out_of_bounds, st.appended) == (1, 0)
    assert metric(db, "prometheus_tsdb_out_of_bound_samples_total") == 1
    db.close()


@pytest.mark.parametrize("checkpoint", [False, True], ids=["wal", "checkpoint"])
def test_out_of_order_and_late_histograms_survive_a_restart(tmp_path: Path, checkpoint: bool) -> None:
    db = _late_store(tmp_path)
    late = list(range(H + 30_000, H + 10 * MIN, 2 * MIN))
    ooo = list(range(4 * H + 30_000, 4 * H + 10 * MIN, 2 * MIN))
    put(db, [(k, t) for t in late + ooo for k in KINDS])
    if checkpoint:
        db.checkpoint()
    db.close()
    db = TSDB.open(tmp_path, opts(block_range_ms=2 * H))
    want = _in_order_times() + late + ooo
    for k in KINDS:
        expect(db, k, want)
    assert db.histograms.late_samples() == 3 * len(late)
    db.maintain()  # the late ones reach a block after the restart too
    assert db.histograms.late_samples() == 0
    for k in KINDS:
        expect(db, k, want)
    db.close()


def test_a_damaged_late_histogram_record_is_skipped_and_counted(tmp_path: Path) -> None:
    db = _late_store(tmp_path)
    db.close()
    w = wal.WALWriter(tmp_path / "wal", "off", 0, 1 << 20)
    w.write(wal.frame(wal.REC_HISTOGRAMS_LATE, b"\x05\x01"))  # five samples promised, none there
    w.close()
    db = TSDB.open(tmp_path, opts(block_range_ms=2 * H))
    assert db.metrics.wal_corruptions._value.get() == 1
    for k in KINDS:
        expect(db, k, _in_order_times())
    db.close()


def test_remote_write_reads_late_histograms_from_the_wal(tmp_path: Path) -> None:
    from guardia.storage.remote.wal_watcher import WALWatcher

    db = _late_store(tmp_path)
    watcher = WALWatcher(tmp_path / "wal", None, send_histograms=True)
    put(db, [("custom", H + 30_000), ("custom", 4 * H + 30_000)])
    got = watcher.read(1000)
    assert sorted(t for _, t, _ in got.histograms) == [H + 30_000, 4 * H + 30_000]
    db.close()


def _run_child(path: Path, seconds: float) -> list[int]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, str(CHILD), str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first, proc.stderr.read().decode() if proc.stderr else "child died"
    time.sleep(seconds)
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    return [int(x) for x in (first + out).split()]


def test_sigkill_loses_no_acknowledged_out_of_order_histogram(tmp_path: Path) -> None:
    """A child appends each timestamp's histograms in order and then one a few minutes back
    (out of order, and below the head after its cuts), printing each acknowledged commit;
    killed at a random moment, every acknowledged sample is there after the restart."""
    sys.path.insert(0, str(CHILD.parent))
    try:
        import crash_ooo_hist_child as child  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    path = tmp_path / "data"
    acked: list[int] = []
    rng = random.Random(3)
    for run in range(2):
        acked += _run_child(path, rng.uniform(0.5, 2.0))
        db = TSDB.open(path, child.OPTIONS)
        try:
            for kind in KINDS:
                got = stored(db, kind)
                ts = [t for t, _ in got]
                assert ts == sorted(set(ts)), (run, kind)
                missing = sorted(set(acked) - set(ts))
                assert not missing, (run, kind, missing[:5])
                for t, h in got:
                    assert shape(h) == shape(hist(kind, t)), (run, kind, t)
        finally:
            db.close()
    assert any(t % child.STEP for t in acked), "out-of-order samples were acknowledged"


def test_bad_histogram_input_out_of_order_is_refused_whole(tmp_path: Path) -> None:
    """A batch with a bad layout is refused with the reason, out of order or not, and stores
    nothing."""
    from guardia.model.histcols import Layout
    from guardia.storage.interface import AppendError

    db = TSDB.open(tmp_path, opts())
    put(db, [("int", 10 * MIN)])
    app = db.appender()
    ref = app.ref(series("int"))
    bad = Layout(3, 2.0**-128, (), (9, 8), (), np.zeros((1, 5)), np.zeros(1, dtype=np.int8))
    with pytest.raises(AppendError, match="ascending"):
        cols = HistCols(np.zeros(1, dtype=np.int32), np.zeros(1, dtype=np.int64), [bad])
        app.append_histograms([ref], 5 * MIN, cols)
    app.rollback()
    expect(db, "int", [10 * MIN])
    db.close()


def test_hints_where_a_late_histogram_meets_a_block_s_samples_become_unknown(tmp_path: Path) -> None:
    """A late sample read (and compacted) among a block's samples: it and the block's sample
    after it lose their reset / no-reset hints, in the query's merge and in the block the
    vertical compaction writes; the others keep theirs."""
    db = TSDB.open(tmp_path, opts(window=6 * H, block_range_ms=2 * H))
    for t0 in range(0, 5 * H, 30 * MIN):
        app = db.appender()
        for t in range(t0 + MIN, t0 + 30 * MIN + 1, 2 * MIN):
            app.append_histogram(series("int"), t, hist("int", t, NOT_COUNTER_RESET))
        app.commit()
    db.maintain()
    assert db.histograms.min_valid_t == 2 * H
    app = db.appender()
    app.append_histogram(series("int"), H + 2 * MIN, hist("int", H + 2 * MIN, NOT_COUNTER_RESET))
    assert app.commit().ooo_appended == 1
    want = {H + 2 * MIN: UNKNOWN, H + 3 * MIN: UNKNOWN}
    for when in ("query", "compacted"):
        if when == "compacted":
            rep = db.maintain()
            assert rep.compacted, rep
        got = {t: h.counter_reset_hint for t, h in stored(db, "int", H - 10 * MIN, H + 10 * MIN)}
        assert got == {t: want.get(t, NOT_COUNTER_RESET) for t in got} and H + 2 * MIN in got, when
    db.close()


def test_a_late_histogram_arriving_while_its_block_is_written_waits_for_the_next_cut(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import guardia.storage.tsdb.db as dbmod

    db = _late_store(tmp_path)
    put(db, [("int", H + 2 * MIN), ("int", H + 6 * MIN)])
    real = dbmod.write_block
    sneaked: list[Any] = []

    def write_block(*a: Any, **kw: Any) -> Any:
        if not sneaked:  # an append while the late block is written, among its samples
            sneaked.append(put(db, [("int", H + 4 * MIN)], columns=True))
        return real(*a, **kw)

    monkeypatch.setattr(dbmod, "write_block", write_block)
    db.maintain()
    assert sneaked[0].appended == 1
    want = [*_in_order_times(), H + 2 * MIN, H + 4 * MIN, H + 6 * MIN]
    expect(db, "int", want)
    assert db.histograms.late_samples() == 1  # the one that came meanwhile, in the head still
    db.maintain()
    assert db.histograms.late_samples() == 0
    expect(db, "int", want)
    db.close()


@pytest.mark.parametrize("window", [0, 30 * MIN])
def test_a_series_twice_in_one_commit_is_checked_in_the_order_given(tmp_path: Path, window: int) -> None:
    """Remote write sends a series' samples in one request: one older than the one before it
    is out of order (refused without a window, taken within one), whichever append path."""
    db = TSDB.open(tmp_path, opts(window=window))
    put(db, [("int", 10 * MIN)])
    app = db.appender()
    for t in (20 * MIN, 15 * MIN, 20 * MIN, 25 * MIN):
        app.append_histogram(series("int"), t, hist("int", t))
    ref = app.ref(series("float"))
    times = np.array([20 * MIN, 15 * MIN, 20 * MIN], dtype=np.int64)
    app.append_histograms([ref] * 3, times, HistCols.from_objects([hist("float", int(t)) for t in times]))
    st = app.commit()
    if window:
        assert (st.ooo_appended, st.out_of_order, st.rejected) == (2, 0, 0)
        expect(db, "int", [10 * MIN, 15 * MIN, 20 * MIN, 25 * MIN])
        expect(db, "float", [15 * MIN, 20 * MIN])
    else:
        assert (st.ooo_appended, st.out_of_order) == (0, 2)
        expect(db, "int", [10 * MIN, 20 * MIN, 25 * MIN])
        expect(db, "float", [20 * MIN])
    db.close()
    db = TSDB.open(tmp_path, opts(window=window))  # the WAL brings back the same
    expect(db, "int", [10 * MIN, 15 * MIN, 20 * MIN, 25 * MIN] if window else [10 * MIN, 20 * MIN, 25 * MIN])
    db.close()


def test_time_retention_takes_late_histograms_with_the_block_they_were_merged_into(tmp_path: Path) -> None:
    db = _late_store(tmp_path)
    late = list(range(H, H + 20 * MIN, 2 * MIN))
    put(db, [(k, t) for t in late for k in KINDS])
    db.maintain()  # the late block, merged into [0, 2h)
    more = list(range(5 * H + MIN, 6 * H, 2 * MIN))
    put(db, [(k, t) for t in more for k in KINDS])
    db.maintain()  # the head now spans more than 1.5 ranges: [2h, 4h) is cut
    assert sorted((b.mint, b.maxt) for b in db.blocks) == [(0, 2 * H - 1), (2 * H, 4 * H - 1)]
    for k in KINDS:
        expect(db, k, _in_order_times() + late + more)
    db.close()
    db = TSDB.open(tmp_path, TSDBOptions(out_of_order_time_window_ms=6 * H, block_range_ms=2 * H,
                                         retention_ms=2 * H))
    rep = db.maintain()
    assert [why for _, why in rep.deleted] == ["time"]
    for k in KINDS:
        expect(db, k, [t for t in _in_order_times() + more if t >= 2 * H])
    db.close()
