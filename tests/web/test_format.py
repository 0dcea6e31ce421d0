"""Number formatting matches Go's FormatFloat as the Prometheus API uses it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from guardia.web.format import fmt_ts, fmt_value, fmt_value_e, fmt_values

GO_F = [  # (value, strconv.FormatFloat(v, 'f', -1, 64))
    (1.0, "1"),
    (0.1, "0.1"),
    (-0.0, "-0"),
    (1e20, "100000000000000000000"),
    (1e-7, "0.0000001"),
    (123456789.123, "123456789.123"),
    (math.nan, "NaN"),
    (math.inf, "+Inf"),
    (-math.inf, "-Inf"),
    (2.0**53, "9007199254740992"),
    (3e-05, "0.00003"),
    (-1.5, "-1.5"),
]
GO_E = [(1.0, "1e+00"), (0.0731, "7.31e-02"), (123456789.123, "1.23456789123e+08"), (1e300, "1e+300")]


@pytest.mark.parametrize(("v", "want"), GO_F)
def test_f_format(v: float, want: str) -> None:
    assert fmt_value(v) == want
    assert fmt_values(np.array([v, v])) == [want, want]


@pytest.mark.parametrize(("v", "want"), GO_E)
def test_e_format(v: float, want: str) -> None:
    assert fmt_value_e(v) == want


def test_vectorised_formatting_equals_scalar_on_random_values() -> None:
    rng = np.random.default_rng(7)
    for arr in (
        rng.uniform(-1e6, 1e6, 2000),
        np.floor(rng.uniform(0, 1e9, 2000)),
        rng.normal(0, 1e-8, 200),
        np.array([0.0, -0.0, 1e22, 5e-324, 1.7976931348623157e308]),
    ):
        assert fmt_values(arr) == [fmt_value(x) for x in arr.tolist()]


def test_timestamps_are_seconds_with_millis() -> None:
    assert fmt_ts(1_700_000_000_000) == 1_700_000_000
    assert fmt_ts(1_700_000_000_250) == 1_700_000_000.25
