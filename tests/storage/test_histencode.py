"""The histogram WAL record written from columns (``tsdb.histencode``) is byte for byte the
record ``encode_samples`` writes from objects, ``decode_columns`` (replay) reads back what
``decode_samples`` reads, and ``HistCols`` gives back the histograms that went in: whole
and fractional counts, NaN and infinite counts, -0.0, sparse and negative buckets,
exponential schemas and custom buckets, every counter reset hint, large
and negative timestamps, layouts shared by some samples and not others."""

from __future__ import annotations

import random

import numpy as np
import pytest

from guardia.model import Labels
from guardia.model.histcols import HistCols
from guardia.model.histogram import FloatHistogram
from guardia.storage.tsdb.histencode import encode_columns
from guardia.storage.tsdb.histograms import (
    HistogramDecodeError,
    decode_columns,
    decode_samples,
    encode_samples,
    label_bytes,
)


def _random(r: random.Random) -> FloatHistogram:
    schema = r.choice([-53, -4, 0, 3, 8])
    whole = r.random() < 0.6

    def count() -> float:
        if whole:
            return float(r.choice([0, 1, 5, 127, 128, 300_000, 2**40]))
        return r.choice([0.5, -1.0, float("nan"), float("inf"), 1e300, -0.0, 3.25])

    base = r.randint(-10, 10)
    pos = {base + k * r.choice([1, 1, 3]): count() for k in range(r.randint(0, 6))}
    neg = {} if schema == -53 else {r.randint(-5, 5): count() for _ in range(r.randint(0, 3))}
    cv = sorted(r.sample([0.1, 0.5, 1.0, 2.5, 10.0], r.randint(0, 4))) if schema == -53 else []
    return FloatHistogram(schema, count(), r.choice([0.0, 1.5, -2.0, float("nan")]),
                          r.choice([0.0, 1e-128, -0.0]), count(), pos, neg, cv, r.randint(0, 3))


def _bits(h: FloatHistogram) -> object:
    return (h.schema, h.count.hex(), h.sum.hex(), h.zero_threshold.hex(), h.zero_count.hex(),
            sorted((i, c.hex()) for i, c in h.positive.items()),
            sorted((i, c.hex()) for i, c in h.negative.items()), [c.hex() for c in h.custom_values],
            h.counter_reset_hint)


def test_the_record_from_columns_is_the_record_from_objects() -> None:
    r = random.Random(27)
    for _ in range(300):
        n = r.randint(1, 30)
        shared = [_random(r) for _ in range(3)]
        hs = [r.choice(shared).copy() if r.random() < 0.7 else _random(r) for _ in range(n)]
        labels = [Labels({"__name__": "x", "i": str(r.randint(0, 5))}) for _ in range(n)]
        ts = [r.choice([0, 1, -5, 1_700_000_000_000, 2**40]) for _ in range(n)]
        want = encode_samples(list(zip(labels, ts, hs, strict=True)))
        cols = HistCols.from_objects(hs)
        assert encode_columns(label_bytes(labels), np.array(ts, dtype=np.int64), cols) == want
        back = cols.objects().tolist()
        assert [_bits(h) for h in back] == [_bits(h) for h in hs]
        assert [_bits(h) for _, _, h in decode_samples(want)] == [_bits(h) for h in hs]
        got_labels, got_ts, got_cols = decode_columns(want, {})
        assert (got_labels, got_ts) == (labels, ts)
        assert [_bits(h) for h in got_cols.objects().tolist()] == [_bits(h) for h in hs]
        for cut in range(1, len(want), max(1, len(want) // 7)):  # a damaged record is refused
            with pytest.raises(HistogramDecodeError):
                decode_columns(want[:cut])


def test_columns_select_and_reorder_without_objects() -> None:
    hs = [FloatHistogram(schema=0, count=float(k), positive={0: float(k)}) for k in range(5)]
    hs[2] = FloatHistogram(schema=-53, count=1.0, positive={1: 1.0}, custom_values=[1.0])
    cols = HistCols.from_objects([*hs, None])
    assert cols.mask().tolist() == [True] * 5 + [False]
    assert len(cols.layouts) == 2
    picked = cols.take(np.array([4, 2, 5, 0]))
    got = picked.objects().tolist()
    assert got[2] is None
    assert [_bits(h) for h in (got[0], got[1], got[3])] == [_bits(hs[4]), _bits(hs[2]), _bits(hs[0])]
    both = HistCols.concat([picked, cols])
    assert [None if h is None else _bits(h) for h in both.objects().tolist()] == [
        None if h is None else _bits(h) for h in [*got, *hs, None]]
