"""Native histograms inside blocks: the page codec, head → block → compaction → restart
round trips bit for bit, vertical compaction, old range files migrated, snapshots, and a
SIGKILL at each point of a head cut."""

from __future__ import annotations

import math
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guardia.model import STALE_NAN, Labels, Matcher, MatchType, is_stale_nan
from guardia.model.histogram import CUSTOM_BUCKETS_SCHEMA, FloatHistogram
from guardia.promql import Engine
from guardia.storage.tsdb import TSDB, TSDBOptions
from guardia.storage.tsdb.histpages import HistogramPage, HistogramPageError, encode_page

MIN = 60_000
DATA = Path(__file__).with_name("data")


def bits(h: FloatHistogram) -> tuple[Any, ...]:
    """Every field of a histogram, floats as their bit patterns (NaNs and -0.0 compare)."""
    def f(x: float) -> bytes:
        return struct.pack("<d", x)
    return (h.schema, f(h.count), f(h.sum), f(h.zero_threshold), f(h.zero_count),
            sorted((i, f(c)) for i, c in h.positive.items()),
            sorted((i, f(c)) for i, c in h.negative.items()),
            [f(c) for c in h.custom_values], h.counter_reset_hint)


def random_hist(rng: random.Random, k: int, base: FloatHistogram | None) -> FloatHistogram:
    """A histogram growing from ``base`` (a counter), or a fresh one; integer or float."""
    if base is not None and rng.random() < 0.9:
        h = base.copy()
        for side in (h.positive, h.negative):
            for i in side:
                side[i] += rng.choice([0, 1, 2, 5]) if float(side[i]).is_integer() else rng.random()
        if rng.random() < 0.05:
            h.positive[max(h.positive, default=0) + 2] = 1.0  # a new bucket: a new layout
        h.zero_count += 1 if float(h.zero_count).is_integer() else 0.25
        h.count = h.zero_count + sum(h.positive.values()) + sum(h.negative.values())
        if rng.random() < 0.1:
            h.count += 1  # a NaN observation: the count is more than the buckets explain
        h.sum += rng.random()
        h.counter_reset_hint = rng.choice([0, 0, 0, 2])
        return h
    schema = rng.choice([*range(-4, 9), CUSTOM_BUCKETS_SCHEMA])
    whole = rng.random() < 0.6

    def c() -> float:
        return float(rng.randrange(0, 50)) if whole else rng.random() * 10

    custom: list[float] = []
    if schema == CUSTOM_BUCKETS_SCHEMA:
        custom = sorted(rng.sample([0.1, 0.5, 1.0, 2.5, 10.0, 100.0], 3))
    pos = {i: c() for i in sorted(rng.sample(range(-30, 30), rng.randrange(0, 12)))}
    if custom:
        pos = {i: c() for i in range(rng.randrange(0, 4))}
    neg = {} if custom else {i: c() for i in sorted(rng.sample(range(-30, 30), rng.randrange(0, 4)))}
    zc = 0.0 if custom else c()
    h = FloatHistogram(schema=schema, count=zc + sum(pos.values()) + sum(neg.values()),
                       sum=rng.choice([rng.random() * 100, -0.0, math.nan, math.inf, STALE_NAN + 0.0]),
                       zero_threshold=0.0 if custom else rng.choice([0.0, 2.0**-128, 0.001]),
                       zero_count=zc, positive=pos, negative=neg, custom_values=custom,
                       counter_reset_hint=rng.choice([0, 1, 2, 3]))
    if k == 0:
        h.counter_reset_hint = 1
    return h


