"""Native histogram arithmetic against results worked out by hand from Prometheus's rules."""

from __future__ import annotations

import math
import random
import struct

import pytest

from guardia.model.histogram import (
    COUNTER_RESET,
    CUSTOM_BUCKETS_SCHEMA,
    GAUGE,
    NOT_COUNTER_RESET,
    UNKNOWN,
    FloatHistogram,
    IncompatibleSchemaError,
    adjust_hint,
    exp_bound,
    go_g,
)


def test_string_is_prometheus_string() -> None:
    # The label count_values gives this histogram in Prometheus's aggregators.test.
    h = FloatHistogram(schema=0, sum=10, count=20, zero_threshold=0.001, zero_count=2,
                       positive={0: 1.0, 1: 2.0}, negative={0: 1.0, 1: 2.0})
    assert str(h) == "{count:20, sum:10, [-2,-1):2, [-1,-0.5):1, [-0.001,0.001]:2, (0.5,1]:1, (1,2]:2}"


@pytest.mark.parametrize(("v", "want"), [
    (1.0, "1"), (0.001, "0.001"), (1e-5, "1e-05"), (1e6, "1e+06"), (999999.0, "999999"),
    (1234567.0, "1.234567e+06"), (-2.5, "-2.5"), (math.inf, "+Inf"), (math.nan, "NaN"),
    (0.1, "0.1"), (100.0, "100"), (0.00012345, "0.00012345"), (1.5e-5, "1.5e-05"), (5e-324, "5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"), (-0.0, "-0"), (123456.7, "123456.7"),
    (1e21, "1e+21"), (-1e-7, "-1e-07"), (0.30000000000000004, "0.30000000000000004"),
    (2.0**53, "9.007199254740992e+15"), (-math.inf, "-Inf"), (120.0, "120"), (0.0001, "0.0001"),
])
def test_go_g(v: float, want: str) -> None:
    assert go_g(v) == want


def test_go_g_reads_back_with_the_shortest_digits() -> None:
    """Any finite float64: the text parses back to it, with as many significant digits as
    Python's shortest repr, and in exponent form exactly when Go uses it."""
    rnd = random.Random(7)
    for _ in range(20000):
        v = struct.unpack("<d", struct.pack("<Q", rnd.getrandbits(64)))[0]
        if not math.isfinite(v) or v == 0:
            continue
        text = go_g(v)
        assert float(text) == v, (v, text)
        mant = repr(abs(v)).partition("e")[0]
        digits = mant.replace(".", "").strip("0")
        assert text.lstrip("-").split("e")[0].replace(".", "").strip("0") == digits, (v, text)
        x = math.floor(math.log10(abs(v)))
        assert ("e" in text) == (x < -4 or x >= 6) or abs(abs(v) - 10.0 ** (x + 1)) < 1e-9 * abs(v), (v, text)


def test_bounds() -> None:
    assert exp_bound(0, 0) == 1 and exp_bound(1, 0) == 2 and exp_bound(-1, 0) == 0.5
    assert exp_bound(1, -2) == 16  # each bucket spans 2**4
    assert exp_bound(4, 3) == pytest.approx(math.sqrt(2))
    assert exp_bound(8, 3) == 2


def test_add_reduces_to_the_lower_schema() -> None:
    a = FloatHistogram(schema=1, count=3, sum=5, positive={1: 1.0, 2: 2.0})
    b = FloatHistogram(schema=0, count=4, sum=1, positive={1: 4.0})
    got, reconciled = a.add(b)
    assert not reconciled
    assert got.schema == 0 and got.count == 7 and got.sum == 6
    # schema 1 buckets 1 (1, 1.41] and 2 (1.41, 2] are schema 0 bucket 1 (1, 2].
    assert got.positive == {1: 7.0}
    # The operands are untouched.
    assert a.positive == {1: 1.0, 2: 2.0} and b.positive == {1: 4.0}


