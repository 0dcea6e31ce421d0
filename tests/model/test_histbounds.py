"""Exponential bucket bounds equal Prometheus's, which come from a table generated with Go's
``math.Exp2`` rather than from a correctly rounded power of two."""

from __future__ import annotations

import itertools
import math
import sys

import pytest

from guardia.model.histbounds import exp_bound, fraction_table

# entries of Prometheus's fraction table (model/histogram and client_golang publish the same)
PUBLISHED = [
    (1, 1, 0.7071067811865475),  # sqrt(1/2) rounds to ...476; the table has ...475
    (2, 3, 0.8408964152537144),
    (3, 1, 0.5452538663326288),
    (3, 7, 0.9170040432046711),
    (4, 5, 0.620928906036742),
    (5, 31, 0.9785720620876999),
    (6, 63, 0.9892280131939752),
    (7, 127, 0.9945994234836328),
    (8, 1, 0.5013556375251013),
    (8, 51, 0.5740382394200894),
    (8, 255, 0.9972960560854698),
]


@pytest.mark.parametrize(("schema", "k", "want"), PUBLISHED)
def test_table_entries_are_prometheus_s(schema: int, k: int, want: float) -> None:
    assert fraction_table(schema)[k] == want
    assert exp_bound(k, schema) == want * 2  # index k of [0, 2**schema) lies in (1, 2]
    assert exp_bound(k - 3 * (1 << schema), schema) == want / 4


def test_the_table_is_not_a_correctly_rounded_power() -> None:
    """Why the module exists: most of schema 8's entries differ from ``2 ** (k / 256) / 2``
    (by up to four ulps, the generator's products adding up); each schema's even entries are
    the coarser schema's."""
    table = fraction_table(8)
    off = [k for k in range(256) if table[k] != 2.0 ** (k / 256) / 2]
    assert len(off) > 100
    assert all(abs(table[k] - 2.0 ** (k / 256) / 2) <= 4 * math.ulp(table[k]) for k in off)
    for schema in range(1, 9):
        t = fraction_table(schema)
        assert len(t) == 1 << schema and t[0] == 0.5
        assert all(a < b for a, b in itertools.pairwise(t))
        assert t[::2] == fraction_table(schema - 1)


def test_bounds_at_powers_of_two_and_at_the_float_range_s_ends() -> None:
    for schema in range(-4, 9):
        assert exp_bound(0, schema) == 1.0
        assert exp_bound(-(1 << max(schema, 0)), schema) == (0.5 if schema >= 0 else 2.0 ** -(1 << -schema))
    # the bucket that would end at 2**1024 ends at the largest float, as in Prometheus; past it +Inf
    assert exp_bound(1024, 0) == sys.float_info.max
    assert exp_bound(256, -2) == sys.float_info.max
    assert exp_bound(1025, 0) == math.inf
    assert exp_bound(1024 << 8, 8) == sys.float_info.max
    assert exp_bound((1024 << 8) + 1, 8) == math.inf
    assert exp_bound((1024 << 8) - 1, 8) == math.ldexp(fraction_table(8)[255], 1024)
    # far below: subnormal, then zero, never an error
    assert 0 < exp_bound(-1074, 0) < sys.float_info.min
    assert exp_bound(-1100, 0) == 0.0
