"""Number formatting matches Go's FormatFloat as the Prometheus API uses it."""

from __future__ import annotations

import json
import math

import numpy as np
import orjson
import pytest

from guardia.model import Labels
from guardia.promql import Sample
from guardia.storage.interface import Series
from guardia.web.format import (
    fmt_sample_value,
    fmt_ts,
    fmt_ts_texts,
    fmt_value,
    fmt_value_e,
    fmt_values,
    result_json,
)

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
# (value, what Debian's Prometheus 2.42 answers for ``vector(value)``): 'f' except below 1e-6
# and from 1e21 in magnitude (test_sample_values_as_a_real_prometheus_writes_them asks it)
PROM_API = [
    (1e-7, "1e-07"),
    (-1.5e-7, "-1.5e-07"),
    (9.99e-7, "9.99e-07"),
    (1e-6, "0.000001"),
    (3e-05, "0.00003"),
    (2.5e-300, "2.5e-300"),
    (5e-324, "5e-324"),
    (1e20, "100000000000000000000"),
    (1e21, "1e+21"),
    (1.23456789e23, "1.23456789e+23"),
    (0.0, "0"),
    (-0.0, "-0"),
    (math.inf, "+Inf"),
    (math.nan, "NaN"),
    (0.1, "0.1"),
]
GO_E = [(1.0, "1e+00"), (0.0731, "7.31e-02"), (123456789.123, "1.23456789123e+08"), (1e300, "1e+300")]


@pytest.mark.parametrize(("v", "want"), GO_F)
def test_f_format(v: float, want: str) -> None:
    assert fmt_value(v) == want


@pytest.mark.parametrize(("v", "want"), PROM_API)
def test_sample_values_as_the_prometheus_api_writes_them(v: float, want: str) -> None:
    assert fmt_sample_value(v) == want
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
        assert fmt_values(arr) == [fmt_sample_value(x) for x in arr.tolist()]


def test_timestamps_are_seconds_with_millis() -> None:
    assert fmt_ts(1_700_000_000_000) == 1_700_000_000
    assert fmt_ts(1_700_000_000_250) == 1_700_000_000.25


def _expected(result_type: str, series: list[Series]) -> bytes:
    """The answer built point by point with the scalar formatters: the reference shape."""
    if result_type == "matrix":
        result: object = [
            {
                "metric": dict(s.labels),
                "values": [
                    [fmt_ts(t), fmt_sample_value(v)]
                    for t, v in zip(s.timestamps.tolist(), s.values.tolist(), strict=True)
                ],
            }
            for s in series
        ]
    else:
        result = [
            {"metric": dict(s.labels),
             "value": [fmt_ts(int(s.timestamps[0])), fmt_sample_value(float(s.values[0]))]}
            for s in series
        ]
    return orjson.dumps({"resultType": result_type, "result": result})


T = 1_700_000_000_000


def _series(labels: Labels, ts: list[int], vs: list[float]) -> Series:
    return Series(labels, np.array(ts, dtype=np.int64), np.array(vs, dtype=np.float64))


def test_matrix_json_is_byte_identical_to_the_point_by_point_encoding() -> None:
    rng = np.random.default_rng(3)
    series = [
        _series(Labels.of(__name__="a", route='/x"y', ü="ñ"), [T, T + 15_250], [1.0, 0.1]),
        _series(Labels.of(__name__="b"), [], []),
        _series(Labels.of(q="nan"), [1, 10, 999, 1000, 1001], [math.nan, math.inf, -math.inf, -0.0, 1e22]),
        _series(Labels.of(q="neg"), [-1500, -1000, -1, 0], [5e-324, -2.5, 3e-5, 1e-7]),
        _series(
            Labels.of(q="rand"),
            np.sort(rng.integers(0, 2**41, 500)).tolist(),
            rng.normal(0, 1e3, 500).tolist(),
        ),
    ]
    # series on one step grid (their timestamp texts are reused), then one off it
    grid = [T + 15_000 * i for i in range(5)]
    series += [_series(Labels.of(q="grid", i=str(i)), grid, rng.normal(0, 9, 5).tolist()) for i in range(3)]
    series += [_series(Labels.of(q="off"), [g + 1 for g in grid], [1.0] * 5)]
    series += [_series(Labels.of(q="grid", i="again"), grid, [2.0] * 5)]
    got = result_json("matrix", series)
    assert got == _expected("matrix", series)
    assert json.loads(got)["result"][0]["values"] == [[1700000000, "1"], [1700000015.25, "0.1"]]


def test_vector_scalar_and_string_json() -> None:
    samples = [
        Sample(Labels.of(__name__="up", job="api"), 1_700_000_000_123, 1.0),
        Sample(Labels.of(job="db"), 1_700_000_000_123, math.nan),
    ]
    got = result_json("vector", samples)
    as_series = [_series(s.labels, [s.t], [s.v]) for s in samples]
    assert got == _expected("vector", as_series)
    assert result_json("vector", []) == b'{"resultType":"vector","result":[]}'
    scalar = result_json("scalar", (1_700_000_000_500, 2.0))
    assert scalar == b'{"resultType":"scalar","result":[1700000000.5,"2"]}'
    assert result_json("string", (1000, 'a"b')) == b'{"resultType":"string","result":[1,"a\\"b"]}'
    with pytest.raises(ValueError, match="unknown result type"):
        result_json("histogram", None)


def test_timestamp_texts_match_the_scalar_numbers() -> None:
    ts = np.array([0, 1, 10, 100, 120, 999, 1000, 1_700_000_000_001, 2**45], dtype=np.int64)
    assert fmt_ts_texts(ts) == [orjson.dumps(fmt_ts(t)).decode() for t in ts.tolist()]
    assert fmt_ts_texts(np.array([-1, -1500], dtype=np.int64)) == ["-0.001", "-1.5"]
