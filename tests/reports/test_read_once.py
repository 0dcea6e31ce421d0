"""Rate figures from counters read once for the whole report equal their PromQL.

The report computes latency quantiles, error and request rates and CPU from one read per
counter selector (``reports.rollup``/``reports.rates``) and prints the PromQL expression
each figure equals.  Here the same report is built both ways, over the synthetic service
plus a second one whose counters reset (inside an interval, exactly at an interval's
edge, and in the baseline) and go stale, and every figure, baseline, per-interval point
and test result must agree.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guardia.model import Labels
from guardia.model.matchers import parse_matchers
from guardia.model.samples import STALE_NAN_BITS
from guardia.promql import Engine
from guardia.reports import EngineSource, Report, ReportRequest, build_report
from guardia.reports.rollup import Grid, Stream, cells, window_rate
from guardia.storage.interface import SeriesSet
from guardia.storage.tsdb import TSDB
from tests.reports import synth

STALE = np.array([STALE_NAN_BITS], dtype=np.uint64).view(np.float64)[0]


def _with_resets(ds: synth.Dataset) -> synth.Dataset:
    """A ``batch`` service scraped every 45 s (not a divisor of the interval), whose
    counters restart from zero, and one series that goes stale for an hour."""
    t = np.arange(synth.FIRST + 7_000, synth.END + 1, 45_000, dtype=np.int64)
    rng = np.random.default_rng(11)
    resets = [synth.END - 5 * synth.HOUR + 17 * synth.MIN,  # inside an interval
              synth.END - 7 * synth.HOUR,  # at an interval's edge
              synth.START - 2 * synth.DAY + 3 * synth.MIN]  # in the baseline
    resets.sort()  # each restart from the value the counter has by then
    for code in ("200", "500", "503"):
        inc = rng.poisson(30 if code == "200" else 2, size=t.size).astype(np.float64)
        v = np.cumsum(inc)
        for r in resets:
            after = t >= r
            v[after] -= v[after][0] - inc[after][0]
        lab = {"__name__": "http_requests_total", "job": "batch", "instance": "b:1", "code": code}
        if code == "503":
            gone = (t > synth.END - 3 * synth.HOUR) & (t < synth.END - 2 * synth.HOUR)
            v = np.where(gone, STALE, v)
        ds.add(lab, t, v)
    counts = np.cumsum(rng.poisson(20, size=(t.size, 4)), axis=0).cumsum(axis=1).astype(np.float64)
    for r in resets:
        after = t >= r
        counts[after] -= counts[after][0] - 1
    for k, le in enumerate(["0.1", "0.5", "2", "+Inf"]):
        bucket = {"__name__": "http_request_duration_seconds_bucket", "job": "batch", "le": le}
        ds.add(bucket, t, counts[:, k])
    cpu = np.cumsum(rng.uniform(0, 40, size=t.size))
    cpu[t >= resets[0]] -= cpu[t >= resets[0]][0]
    ds.add({"__name__": "process_cpu_seconds_total", "job": "batch", "instance": "b:1"}, t, cpu)
    return ds


@pytest.fixture(scope="module")
def data() -> synth.Dataset:
    return _with_resets(synth.build())


def _both(source: EngineSource) -> tuple[Report, Report]:
    req = dict(window_ms=synth.WINDOW, baseline_ms=synth.BASELINE, end_ms=synth.END)
    return (build_report(source, ReportRequest(**req)),  # type: ignore[arg-type]
            build_report(source, ReportRequest(**req, read_once=False)))  # type: ignore[arg-type]


def _close(a: Any, b: Any, where: str) -> None:
    if isinstance(a, float) and isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-12), where
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


RATE_FIGURES = ("latency_p50", "latency_p95", "latency_p99", "error_rate", "success_rate", "request_rate",
                "cpu_cores", "memory")


def _compare(fast: Report, slow: Report) -> int:
    compared = 0
    for name in RATE_FIGURES:
        a = sorted(fast.find(name), key=lambda f: sorted(f.labels.items()))
        b = sorted(slow.find(name), key=lambda f: sorted(f.labels.items()))
        assert [f.labels for f in a] == [f.labels for f in b], name
        for fa, fb in zip(a, b, strict=True):
            for attr in ("value", "baseline", "points", "baseline_points", "test", "verdict", "note", "query",
                         "baseline_query"):
                _close(getattr(fa, attr), getattr(fb, attr), f"{name}{fa.labels}.{attr}")
            compared += 1
    # the memory-leak test reads the same per-interval averages
    leaks = [(f.labels, f.value, f.verdict, f.note, f.details, f.test) for f in fast.find("memory_leak")]
    assert leaks and leaks == [(f.labels, f.value, f.verdict, f.note, f.details, f.test)
                               for f in slow.find("memory_leak")]
    # the anomalies read the same per-interval series
    _close([f.details for f in fast.find("anomalies")], [f.details for f in slow.find("anomalies")],
           "anomalies")
    assert fast.score == slow.score
    return compared


def test_rates_read_once_equal_their_promql_in_memory(data: synth.Dataset,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    read = EngineSource.counter_cells

    def counted(self: EngineSource, selector: str, grid: Grid) -> Any:
        got = read(self, selector, grid)
        reads.append(len(got.labels))
        return got

    monkeypatch.setattr(EngineSource, "counter_cells", counted)
    fast, slow = _both(EngineSource(Engine(), synth.load_memory(data)))
    # one read each: the buckets (every quantile), the requests (errors and rate), CPU
    assert reads == [16, 5, 3]
    assert _compare(fast, slow) >= 14
    assert all(f.value is not None and f.value >= 0 for f in fast.find("request_rate"))
    p95 = fast.find("latency_p95", job="batch")[0]
    assert p95.value is not None and p95.test["n_window"] == 48


def test_rates_read_once_equal_their_promql_over_blocks(data: synth.Dataset, tmp_path: Path) -> None:
    """Over blocks the cells are built block by block as the samples are decoded (no
    array of all samples): the same cells as from one select, the same figures as PromQL."""
    synth.load_tsdb(data, str(tmp_path / "tsdb"))
    db = TSDB.open(tmp_path / "tsdb", read_only=True)
    try:
        assert len(db.blocks) > 10
        source = EngineSource(Engine(), db)
        iv = 30 * synth.MIN
        aligned = Grid(synth.START - synth.BASELINE, iv, (synth.WINDOW + synth.BASELINE) // iv)
        # intervals across the blocks' 2-hour boundaries: a piece's first interval already
        # holds the previous block's samples
        shifted = Grid(aligned.origin + 7 * synth.MIN, iv, aligned.count - 1)
        selectors = ("http_requests_total", "http_request_duration_seconds_bucket",
                     'process_cpu_seconds_total{job="batch"}')
        for selector, grid in itertools.product(selectors, (aligned, shifted)):
            streamed = source.counter_cells(selector, grid)
            q = db.querier(grid.origin + 1, grid.origin + grid.step * grid.count)
            assert q.select_pieces(parse_matchers(selector)) is not None  # block by block
            whole = cells(q.select(parse_matchers(selector)), grid)
            q.close()
            assert streamed is not None and streamed.labels == whole.labels
            for name in ("n", "first_dt", "last_dt", "first_v", "last_v"):
                np.testing.assert_array_equal(getattr(streamed, name), getattr(whole, name), name)
            assert streamed.n.dtype == np.int32 and streamed.first_dt.dtype == np.int32
            # reset losses are kept only where a reset was seen (the batch CPU counter restarts)
            assert (streamed.lost is None) == (whole.lost is None)
            if streamed.lost is not None:
                for name in ("lost", "lost_edge"):
                    np.testing.assert_allclose(getattr(streamed, name), getattr(whole, name), rtol=1e-12)
            assert "cpu" not in selector or (streamed.lost is not None and streamed.lost_edge is not None
                                             and (streamed.lost.any() or streamed.lost_edge.any()))
        fast, slow = _both(source)
    finally:
        db.close()
    assert _compare(fast, slow) >= 14


def test_a_window_off_the_interval_grid_is_left_to_promql(data: synth.Dataset) -> None:
    """A baseline that is not whole intervals (100 minutes of 30): no cells, PromQL only,
    and the same report as when asked for PromQL."""
    source = EngineSource(Engine(), synth.load_memory(data))
    req = dict(window_ms=synth.WINDOW, baseline_ms=100 * synth.MIN, end_ms=synth.END)
    fast = build_report(source, ReportRequest(**req))  # type: ignore[arg-type]
    slow = build_report(source, ReportRequest(**req, read_once=False))  # type: ignore[arg-type]
    _compare(fast, slow)


def test_stream_of_pieces_in_any_row_order_builds_the_cells_of_one_select() -> None:
    """Pieces as blocks hand them over, with rows sharing their timestamps: rows in any
    order (a gather, not a slice), time gaps leaving intervals empty, pieces split inside
    an interval, resets inside a piece and across pieces; the cells equal those of the
    whole samples reduced at once."""
    rng = np.random.default_rng(11)
    step, k, s = 60_000, 30, 9
    times = np.sort(rng.choice(np.arange(1, k * step, 5_000), size=200, replace=False)).astype(np.int64)
    times = times[(times < 7 * step) | (times > 9 * step)]  # intervals 7 and 8 empty
    vals = np.cumsum(rng.integers(0, 5, size=(s, times.size)), axis=1).astype(np.float64)
    vals[2, 60:] -= vals[2, 60] - 1  # a reset inside a piece
    vals[5, 100:] -= vals[5, 100]  # one at the first sample of a piece
    labels = [Labels.of(__name__="c", i=str(i)) for i in range(s)]
    grid = Grid(0, step, k)
    whole = cells(SeriesSet(labels, np.tile(times, s), vals.reshape(-1), np.arange(s + 1, dtype=np.int64)
                            * times.size), grid)
    stream = Stream(labels, grid)
    for a, b in ((0, 37), (37, 100), (100, 101), (101, times.size)):
        for rows in (np.array([4, 0, 7, 2]), np.array([1, 3, 5, 6, 8])):
            stream.add(rows, np.full(rows.shape[0], b - a), None, vals[rows, a:b].reshape(-1), times[a:b])
    got = stream.out
    for name in ("n", "first_dt", "last_dt", "first_v", "last_v", "lost", "lost_edge"):
        np.testing.assert_array_equal(getattr(got, name), getattr(whole, name), name)
    assert got.lost is not None and got.lost.any() and got.lost_edge is not None and got.lost_edge.any()
    assert not got.n[:, 7:9].any() and got.n.sum() == s * times.size


def test_cells_give_prometheus_rate_over_any_run_of_intervals() -> None:
    """Against Prometheus's extrapolatedRate written out sample by sample (resets, gaps,
    a window starting mid-series), for windows of one and of several intervals."""
    rng = np.random.default_rng(3)
    step, k = 600_000, 12
    series, ts, vs, starts = [], [], [], [0]
    for i in range(40):
        t = np.sort(rng.choice(np.arange(1, k * step, 7_000), size=int(rng.integers(0, 90)), replace=False))
        v = np.cumsum(rng.integers(0, 9, size=t.size)).astype(np.float64)
        if t.size > 5 and i % 3 == 0:
            v[t.size // 2 :] -= v[t.size // 2] - 1
        series.append(Labels.of(__name__="c", i=str(i)))
        ts.append(t)
        vs.append(v)
        starts.append(starts[-1] + t.size)
    found = SeriesSet(series, np.concatenate(ts).astype(np.int64), np.concatenate(vs),
                      np.array(starts, dtype=np.int64))
    cc = cells(found, Grid(0, step, k))
    for a, b in ((0, k), (3, 4), (2, 9), (11, 12)):
        got, ok = window_rate(cc, a * step, b * step)  # type: ignore[misc]
        for i in range(len(series)):
            want = _prometheus_rate(ts[i], vs[i], a * step, b * step)
            assert ok[i] == (want is not None)
            if want is not None:
                assert got[i] == pytest.approx(want, rel=1e-12)


def _prometheus_rate(t: np.ndarray, v: np.ndarray, start: int, end: int) -> float | None:
    keep = (t > start) & (t <= end)
    t, v = t[keep], v[keep]
    if t.size < 2:
        return None
    delta = float(v[-1] - v[0]) + sum(float(v[i - 1]) for i in range(1, v.size) if v[i] < v[i - 1])
    sampled = (t[-1] - t[0]) / 1000
    avg = sampled / (t.size - 1)
    to_start = (t[0] - start) / 1000
    to_end = (end - t[-1]) / 1000
    if to_start >= avg * 1.1:
        to_start = avg / 2
    if delta > 0 and v[0] >= 0:
        to_zero = sampled * (v[0] / delta)
        to_start = min(to_start, to_zero)
    if to_end >= avg * 1.1:
        to_end = avg / 2
    return delta * (sampled + to_start + to_end) / sampled / ((end - start) / 1000)


def test_sums_a_few_columns_at_a_time_equal_one_sum_of_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """``sum by`` over the rate rows, a few columns per call of the engine's
    ``grouped_sum``: bit for bit one call over all columns, with groups large enough
    for pairwise summation, cancellation that needs compensation, absent cells, and a
    subset of rows; negative terms (which change how the engine bounds its error) make
    it one call again."""
    from guardia.promql.kahan import grouped_sum
    from guardia.reports import rates

    rng = np.random.default_rng(5)
    n_rows, width, groups = 300, 50, 4
    values = rng.lognormal(0, 3, size=(n_rows, width))
    values[7, :] = 1e17  # big terms beside small ones: compensated sums
    ok = rng.random((n_rows, width)) > 0.1
    ok[20] = False  # a row absent at every step
    gidx = rng.integers(0, groups, size=n_rows)
    gidx[:80] = 0  # a group of more than 32 rows: pairwise
    monkeypatch.setattr(rates, "_SUM_CELLS", 1000)  # 3 to 5 columns a call
    calls: list[int] = []

    def counted(v: np.ndarray, *args: object) -> np.ndarray:
        calls.append(v.shape[1])
        return grouped_sum(v, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(rates, "grouped_sum", counted)
    all_there = ok.copy()
    all_there[20, 0] = True
    for present, rows in ((all_there, np.arange(n_rows)), (ok, np.arange(n_rows)),
                          (ok, np.sort(rng.choice(n_rows, 200, replace=False)))):
        for vals, chunked in ((values, True), (values - 1.0, False)):
            calls.clear()
            got, has = rates._sum(vals, present, rows, gidx, groups)
            assert (len(calls) > 1) == chunked and sum(calls) == width
            live = rows[present[rows].any(axis=1)]
            whole = grouped_sum(vals[live], present[live], gidx[live], groups,
                                np.argsort(gidx[live], kind="stable"))
            np.testing.assert_array_equal(got, np.where(has, whole, 0.0))
            assert has[:, 0].all()


def test_a_gauge_with_native_histogram_samples_is_left_to_promql(data: synth.Dataset) -> None:
    """Memory read once averages floats; a memory series that also holds native
    histogram samples (averaged by the engine its own way) makes the figures PromQL."""
    from guardia.model.histogram import FloatHistogram
    from guardia.reports.averages import avg_ranges
    from guardia.reports.context import Ctx, Window
    from guardia.reports.settings import parse_settings
    from guardia.storage.memory import MemoryStorage

    store = synth.load_memory(data)
    assert isinstance(store, MemoryStorage)
    window = Window.ending(synth.END, synth.WINDOW, synth.BASELINE)
    settings = parse_settings({})
    mem = settings.metrics.memory
    floats_only = Ctx(EngineSource(Engine(), store), window, settings)
    got = avg_ranges(floats_only, mem)
    assert got is not None and got.value[1].any()
    app = store.appender()
    app.append_histogram(Labels.of(__name__=mem, job="api", instance="h:1"), synth.END - 60_000,
                         FloatHistogram(count=3.0, sum=7.0, positive={1: 3.0}))
    app.commit()
    with_histograms = Ctx(EngineSource(Engine(), store), window, settings)
    assert avg_ranges(with_histograms, mem) is None