def test_sub_and_compact() -> None:
    a = FloatHistogram(count=4, sum=4, positive={0: 1.0, 1: 3.0})
    b = FloatHistogram(count=2, sum=1, positive={0: 1.0, 1: 1.0})
    got, _ = a.sub(b)
    assert got.count == 2 and got.sum == 3
    assert got.compact().positive == {1: 2.0}


def test_zero_buckets_are_reconciled_to_the_wider() -> None:
    a = FloatHistogram(count=4, zero_threshold=0.001, zero_count=1, positive={-2: 1.0, 0: 2.0})
    b = FloatHistogram(count=1, zero_threshold=0.3, zero_count=1)
    got, _ = a.add(b)
    # 0.3 falls inside bucket -1 (0.25, 0.5], empty in a, so the threshold stays 0.3 and
    # bucket -2 (0.125, 0.25] moves into the zero bucket.
    assert got.zero_threshold == 0.3
    assert got.zero_count == 1 + 1 + 1
    assert got.positive == {0: 2.0}


def test_zero_threshold_grows_to_a_populated_bucket_it_cuts() -> None:
    a = FloatHistogram(count=3, zero_threshold=0.001, positive={-1: 1.0, 0: 2.0})
    count, thr = a.zero_count_for_threshold(0.3)
    assert (count, thr) == (1.0, 0.5)  # (0.25, 0.5] is populated: the new zero bucket swallows it


def test_custom_bounds_are_reconciled_by_intersection() -> None:
    a = FloatHistogram(schema=CUSTOM_BUCKETS_SCHEMA, count=2, custom_values=[1.0], positive={0: 2.0})
    b = FloatHistogram(schema=CUSTOM_BUCKETS_SCHEMA, count=1, custom_values=[1.0, 10.0], positive={0: 1.0})
    got, reconciled = a.sub(b)
    assert reconciled and got.custom_values == [1.0]
    assert got.positive == {0: 1.0}
    with pytest.raises(IncompatibleSchemaError):
        a.add(FloatHistogram())


def test_mul_div() -> None:
    h = FloatHistogram(count=2, sum=3, zero_count=1, positive={0: 1.0}, negative={0: 1.0})
    assert h.copy().mul(2).positive == {0: 2.0}
    d = h.copy().div(0)
    assert d.count == math.inf and d.positive == {0: math.inf}


def test_detect_reset() -> None:
    prev = FloatHistogram(count=3, positive={0: 1.0, 1: 2.0})
    assert not FloatHistogram(count=4, positive={0: 2.0, 1: 2.0}).detect_reset(prev)
    assert FloatHistogram(count=2, positive={0: 1.0, 1: 1.0}).detect_reset(prev)
    # A bucket went down though the count went up.
    assert FloatHistogram(count=5, positive={0: 5.0, 1: 0.0}).detect_reset(prev)
    assert not FloatHistogram(count=1, counter_reset_hint=NOT_COUNTER_RESET).detect_reset(prev)
    assert FloatHistogram(count=9, counter_reset_hint=COUNTER_RESET).detect_reset(prev)
    # Higher resolution than before: a reset.
    assert FloatHistogram(schema=1, count=4).detect_reset(prev)


def test_hints() -> None:
    assert adjust_hint(GAUGE, UNKNOWN) == (GAUGE, False)
    assert adjust_hint(UNKNOWN, GAUGE) == (GAUGE, False)
    assert adjust_hint(NOT_COUNTER_RESET, UNKNOWN) == (UNKNOWN, False)
    assert adjust_hint(COUNTER_RESET, NOT_COUNTER_RESET) == (UNKNOWN, True)


def test_spans_round_trip() -> None:
    m = {-2: 1.0, -1: 2.0, 3: 4.0}
    spans, counts = FloatHistogram.to_spans(m)
    assert spans == [(-2, 2), (3, 1)] and counts == [1.0, 2.0, 4.0]
    assert FloatHistogram.from_spans(spans, counts) == m