def test_pages_round_trip_bit_for_bit_and_refuse_damage() -> None:
    rng = random.Random(27)
    rows = []
    for s in range(40):
        n = rng.choice([1, 2, 3, 50, 300])
        t = rng.randrange(0, 10**12)
        ts, hs = [], []
        prev = None
        for k in range(n):
            t += rng.choice([15_000, 15_000, 15_000, 14_999, 30_000]) if s % 2 else 15_000
            prev = random_hist(rng, k, prev)
            ts.append(t)
            hs.append(prev)
        rows.append((ts, hs))
    blob = encode_page(rows)
    page = HistogramPage(blob)
    for i, (ts, hs) in enumerate(rows):
        got_t, got_h = page.row(i, -(2**63), 2**63 - 1)
        assert got_t == ts
        assert [bits(h) for h in got_h] == [bits(h) for h in hs], f"row {i}"
        if len(ts) > 4:  # a time slice reads the middle only
            mid_t, mid_h = page.row(i, ts[1], ts[-2])
            assert mid_t == ts[1:-1] and [bits(h) for h in mid_h] == [bits(h) for h in hs[1:-1]]
    # every truncation, and flipped bytes in the body, are refused (never a wrong answer)
    for cut in range(0, len(blob), max(1, len(blob) // 200)):
        with pytest.raises(HistogramPageError):
            HistogramPage(blob[:cut])
    bad = bytearray(blob)
    bad[0] ^= 1
    with pytest.raises(HistogramPageError, match="magic"):
        HistogramPage(bytes(bad))


def test_a_steady_counter_costs_a_few_bytes_per_sample() -> None:
    """A scraped schema-3 histogram with 20 buckets growing steadily: delta of deltas
    turns it into zeros (the classic equivalent is 23 float series)."""
    rows = []
    for s in range(64):
        ts = [1_700_000_000_000 + k * 15_000 for k in range(480)]
        hs = [FloatHistogram(schema=3, count=float(210 * (k + 1) * (1 + s % 7)), sum=630.0 * (k + 1),
                             zero_threshold=2.0**-128,
                             positive={8 + j: float((j + 1) * (k + 1) * (1 + s % 7)) for j in range(20)})
              for k in range(480)]
        rows.append((ts, hs))
    blob = encode_page(rows)
    assert len(blob) / (64 * 480) < 1.0
    page = HistogramPage(blob)
    assert [bits(h) for h in page.row(63, 0, 2**62)[1]] == [bits(h) for h in rows[63][1]]


SEL = [Matcher("__name__", MatchType.EQUAL, "rpc_seconds")]


def _scenario(n: int, step: int = MIN) -> dict[Labels, list[tuple[int, FloatHistogram | None]]]:
    """Every schema -4..8 and custom buckets, integer and float series, resets and hints,
    and a staleness marker (None) in two series, a sample a minute for ``n`` minutes."""
    rng = random.Random(8)
    out: dict[Labels, list[tuple[int, FloatHistogram | None]]] = {}
    for schema in [*range(-4, 9), CUSTOM_BUCKETS_SCHEMA]:
        for kind in ("int", "float"):
            lb = Labels({"__name__": "rpc_seconds", "schema": str(schema), "kind": kind})
            pts: list[tuple[int, FloatHistogram | None]] = []
            prev: FloatHistogram | None = None
            for k in range(n):
                t = (k + 1) * step
                if k == n // 3 and schema in (0, 5):
                    pts.append((t, None))  # stale, then the series comes back
                    prev = None
                    continue
                if k and k % 37 == 0:
                    prev = None  # a counter reset
                h = random_hist(rng, k, prev)
                h.schema, h.counter_reset_hint = schema, (1 if prev is None and k else h.counter_reset_hint)
                if schema == CUSTOM_BUCKETS_SCHEMA:
                    h.custom_values, h.zero_threshold = [0.5, 1.0, 5.0], 0.0
                    h.zero_count, h.negative = 0.0, {}
                    h.positive = {i: c for i, c in h.positive.items() if 0 <= i <= 3}
                    h.count = sum(h.positive.values())
                elif h.custom_values:
                    h.custom_values = []
                if kind == "float":
                    h = h.copy().mul(1 / 3)
                    h.counter_reset_hint = 3 if k % 2 else h.counter_reset_hint
                pts.append((t, h))
                prev = h if kind == "int" else None
            out[lb] = pts
    return out


def _write(db: TSDB, data: dict[Labels, list[tuple[int, FloatHistogram | None]]], lo: int, hi: int) -> None:
    for t in range(lo, hi + 1, MIN):
        app = db.appender()
        for lb, pts in data.items():
            for pt, h in pts:
                if pt == t:
                    if h is None:
                        app.append(lb, t, STALE_NAN)
                    else:
                        app.append_histogram(lb, t, h)
        app.commit()


def _check(db: TSDB, data: dict[Labels, list[tuple[int, FloatHistogram | None]]], upto: int) -> None:
    q = db.querier(0, 10**13)
    try:
        got = {s.labels: s for s in q.select(SEL)}
    finally:
        q.close()
    assert set(got) == set(data)
    for lb, pts in data.items():
        s = got[lb]
        want = [(t, h) for t, h in pts if t <= upto]
        assert s.timestamps.tolist() == [t for t, _ in want], lb
        hs = s.histograms.tolist() if s.histograms is not None else [None] * len(want)
        for (t, h), gh, v in zip(want, hs, s.values.tolist(), strict=True):
            if h is None:
                assert gh is None and is_stale_nan(v), (lb, t)
            else:
                assert gh is not None and bits(gh) == bits(h), (lb, t)


def test_head_to_blocks_to_compaction_to_restart_bit_for_bit(tmp_path: Path) -> None:
    r = 20 * MIN
    opts = TSDBOptions(block_range_ms=r, retention_ms=0)
    data = _scenario(200)
    db = TSDB.open(tmp_path, opts)
    _write(db, data, MIN, 100 * MIN)
    _check(db, data, 100 * MIN)  # from the head
    rep = db.maintain()
    assert rep.blocks_cut and all(b.histograms is not None for b in db.blocks)
    _check(db, data, 100 * MIN)  # from blocks and the head
    _write(db, data, 101 * MIN, 200 * MIN)
    rep = db.maintain()
    assert rep.compacted, "2 × 20 min blocks → 60 min"
    assert any(b.level > 1 and b.histograms is not None for b in db.blocks)
    _check(db, data, 200 * MIN)
    n_hist = sum(b.histograms.num_samples for b in db.blocks if b.histograms is not None)
    assert n_hist + len(db.histograms) == sum(h is not None for pts in data.values() for _, h in pts)
    db.close()
    db = TSDB.open(tmp_path, opts)  # restart: blocks, then the WAL's newest samples
    _check(db, data, 200 * MIN)
    # PromQL reads them the same from blocks as from the head
    res = Engine().instant(db, 'histogram_count(rpc_seconds{schema="3", kind="int"})', 30 * MIN)
    want = next(h for t, h in data[Labels({"__name__": "rpc_seconds", "schema": "3", "kind": "int"})]
                if t == 30 * MIN)
    assert want is not None and res.value[0].v == want.count
    db.close()


def test_vertical_compaction_keeps_histograms(tmp_path: Path) -> None:
    """Late floats written below the head go into an overlapping block; the merge of the
    two keeps the histograms of the first."""
    r = 20 * MIN
    opts = TSDBOptions(block_range_ms=r, retention_ms=0, out_of_order_time_window_ms=60 * MIN)
    data = _scenario(60)
    db = TSDB.open(tmp_path, opts)
    _write(db, data, MIN, 60 * MIN)
    db.maintain()
    assert db.blocks
    app = db.appender()
    late = Labels({"__name__": "late"})
    app.append(late, 5 * MIN + 1, 1.0)  # below the head: into a block of its own, then merged
    assert app.commit().appended == 1
    rep = db.maintain()
    assert rep.compacted and db.metrics.vertical_compactions._value.get() >= 1
    _check(db, data, 60 * MIN)
    db.close()
    db = TSDB.open(tmp_path, opts)
    _check(db, data, 60 * MIN)
    db.close()


def _legacy_expected() -> list[tuple[Labels, int, FloatHistogram]]:
    sys.path.insert(0, str(DATA))
    try:
        from make_histograms_range_files import expected_samples  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    return [(Labels(lb), t, h) for lb, t, h in expected_samples()]


def _all_histograms(db: TSDB) -> list[tuple[Labels, int, tuple[Any, ...]]]:
    q = db.querier(-(2**62), 2**62)
    try:
        out = []
        for s in q.select([Matcher("__name__", MatchType.REGEX, ".*_seconds")]):
            assert s.histograms is not None
            pairs = zip(s.timestamps.tolist(), s.histograms.tolist(), strict=True)
            out += [(s.labels, t, bits(h)) for t, h in pairs]
        return sorted(out, key=lambda x: (str(x[0]), x[1]))
    finally:
        q.close()


def test_old_range_files_become_blocks_at_start_up(tmp_path: Path) -> None:
    """A data directory written by the code before this change (range files beside the
    blocks, ``data/make_histograms_range_files.py``): read-only opens read the files as they
    are; a read-write open turns each into a block, and every sample reads back bit for
    bit, through compaction and a restart too."""
    want = sorted(((lb, t, bits(h)) for lb, t, h in _legacy_expected()), key=lambda x: (str(x[0]), x[1]))
    d = tmp_path / "d"
    shutil.copytree(DATA / "histograms_range_files", d)
    files = sorted(p.name for p in (d / "histograms").iterdir())
    assert len(files) == 3
    opts = TSDBOptions(block_range_ms=20 * MIN, retention_ms=0)
    ro = TSDB.open(d, opts, read_only=True)
    assert _all_histograms(ro) == want
    ro.close()
    assert sorted(p.name for p in (d / "histograms").iterdir()) == files  # untouched
    db = TSDB.open(d, opts)
    assert not (d / "histograms").exists()
    migrated = [b for b in db.blocks if b.meta["guardia"].get("migratedFrom")]
    assert sorted(n for b in migrated for n in b.meta["guardia"]["migratedFrom"]) == files
    assert _all_histograms(db) == want
    db.maintain()  # the migrated blocks overlap the float blocks: merged
    assert _all_histograms(db) == want
    db.close()
    db = TSDB.open(d, opts)
    assert _all_histograms(db) == want
    up = db.querier(0, 10**12).select([Matcher("__name__", MatchType.EQUAL, "up")])
    assert len(up) == 1 and up[0].timestamps.tolist() == list(range(MIN, 91 * MIN, MIN))
    db.close()


def test_a_crash_between_migrating_a_file_and_deleting_it_repeats_nothing(tmp_path: Path) -> None:
    d = tmp_path / "d"
    shutil.copytree(DATA / "histograms_range_files", d)
    keep = tmp_path / "keep"
    shutil.copytree(d / "histograms", keep)
    TSDB.open(d, TSDBOptions(block_range_ms=20 * MIN)).close()
    shutil.copytree(keep, d / "histograms")  # as if the files had not been deleted yet
    db = TSDB.open(d, TSDBOptions(block_range_ms=20 * MIN))
    assert not (d / "histograms").exists()
    want = sorted(((lb, t, bits(h)) for lb, t, h in _legacy_expected()), key=lambda x: (str(x[0]), x[1]))
    assert _all_histograms(db) == want
    db.close()


def test_a_damaged_range_file_is_set_aside_with_its_name(tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    d = tmp_path / "d"
    shutil.copytree(DATA / "histograms_range_files", d)
    f = d / "histograms" / "1200000-2400000.nh"
    f.write_bytes(f.read_bytes()[:100])
    db = TSDB.open(d, TSDBOptions(block_range_ms=20 * MIN))
    db.close()
    assert "event=histogram_range_file_unreadable" in caplog.text and "1200000-2400000.nh" in caplog.text
    assert (d / "histograms" / "1200000-2400000.nh.damaged").is_file()


def test_snapshot_holds_histograms_of_blocks_and_head(tmp_path: Path) -> None:
    opts = TSDBOptions(block_range_ms=20 * MIN, retention_ms=0)
    data = _scenario(70)
    db = TSDB.open(tmp_path / "d", opts)
    _write(db, data, MIN, 70 * MIN)
    db.maintain()
    assert db.blocks and len(db.histograms)
    names = db.snapshot(tmp_path / "snap")
    db.close()
    assert len(names) == len(os.listdir(tmp_path / "snap"))
    snap = TSDB.open(tmp_path / "snap", opts)
    _check(snap, data, 70 * MIN)
    snap.close()


CHILD = Path(__file__).with_name("crash_hist_child.py")


def _expected(s: int, t: int) -> FloatHistogram:
    sys.path.insert(0, str(CHILD.parent))
    try:
        from crash_hist_child import hist  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    out: FloatHistogram = hist(s, t)
    return out


def _run(path: Path, point: str, delay: float) -> list[int]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, str(CHILD), str(path), point], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first, proc.stderr.read().decode() if proc.stderr else "child died"
    if point == "none":
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    return [int(first), *(int(x) for x in out.split())]


@pytest.mark.parametrize("point", ["block_written", "histogram_part", "checkpoint", "none"])
def test_sigkill_in_the_middle_of_a_cut_loses_nothing(tmp_path: Path, point: str) -> None:
    rng = random.Random(point)
    path = tmp_path / "data"
    acked: list[int] = []
    for run in range(3):
        acked += _run(path, point, rng.uniform(0.2, 1.5))
        db = TSDB.open(path, TSDBOptions(block_range_ms=60_000, retention_ms=0))
        try:
            assert not [p for p in path.iterdir() if p.name.endswith(".tmp")]
            q = db.querier(0, 10**12)
            series = {s.labels.get("s"): s for s in q.select([Matcher("__name__", MatchType.EQUAL, "h")])}
            q.close()
            assert sorted(series) == ["0", "1", "2"]
            for name, s in series.items():
                ts = s.timestamps.tolist()
                assert (np.diff(s.timestamps) > 0).all(), f"run {run}: duplicate samples in {name}"
                missing = sorted(set(acked) - set(ts))
                assert not missing, f"run {run} ({point}): lost {len(missing)} in {name}: {missing[:5]}"
                assert s.histograms is not None
                for t, h in zip(ts, s.histograms.tolist(), strict=True):
                    assert bits(h) == bits(_expected(int(name), t)), (run, name, t)
            assert any(b.histograms is not None for b in db.blocks), "cuts happened"
        finally:
            db.close()


def test_overlapping_histogram_sources_merge_first_wins(tmp_path: Path) -> None:
    """Two sources holding the same series over overlapping times (blocks being merged
    vertically): one sample per timestamp, the first source's where both have one."""
    from guardia.storage.tsdb.block import Block
    from guardia.storage.tsdb.compact import write_block
    from guardia.storage.tsdb.histblock import MemoryHistograms

    lb = Labels({"__name__": "rpc_seconds"})
    a = MemoryHistograms({lb: ([1000, 2000, 3000], [FloatHistogram(count=float(k)) for k in (1, 2, 3)])})
    b = MemoryHistograms({lb: ([2000, 2500, 4000], [FloatHistogram(count=float(k)) for k in (20, 25, 40)]),
                          Labels({"__name__": "other"}): ([1500], [FloatHistogram(sum=1.5)])})
    path = write_block(tmp_path, [], 0, 10_000, hist_sources=[a, b])
    assert path is not None
    blk = Block(path)
    assert blk.histograms is not None and blk.num_series == 0
    got = blk.histograms.select(SEL, 0, 10_000)
    assert [(t, h.count) for t, h in zip(*got[lb], strict=True)] == [
        (1000, 1.0), (2000, 2.0), (2500, 25.0), (3000, 3.0), (4000, 40.0)]
    assert blk.meta["stats"]["numHistogramSamples"] == 6 and blk.meta["stats"]["numHistogramSeries"] == 2
    blk.close()


def test_a_damaged_histogram_page_is_skipped_and_counted(tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    opts = TSDBOptions(block_range_ms=20 * MIN, retention_ms=0)
    data = _scenario(70)
    db = TSDB.open(tmp_path, opts)
    _write(db, data, MIN, 70 * MIN)
    db.maintain()
    blk = next(b for b in db.blocks if b.histograms is not None)
    db.close()
    f = blk.path / "histograms" / "000001"
    raw = bytearray(f.read_bytes())
    raw[40] ^= 0xFF
    f.write_bytes(bytes(raw))
    db = TSDB.open(tmp_path, opts)
    try:
        assert "kind=histogram" in caplog.text and "checksum mismatch" in caplog.text
        assert db.metrics.block_corruptions._value.get() >= 1
        q = db.querier(0, 10**12)
        series = q.select(SEL)
        q.close()
        assert len(series) == len(data)  # the other blocks and the head still answer
        lost = {s.labels: s for s in series}
        lb = next(iter(data))
        assert not any(blk.mint <= t <= blk.maxt for t in lost[lb].timestamps.tolist())
        assert any(t > blk.maxt for t in lost[lb].timestamps.tolist())
    finally:
        db.close()


def test_a_damaged_histogram_index_costs_the_block_its_histograms_only(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    opts = TSDBOptions(block_range_ms=20 * MIN, retention_ms=0)
    data = _scenario(70)
    db = TSDB.open(tmp_path, opts)
    _write(db, data, MIN, 70 * MIN)
    app = db.appender()
    for t in range(MIN, 71 * MIN, MIN):
        app.append(Labels({"__name__": "up"}), t, 1.0)
    app.commit()
    db.maintain()
    blk = next(b for b in db.blocks if b.histograms is not None)
    db.close()
    idx = blk.path / "histograms" / "index"
    idx.write_bytes(idx.read_bytes()[:-5])
    db = TSDB.open(tmp_path, opts)
    try:
        assert "part=histograms" in caplog.text and blk.ulid in caplog.text
        again = next(b for b in db.blocks if b.ulid == blk.ulid)
        assert again.histograms is None and again.num_series == 1  # its floats still serve
        q = db.querier(0, 10**12)
        (up,) = q.select([Matcher("__name__", MatchType.EQUAL, "up")])
        q.close()
        assert up.timestamps.tolist()[0] == MIN
    finally:
        db.close()


def test_select_runs_gives_the_same_samples_as_columns(tmp_path: Path) -> None:
    db = TSDB.open(tmp_path, TSDBOptions(block_range_ms=20 * MIN, retention_ms=0))
    data = _scenario(70)
    _write(db, data, MIN, 70 * MIN)
    db.maintain()
    try:
        parts = [b.histograms for b in db.blocks if b.histograms is not None]
        assert parts
        for part in parts:
            objs = part.select(SEL, 10 * MIN, 50 * MIN)
            runs = part.select_runs(SEL, 10 * MIN, 50 * MIN)
            assert objs and list(objs) == list(runs)
            for lb, (ts, hs) in objs.items():
                rts = [t for r in runs[lb] for t in r.ts.tolist()]
                rhs = [h for r in runs[lb] for h in r.histograms()]
                assert rts == ts and [bits(h) for h in rhs] == [bits(h) for h in hs]
                for r in runs[lb]:
                    assert r.values.shape == (r.layout.width, len(r)) and r.hints.shape == (len(r),)
    finally:
        db.close()


def test_block_runs_become_the_engine_s_columns_bit_for_bit(tmp_path: Path) -> None:
    """``querier.runs_as_columns``: a block's runs as ``model.histcols`` columns give back
    the very histograms the objects path gives, bucket columns sorted where a histogram
    listed its buckets out of order."""
    from guardia.storage.tsdb.compact import write_block
    from guardia.storage.tsdb.histblock import MemoryHistograms
    from guardia.storage.tsdb.querier import runs_as_columns

    rng = random.Random(5)
    series: dict[Labels, tuple[list[int], list[FloatHistogram]]] = {}
    for s in range(12):
        prev = None
        ts, hs = [], []
        for k in range(60):
            prev = random_hist(rng, k, prev)
            ts.append((k + 1) * 1000)
            hs.append(prev)
        series[Labels({"__name__": "rpc_seconds", "s": str(s)})] = (ts, hs)
    odd = FloatHistogram(schema=1, count=6.0, sum=2.0, positive={5: 1.0, 2: 3.0}, negative={0: 1.0, -4: 1.0})
    series[Labels({"__name__": "rpc_seconds", "s": "odd"})] = ([1000, 2000], [odd, odd.copy()])
    from guardia.storage.tsdb.block import Block

    path = write_block(tmp_path, [], 0, 100_000, hist_sources=[MemoryHistograms(series)])
    assert path is not None
    blk = Block(path)
    assert blk.histograms is not None
    objs = blk.histograms.select(SEL, 0, 100_000)
    cols = runs_as_columns(blk.histograms.select_runs(SEL, 0, 100_000))
    assert list(objs) == list(cols)
    for lb, (ts, hs) in objs.items():
        cts, hc = cols[lb]
        assert cts == ts
        assert [bits(h) for h in hc.objects().tolist()] == [bits(h) for h in hs], lb
    blk.close()


def test_column_view_of_the_head_gives_the_stored_histograms(tmp_path: Path) -> None:
    """``histblock.ColumnHistograms`` (the head cut's view of the columnar head): runs cut
    where the layout changes, the very histograms the head holds; a computed layout (rows
    missing buckets, ``keep``) goes through objects."""
    from guardia.model.histcols import HistCols
    from guardia.model.histcols import Layout as HCLayout
    from guardia.storage.tsdb.histblock import ColumnHistograms

    rng = random.Random(11)
    hs, prev = [], None
    for k in range(40):
        prev = random_hist(rng, k, prev)
        hs.append(prev)
    cols = HistCols.from_objects(hs)
    lb = Labels({"__name__": "rpc_seconds"})
    ts = [(k + 1) * 1000 for k in range(40)]
    view = ColumnHistograms({lb: (ts, cols.lid.tolist(), cols.row.tolist())}, cols.layouts)
    runs = view.read_runs([lb], 5000, 30_000)[lb]
    got = [h for r in runs for h in r.histograms()]
    assert [t for r in runs for t in r.ts.tolist()] == ts[4:30]
    assert [bits(h) for h in got] == [bits(h) for h in hs[4:30]]
    assert view.span() == (1000, 40_000) and view.histogram_samples() == 40
    keep = HCLayout(0, 0.0, (), (1, 2), (), np.array([[3.0, 0.0, 1.0, 1.0, 2.0], [1.0, 0.0, 1.0, 1.0, 0.0]]),
                    np.zeros(2, dtype=np.int8), np.array([[True, True], [True, False]]))
    kv = ColumnHistograms({lb: ([1, 2], [0, 0], [0, 1])}, [keep])
    (r1, r2) = kv.read_runs([lb], 0, 10)[lb]  # two layouts: bucket 2 is not in the second
    assert r1.histograms()[0].positive == {1: 1.0, 2: 2.0} and r2.histograms()[0].positive == {1: 1.0}


def _columns_as_objects(bc: Any) -> dict[Labels, tuple[list[int], list[tuple[Any, ...]]]]:
    b = bc.starts.tolist()
    hs = bc.hcols.objects().tolist()
    ts = bc.ts.tolist()
    return {lb: (ts[b[i] : b[i + 1]], [bits(h) for h in hs[b[i] : b[i + 1]]])
            for i, lb in enumerate(bc.labels)}


def test_block_pages_straight_to_columns_bit_for_bit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``HistogramPart.select_columns`` (pages decoded straight into the engine's columns,
    all runs of a page restored at once) against the objects path (``select``): the same
    series, timestamps and every histogram field as bits, over random histograms of
    schemas -4..8 and -53 (NaN and staleness-NaN sums, -0.0, new buckets: several runs per
    page, buckets listed out of order), pages whose series all share one layout and one
    length (the one-copy path) and pages of ragged series, for ranges that cut pages
    anywhere and for matchers that pick some series of a page; pages of one layout
    written into one matrix (``histblock._shared_matrix``) too."""
    from guardia.storage.tsdb import histblock
    from guardia.storage.tsdb.block import Block
    from guardia.storage.tsdb.compact import write_block
    from guardia.storage.tsdb.histblock import MemoryHistograms

    rng = random.Random(27)
    series: dict[Labels, tuple[list[int], list[FloatHistogram]]] = {}
    for s in range(150):
        n = rng.choice([1, 2, 3, 40, 90, 120])
        t0 = rng.randrange(0, 30) * 1000
        prev = None
        ts, hs = [], []
        for k in range(n):
            prev = random_hist(rng, k, prev)
            if rng.random() < 0.03:
                prev = prev.copy()
                prev.sum = STALE_NAN + 0.0  # a staleness NaN's payload, kept as bits
            ts.append(t0 + (k + 1) * 1000 + rng.choice([0, 0, 0, 7]))
            hs.append(prev)
        series[Labels({"__name__": "rpc_seconds", "s": f"r{s:03d}", "z": str(s % 3)})] = (ts, hs)
    # series of one layout and one length (whole pages straight from the value words):
    # steady growth with a float sum (second-order columns); random whole growth with a
    # whole sum, a NaN observation (a residual count) and buckets listed out of order;
    # a float gauge (no integer columns: the general way)
    for fam in ("ua", "ub", "uc", "ud", "ue"):
        for s in range(260 if fam == "ua" else 130):
            ts = [(k + 1) * 1000 for k in range(100)]
            hs = []
            acc = [float(s), 0.0, 0.0, 0.0] if fam != "ue" else [2.0**51 + s] * 4  # ue: counts past 2**53
            kind = "ub" if fam == "ue" else fam
            step = [rng.choice([1, 3, 7]) for _ in acc]
            for k in range(100):
                if kind == "ua":
                    h = FloatHistogram(schema=3, count=float(6 * k + s), sum=float(k) * 0.5,
                                       zero_count=float(s),
                                       positive={8: float(k), 9: float(2 * k), 10: float(3 * k)})
                elif kind in ("ub", "ud"):  # steady (second order) or by fits (first order)
                    acc = [a + (d if kind == "ub" else 1000 * (k % 2) + d)
                           for a, d in zip(acc, step, strict=True)]
                    h = FloatHistogram(schema=-2, count=sum(acc) + (fam != "ue"), sum=float(sum(acc) * 2),
                                       zero_count=acc[0],
                                       positive={4: acc[1], -1: acc[2]}, negative={2: acc[3]})
                else:
                    h = FloatHistogram(schema=0, count=rng.random() * 5, sum=rng.random(), zero_count=0.5,
                                       positive={1: rng.random()}, counter_reset_hint=3)
                h.counter_reset_hint = 1 if k == 0 else h.counter_reset_hint
                hs.append(h)
            series[Labels({"__name__": "rpc_seconds", "s": f"{fam}{s:03d}", "z": str(s % 3)})] = (ts, hs)
    odd = FloatHistogram(schema=1, count=6.0, sum=2.0, positive={5: 1.0, 2: 3.0}, negative={0: 1.0, -4: 1.0})
    series[Labels({"__name__": "rpc_seconds", "s": "odd", "z": "0"})] = ([1000, 2000, 3000],
                                                                          [odd, odd.copy(), odd.copy()])
    from guardia.storage.tsdb.histpages import HistogramPage

    straight: list[bool] = []
    real = HistogramPage._uniform

    def spy(page: HistogramPage) -> Any:
        got = real(page)
        straight.append(got is not None)
        return got

    shared: list[bool] = []
    real_shared = histblock._shared_matrix

    def spy_shared(*args: Any) -> Any:
        got = real_shared(*args)
        shared.append(got is not None)
        return got

    monkeypatch.setattr(HistogramPage, "_uniform", spy)
    monkeypatch.setattr(histblock, "_shared_matrix", spy_shared)
    path = write_block(tmp_path, [], 0, 200_000, hist_sources=[MemoryHistograms(series)])
    assert path is not None
    blk = Block(path)
    part = blk.histograms
    assert part is not None and len(part._pt) > 6
    try:
        for matchers in (SEL, [*SEL, Matcher("z", MatchType.EQUAL, "1")],
                         [*SEL, Matcher("s", MatchType.REGEX, "u[abc]0[01].|odd|r01.")],
                         [*SEL, Matcher("s", MatchType.REGEX, "ua1.*")]):  # pages of one layout
            for mint, maxt in ((0, 200_000), (0, 2_000), (15_500, 70_000), (60_000, 60_000),
                               (95_000, 200_000), (300_000, 400_000)):
                objs = part.select(matchers, mint, maxt)
                want = {lb: (ts, [bits(h) for h in hs]) for lb, (ts, hs) in objs.items()}
                got = part.select_columns(matchers, mint, maxt)
                assert list(got.labels) == list(objs), (matchers, mint, maxt)
                assert _columns_as_objects(got) == want, (matchers, mint, maxt)
                assert got.ts.dtype == np.int64 and got.starts[-1] == got.ts.shape[0]
                per = got.per_series()
                assert {lb: (ts, [bits(h) for h in hc.objects().tolist()])
                        for lb, (ts, hc) in per.items()} == want
        assert any(straight) and not all(straight)  # both ways were taken
        assert any(shared) and not all(shared)  # pages into one matrix, and not
    finally:
        blk.close()


def test_a_query_of_one_block_s_histograms_reads_them_as_columns(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the querier: series holding only one block's histograms come straight from
    the block's columns; with staleness markers (floats) in the same series and with the
    head holding samples too they are merged series by series; either way every sample
    is the one the objects path reads."""
    from guardia.storage.tsdb import querier

    straight: list[int] = []
    real = querier._block_columns_alone

    def spy(bc: Any) -> Any:
        got = real(bc)
        straight.append(0 if got is None else len(got))
        return got

    monkeypatch.setattr(querier, "_block_columns_alone", spy)
    db = TSDB.open(tmp_path, TSDBOptions(block_range_ms=20 * MIN, retention_ms=0))
    data = _scenario(70)
    _write(db, data, MIN, 70 * MIN)
    db.maintain()
    try:
        parts = [b.histograms for b in db.blocks if b.histograms is not None]
        assert parts
        _check(db, data, 70 * MIN)
        assert not straight  # blocks and head, and staleness markers: series by series
        plain = [*SEL, Matcher("schema", MatchType.REGEX, "-4|1|8|-53")]  # no staleness marker
        q = db.querier(21 * MIN, 39 * MIN)
        try:
            got = q.select(plain)
        finally:
            q.close()
        want = {lb: [(t, h) for t, h in pts if 21 * MIN <= t <= 39 * MIN] for lb, pts in data.items()
                if lb.get("schema") in ("-4", "1", "8", "-53")}
        assert got.hcols is not None and sorted(s.labels for s in got) == sorted(want)
        for s in got:
            assert s.timestamps.tolist() == [t for t, _ in want[s.labels]]
            assert s.histograms is not None
            assert [bits(h) for h in s.histograms.tolist()] == [bits(h) for _, h in want[s.labels] if h]
        assert straight == [len(want)]  # one block's histograms alone: straight from its columns
    finally:
        db.close()
