"""Hand-written engine cases the conformance scripts do not cover: limits, cancellation,
bad queries, unicode, and the documented arithmetic of rate/increase and histogram_quantile.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from guardia.model import Labels
from guardia.promql import (
    Engine,
    EngineOptions,
    ParseError,
    PromQLError,
    QueryCanceledError,
    QueryTimeoutError,
    TooManySamplesError,
    parse,
)
from guardia.storage.memory import MemoryStorage


def _storage(series: dict[str, tuple[list[int], list[float]]]) -> MemoryStorage:
    s = MemoryStorage()
    for text, (ts, vs) in series.items():
        from guardia.promql.scripttest import parse_labels

        s.add_series(parse_labels(text), ts, vs)
    return s


def _one(res_value: list) -> float:  # type: ignore[type-arg]
    assert len(res_value) == 1
    return float(res_value[0].v)


def test_max_samples_fails_with_prometheus_error() -> None:
    st = _storage({"m": (list(range(0, 600_000, 15_000)), [1.0] * 40)})
    eng = Engine(EngineOptions(max_samples=10))
    with pytest.raises(TooManySamplesError) as ei:
        eng.instant(st, "sum_over_time(m[10m])", 600_000)
    assert ei.value.error_type == "execution"
    assert ei.value.message == (
        "query processing would load too many samples into memory in query execution"
    )
    # Within the limit the same engine answers.
    assert _one(eng.instant(st, "m", 600_000).value) == 1.0


def test_timeout() -> None:
    st = _storage({"m": ([0], [1.0])})
    with pytest.raises(QueryTimeoutError) as ei:
        Engine(EngineOptions(timeout_s=0.0)).instant(st, "m", 0)
    assert ei.value.error_type == "timeout"
    assert ei.value.message == "query timed out in expression evaluation"


def test_cancellation() -> None:
    st = _storage({"m": ([0], [1.0])})
    ev = threading.Event()
    ev.set()
    with pytest.raises(QueryCanceledError) as ei:
        Engine().range(st, "rate(m[5m])", 0, 60_000, 15_000, cancel=ev)
    assert ei.value.error_type == "canceled"


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("sum(", "unclosed left parenthesis"),
        ("foo{", "unexpected end of input inside braces"),
        ("rate(foo)", "expected type matrix in call to function 'rate', got vector"),
        ('{a=""}', "vector selector must contain at least one non-empty matcher"),
        ("", "no expression found in input"),
        ("foo offset 5m[5m]", "no offset modifiers allowed before range"),
    ],
)
def test_bad_queries(query: str, fragment: str) -> None:
    with pytest.raises(ParseError) as ei:
        parse(query)
    assert ei.value.error_type == "bad_data"
    assert "parse error: " in ei.value.message
    assert fragment in ei.value.message


def test_parse_error_has_position_at_end_of_input() -> None:
    with pytest.raises(ParseError) as ei:
        parse("sum(rate(x[5m])")
    assert ei.value.message.startswith("1:16: parse error:")


def test_range_query_refuses_range_vector() -> None:
    with pytest.raises(PromQLError) as ei:
        Engine().range(MemoryStorage(), "foo[5m]", 0, 60_000, 15_000)
    assert ei.value.error_type == "bad_data"
    assert 'invalid expression type "range vector"' in ei.value.message


def test_unicode_label_values_round_trip() -> None:
    st = _storage({'m{city="São Paulo", emoji="🔥"}': ([0], [3.0])})
    res = Engine().instant(st, 'm{city="São Paulo"}', 0)
    assert res.value[0].labels == Labels({"__name__": "m", "city": "São Paulo", "emoji": "🔥"})
    res = Engine().instant(st, 'label_replace(m, "c", "$1!", "city", "(S.o) .*")', 0)
    assert res.value[0].labels.get("c") == "São!"
    res = Engine().instant(st, 'sum by (emoji) (m{emoji=~".+"})', 0)
    assert res.value[0].labels == Labels({"emoji": "🔥"})


def test_increase_extrapolates_to_window_edges() -> None:
    # 0, 10, 20, 30, 40 every 15 s; at t=60s the window (0, 60] holds 10..40.
    st = _storage({"c_total": ([0, 15_000, 30_000, 45_000, 60_000], [0, 10, 20, 30, 40])})
    eng = Engine()
    # 30 over 45 s sampled, extrapolated by 15 s at the start (zero point at exactly 15 s).
    assert _one(eng.instant(st, "increase(c_total[1m])", 60_000).value) == pytest.approx(40.0)
    assert _one(eng.instant(st, "rate(c_total[1m])", 60_000).value) == pytest.approx(40.0 / 60)


def test_increase_of_series_starting_inside_window_extrapolates_half_interval() -> None:
    st = _storage({"c_total": ([45_000, 60_000], [100, 110])})
    # Raw 10 over 15 s; the start gap (45 s) exceeds 1.1 x interval, so only 7.5 s is added.
    assert _one(Engine().instant(st, "increase(c_total[1m])", 60_000).value) == pytest.approx(15.0)


def test_counter_resets_are_compensated() -> None:
    st = _storage({"c_total": ([0, 15_000, 30_000, 45_000, 60_000], [0, 10, 20, 5, 15])})
    eng = Engine()
    # 15 - 0 plus the 20 lost at the reset; the zero point caps start extrapolation at 0 s.
    assert _one(eng.instant(st, "increase(c_total[75s])", 60_000).value) == pytest.approx(35.0)
    assert _one(eng.instant(st, "resets(c_total[75s])", 60_000).value) == 1.0
    # irate after a reset is the new value over the interval.
    assert _one(eng.instant(st, "irate(c_total[1m])", 45_000).value) == pytest.approx(5 / 15)


def test_histogram_quantile_fixes_non_monotonic_buckets() -> None:
    st = _storage(
        {
            'h_bucket{le="1"}': ([0], [10.0]),
            'h_bucket{le="2"}': ([0], [8.0]),
            'h_bucket{le="+Inf"}': ([0], [12.0]),
        }
    )
    res = Engine().instant(st, "histogram_quantile(0.5, h_bucket)", 0)
    # Buckets become 10, 10, 12: rank 6 falls in the first bucket -> 0.6.
    assert _one(res.value) == pytest.approx(0.6)
    assert any("needed to be fixed for monotonicity" in i for i in res.infos)


def test_rate_on_non_counter_name_gives_info() -> None:
    st = _storage({"gauge": ([0, 15_000, 30_000], [1, 2, 3])})
    res = Engine().instant(st, "rate(gauge[1m])", 30_000)
    assert res.infos == [
        'PromQL info: metric might not be a counter, name does not end in '
        '_total/_sum/_count/_bucket: "gauge" (1:6)'
    ]


def test_many_to_many_matching_is_refused() -> None:
    st = _storage(
        {'a{x="1", y="1"}': ([0], [1.0]), 'a{x="1", y="2"}': ([0], [2.0]), 'b{x="1"}': ([0], [3.0])}
    )
    with pytest.raises(PromQLError) as ei:
        Engine().instant(st, "b + on(x) a", 0)
    assert "many-to-many matching not allowed" in ei.value.message


def test_range_query_evaluates_all_steps() -> None:
    ts = list(range(0, 3_600_000, 15_000))
    st = _storage({'c_total{i="1"}': (ts, [float(i) for i in range(len(ts))])})
    res = Engine().range(st, "rate(c_total[5m])", 600_000, 1_200_000, 60_000)
    assert res.type == "matrix"
    (series,) = res.value
    assert list(series.timestamps) == list(range(600_000, 1_200_001, 60_000))
    np.testing.assert_allclose(series.values, 1 / 15)


def test_negative_offset_and_at_modifier() -> None:
    st = _storage({"m": ([0, 60_000, 120_000], [1.0, 2.0, 3.0])})
    eng = Engine()
    assert _one(eng.instant(st, "m offset -1m", 60_000).value) == 3.0
    assert _one(eng.instant(st, "m @ 0", 120_000).value) == 1.0
    res = eng.range(st, "m @ end()", 0, 120_000, 60_000)
    np.testing.assert_array_equal(res.value[0].values, [3.0, 3.0, 3.0])


def test_chunked_range_evaluation_matches_single_pass() -> None:
    ts = list(range(0, 3_600_000, 15_000))
    st = _storage(
        {
            'c_total{i="1"}': (ts, [float(i) for i in range(len(ts))]),
            'c_total{i="2"}': (ts[:100], [2.0 * i for i in range(100)]),
        }
    )
    q = "sum by (i) (rate(c_total[5m])) * on() group_left vector(time()) or vector(1)"
    whole = Engine().range(st, q, 0, 3_600_000, 15_000)
    chunked = Engine(EngineOptions(max_chunk_steps=7)).range(st, q, 0, 3_600_000, 15_000)
    assert [s.labels for s in whole.value] == [s.labels for s in chunked.value]
    for a, b in zip(whole.value, chunked.value, strict=True):
        np.testing.assert_array_equal(a.timestamps, b.timestamps)
        np.testing.assert_allclose(a.values, b.values)


@pytest.mark.parametrize(
    ("start", "end", "step", "fragment"),
    [
        (0, 60_000, 0, "zero or negative query resolution step widths are not accepted"),
        (60_000, 0, 15_000, "end timestamp must not be before start time"),
        (0, 86_400_000, 1_000, "exceeded maximum resolution of 11,000 points per timeseries"),
    ],
)
def test_bad_range_parameters(start: int, end: int, step: int, fragment: str) -> None:
    with pytest.raises(PromQLError) as ei:
        Engine().range(MemoryStorage(), "vector(1)", start, end, step)
    assert ei.value.error_type == "bad_data"
    assert fragment in ei.value.message


class _DisconnectingStorage:
    """Sets the cancel event on the first read, as a client going away mid-query."""

    def __init__(self, inner: MemoryStorage, cancel: threading.Event) -> None:
        self.inner = inner
        self.cancel = cancel

    def querier(self, mint: int, maxt: int):  # type: ignore[no-untyped-def]
        self.cancel.set()
        return self.inner.querier(mint, maxt)


def test_cancellation_while_running_stops_the_query() -> None:
    ts = list(range(0, 600_000, 15_000))
    inner = _storage({"m": (ts, [float(i) for i in range(len(ts))])})
    ev = threading.Event()
    with pytest.raises(QueryCanceledError):
        Engine().range(_DisconnectingStorage(inner, ev), "stddev_over_time(m[5m]) + m", 0, 600_000, 15_000,
                       cancel=ev)
    # The engine is unaffected: the next query answers.
    assert Engine().instant(inner, "m", 0).value[0].v == 0.0


def test_sums_are_compensated_like_prometheus() -> None:
    import math

    rng = np.random.default_rng(5)
    small = rng.uniform(0, 10, 300)
    series: dict[str, tuple[list[int], list[float]]] = {}
    vals = []
    for i in range(300):
        v = float(small[i]) + (1e100 if i % 3 == 0 else -1e100 if i % 3 == 1 else 0.0)
        vals.append(v)
        series[f'm{{i="{i}"}}'] = ([0], [v])
    st = _storage(series)
    got = _one(Engine().instant(st, "sum(m)", 0).value)
    # Neumaier keeps the small terms a plain sum would absorb (exact here up to rounding).
    assert got == pytest.approx(math.fsum(vals), rel=1e-9)
    ts = list(range(0, 300_000, 1_000))
    st2 = _storage({"g": (ts, vals)})
    got2 = _one(Engine().instant(st2, "sum_over_time(g[5m])", 299_000).value)
    assert got2 == pytest.approx(math.fsum(vals), rel=1e-9)


def test_lookback_delta_is_configurable() -> None:
    st = _storage({"m": ([0], [1.0])})
    assert Engine().instant(st, "m", 299_000).value  # default 5m
    assert not Engine().instant(st, "m", 300_000).value  # (t - 5m, t] excludes t=0
    assert not Engine(EngineOptions(lookback_delta_ms=60_000)).instant(st, "m", 60_000).value
    assert Engine().instant(st, "m", 400_000, lookback_delta_ms=600_000).value


def test_chunks_split_when_raw_samples_exceed_budget() -> None:
    ts = list(range(0, 3_600_000, 15_000))
    st = _storage({f'c_total{{i="{i}"}}': (ts, [float(k * i) for k in range(len(ts))]) for i in range(5)})
    q = "sum(rate(c_total[5m])) + count(c_total)"
    whole = Engine().range(st, q, 300_000, 3_600_000, 15_000)
    small = Engine(EngineOptions(max_chunk_raw_samples=100)).range(st, q, 300_000, 3_600_000, 15_000)
    assert len(whole.value) == len(small.value) == 1
    np.testing.assert_array_equal(whole.value[0].timestamps, small.value[0].timestamps)
    np.testing.assert_allclose(whole.value[0].values, small.value[0].values)
