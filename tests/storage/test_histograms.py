"""Native histogram samples in the embedded store: WAL, checkpoint, range files, retention,
and queries through the PromQL engine."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from guardia.model import Labels, Matcher, MatchType
from guardia.model.histogram import CUSTOM_BUCKETS_SCHEMA, GAUGE, FloatHistogram
from guardia.promql import Engine
from guardia.storage.tsdb import TSDB, TSDBOptions
from guardia.storage.tsdb.histograms import (
    HistogramDecodeError,
    decode_histogram,
    decode_samples,
    encode_histogram,
    encode_samples,
)

H = Labels({"__name__": "req_duration_seconds", "job": "api"})
SEL = [Matcher("__name__", MatchType.EQUAL, "req_duration_seconds")]
MIN = 60_000


def hist(i: int) -> FloatHistogram:
    """The i-th scrape of a counter histogram: one observation per minute in (1,2]."""
    return FloatHistogram(schema=0, count=float(i), sum=1.5 * i, zero_threshold=2.0**-128,
                          positive={1: float(i)})


def test_codec_round_trip() -> None:
    cases = [
        hist(7),
        FloatHistogram(schema=-4, count=0.5, sum=-3.25, zero_count=0.25, negative={-3: 0.25, 5: 0.25},
                       counter_reset_hint=GAUGE),
        FloatHistogram(schema=CUSTOM_BUCKETS_SCHEMA, count=6, sum=math.inf, custom_values=[0.1, 1, 10],
                       positive={0: 1.0, 3: 5.0}),
    ]
    for h in cases:
        buf = bytearray()
        encode_histogram(buf, h)
        got, end = decode_histogram(bytes(buf), 0)
        assert got == h and end == len(buf)
    # whole-number counts are varints: a scraped histogram with 4 buckets fits in few bytes
    small = bytearray()
    encode_histogram(small, FloatHistogram(count=10, sum=12.5, positive={0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0}))
    assert len(small) < 40
    samples = [(H, 123, cases[0]), (Labels({"__name__": "x"}), -5, cases[1])]
    assert decode_samples(encode_samples(samples)) == samples
    with pytest.raises(HistogramDecodeError):
        decode_samples(encode_samples(samples)[:-3])


def _reference_encoding(h: FloatHistogram) -> bytes:
    """The range-file / WAL encoding of a histogram written out field by field, the slow way
    (what the encoder's fast paths must reproduce)."""
    import struct

    from guardia.model.varint import encode_varint

    def zz(n: int) -> int:
        return (n << 1) ^ (n >> 63)

    counts = [h.zero_count, h.count, *h.positive.values(), *h.negative.values()]
    whole = all(math.isfinite(c) and 0 <= c < 2**53 and c == int(c) for c in counts)
    out = bytearray([h.counter_reset_hint | (16 if whole else 0)])
    out += encode_varint(zz(h.schema)) + struct.pack("<dd", h.zero_threshold, h.sum)

    def count(c: float) -> bytes:
        return encode_varint(int(c)) if whole else struct.pack("<d", c)

    out += count(h.zero_count) + count(h.count) + encode_varint(len(h.custom_values))
    out += b"".join(struct.pack("<d", v) for v in h.custom_values)
    for side in (h.positive, h.negative):
        out += encode_varint(len(side))
        prev = 0
        for i in sorted(side):
            out += encode_varint(zz(i - prev)) + count(side[i])
            prev = i
    return bytes(out)


def test_codec_round_trips_random_layouts_and_refuses_every_truncation() -> None:
    """Consecutive and gapped indexes, negative ones, a first index of 1 (zig-zag 2, the
    same byte as a +1 step), counts of one to nine varint bytes, float counts."""
    import random

    rng = random.Random(9)
    for trial in range(300):
        n = rng.randint(0, 30)
        start = rng.randint(-40, 40)
        idx = list(range(start, start + n)) if trial % 3 else sorted(rng.sample(range(-200, 200), n))
        big = rng.choice([1, 200, 70_000, 2**40, 2**62])
        whole = trial % 5 != 0
        counts = [float(rng.randint(0, big)) if whole else rng.uniform(0, 9) for _ in idx]
        h = FloatHistogram(schema=rng.randint(-4, 8), count=float(sum(counts)), sum=rng.uniform(-1e9, 1e9),
                           zero_threshold=0.001, zero_count=float(rng.randint(0, big)) if whole else 0.5,
                           positive=dict(zip(idx, counts, strict=True)),
                           negative={1: 3.0, 2: 4.0} if trial % 7 == 0 else {},
                           custom_values=[0.5, 1.0] if trial % 11 == 0 else [],
                           counter_reset_hint=trial % 4)
        buf = bytearray()
        encode_histogram(buf, h)
        assert bytes(buf) == _reference_encoding(h)  # the format, byte for byte
        got, end = decode_histogram(bytes(buf), 0)
        assert got == h and list(got.positive) == sorted(idx) and end == len(buf)
        for cut in range(1, len(buf), 7):
            with pytest.raises(HistogramDecodeError, match="damaged histogram"):
                decode_histogram(bytes(buf[:cut]), 0)


def _fill(db: TSDB, n: int, step: int = MIN) -> None:
    for i in range(1, n + 1):
        app = db.appender()
        app.append_histogram(H, i * step, hist(i))
        app.append(Labels({"__name__": "up", "job": "api"}), i * step, 1.0)
        assert app.commit().appended == 2


def _points(db: TSDB, mint: int = 0, maxt: int = 10**12) -> list[tuple[int, float]]:
    q = db.querier(mint, maxt)
    try:
        (s,) = q.select(SEL)
        assert s.histograms is not None
        return [(t, h.count) for t, h in zip(s.timestamps.tolist(), s.histograms.tolist(), strict=True)]
    finally:
        q.close()


def test_append_query_and_replay(tmp_path: Path) -> None:
    db = TSDB.open(tmp_path)
    _fill(db, 10)
    # refused like floats: out of order and a different value at the same time
    app = db.appender()
    app.append_histogram(H, 5 * MIN, hist(99))
    app.append_histogram(H, 10 * MIN, hist(99))
    app.append_histogram(H, 10 * MIN, hist(10))  # the same again: fine, not stored twice
    st = app.commit()
    assert (st.out_of_order, st.duplicate, st.appended) == (1, 1, 1)
    assert _points(db) == [(i * MIN, float(i)) for i in range(1, 11)]
    # PromQL over the store: one observation per minute
    res = Engine().instant(db, "histogram_count(rate(req_duration_seconds[5m]))", 10 * MIN)
    assert [round(s.v * 60, 6) for s in res.value] == [1.0]
    res = Engine().instant(db, "histogram_quantile(0.5, rate(req_duration_seconds[5m]))", 10 * MIN)
    assert res.value[0].v == pytest.approx(math.sqrt(2))
    assert "req_duration_seconds" in db.querier(0, 10**12).label_values("__name__")
    db.close()
    db = TSDB.open(tmp_path)  # the WAL brings them back
    assert _points(db) == [(i * MIN, float(i)) for i in range(1, 11)]
    db.checkpoint()
    db.close()
    db = TSDB.open(tmp_path)  # and so does a checkpoint
    assert _points(db) == [(i * MIN, float(i)) for i in range(1, 11)]
    db.close()


def test_blocks_and_retention(tmp_path: Path) -> None:
    r = 20 * MIN
    opts = TSDBOptions(block_range_ms=r, retention_ms=0)
    db = TSDB.open(tmp_path, opts)
    _fill(db, 120)  # two hours, a sample a minute
    db.maintain()
    assert [b for b in db.blocks if b.histograms is not None], "older histogram samples went into blocks"
    assert not (tmp_path / "histograms").exists()
    assert len(db.histograms) < 120
    assert _points(db) == [(i * MIN, float(i)) for i in range(1, 121)]
    # older than what the blocks hold: refused as out of bounds
    app = db.appender()
    app.append_histogram(H, 2 * MIN, hist(2))
    assert app.commit().out_of_bounds == 1
    db.close()
    opts = TSDBOptions(block_range_ms=r, retention_ms=60 * MIN)
    db = TSDB.open(tmp_path, opts)
    assert _points(db) == [(i * MIN, float(i)) for i in range(1, 121)]
    # an hour later, retention (60 min) drops the oldest blocks, histograms with them
    for i in range(121, 181):
        app = db.appender()
        app.append_histogram(H, i * MIN, hist(i))
        app.commit()
    db.maintain()
    pts = _points(db)
    assert pts[-1] == (180 * MIN, 180.0)
    assert (180 - 60 - 3 * 20) * MIN <= pts[0][0] <= (180 - 60) * MIN  # whole blocks go
    db.close()


def test_stale_histogram_ends_the_series(tmp_path: Path) -> None:
    """Prometheus marks a native histogram series stale with a histogram whose sum is the
    staleness NaN (remote write sends it so): the series ends there."""
    from guardia.model import STALE_NAN

    db = TSDB.open(tmp_path)
    _fill(db, 3)
    app = db.appender()
    app.append_histogram(H, 4 * MIN, FloatHistogram(sum=STALE_NAN))
    app.commit()
    engine = Engine()
    assert len(engine.instant(db, "req_duration_seconds", 3 * MIN + 30_000).value) == 1
    assert engine.instant(db, "req_duration_seconds", 4 * MIN + 30_000).value == []
    db.close()


def test_snapshot_carries_histograms(tmp_path: Path) -> None:
    r = 20 * MIN
    db = TSDB.open(tmp_path / "d", TSDBOptions(block_range_ms=r))
    _fill(db, 60)
    db.maintain()  # some in range files, the newest in memory
    names = db.snapshot(tmp_path / "snap")
    assert names
    db.close()
    snap = TSDB.open(tmp_path / "snap", TSDBOptions(block_range_ms=r))
    assert _points(snap) == [(i * MIN, float(i)) for i in range(1, 61)]
    snap.close()


def test_size_retention_counts_histograms_in_blocks(tmp_path: Path) -> None:
    r = 20 * MIN
    db = TSDB.open(tmp_path, TSDBOptions(block_range_ms=r, max_block_range_ms=r))
    for i in range(1, 121):
        app = db.appender()
        app.append_histogram(H, i * MIN, hist(i))
        app.commit()
        if i % 20 == 0:
            db.maintain()  # a block at a time, as a running server cuts
    hist_blocks = [b for b in db.blocks if b.histograms is not None]
    assert len(hist_blocks) >= 3 and all(b.num_series == 0 for b in hist_blocks)  # histograms alone
    newest = max(db.blocks, key=lambda b: b.maxt)
    budget = db.wal_bytes() + newest.size_bytes() + 1
    oldest_kept = newest.mint
    db.close()
    db = TSDB.open(tmp_path, TSDBOptions(block_range_ms=r, max_block_range_ms=r, retention_bytes=budget))
    db.maintain()
    assert [b.ulid for b in db.blocks] == [newest.ulid]
    pts = _points(db)
    assert pts[0][0] == oldest_kept and pts[-1] == (120 * MIN, 120.0)  # the newest block and the head stay
    db.close()
