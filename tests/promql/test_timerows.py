"""Series sharing rows of sample times: the rows are found exactly, and window bounds,
``rate`` & co. and instant selectors computed per row equal, bit for bit, what the
per-series paths compute."""

from __future__ import annotations

import numpy as np
import pytest

from guardia.model import Labels
from guardia.model.samples import STALE_NAN
from guardia.promql import rangefuncs, timerows, windows
from guardia.promql.context import EvalContext
from guardia.promql.selectors import _latest, windowed
from guardia.promql.values import RangeVector
from guardia.storage.interface import Series, SeriesSet
from guardia.storage.memory import MemoryStorage


def _flat(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    starts = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=starts[1:])
    t = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, dtype=np.int64)
    return t, starts


def _targets(rng: np.random.Generator, n_targets: int, per_target: int, interleave: bool,
             odd: str) -> list[np.ndarray]:
    """Times of ``per_target`` series of each target, one scrape phase per target; with
    ``odd`` some series differ from their target's row: "moved", a sample moved (same
    count, first and last time); "all", also a missed scrape, an ended series, an empty
    one."""
    rows = []
    for _ in range(n_targets):
        phase = int(rng.integers(0, 15_000))
        rows.append(np.arange(phase, 3_600_000, 15_000, dtype=np.int64))
    out = [rows[i].copy() for i in range(n_targets) for _ in range(per_target)]
    if interleave:  # series sorted by labels: the targets' series are interleaved
        out = [rows[i].copy() for _ in range(per_target) for i in range(n_targets)]
    if odd:
        out[2][7] += 1  # same count, first and last time as its row, one time differs
        out[-1][9] += 1
    if odd == "all":
        out[1] = np.delete(out[1], 5)
        out[3] = out[3][:100]
        out[4] = np.zeros(0, dtype=np.int64)
    return out


@pytest.mark.parametrize("shape", [(1, 40, False, ""), (1, 40, False, "all"), (6, 12, True, ""),
                                   (6, 12, True, "moved"), (6, 12, True, "all"), (9, 8, False, "all")])
def test_rows_are_found_exactly(shape: tuple[int, int, bool, str]) -> None:
    rng = np.random.default_rng(1)
    series = _targets(rng, *shape)
    t, starts = _flat(series)
    rows = timerows.find(t, starts)
    assert rows is not None
    n_targets, _, _, odd = shape
    if odd != "all":  # a moved sample makes one row more, even in the representative
        assert len(rows.rep) == n_targets + (2 if odd else 0)
    for j, times in enumerate(series):
        r = int(rows.row[j])
        np.testing.assert_array_equal(rows.times[rows.tstarts[r] : rows.tstarts[r + 1]], times)
        np.testing.assert_array_equal(series[int(rows.rep[r])], times)
    assert rows.sizes.sum() == len(series)


def test_rows_not_shared_enough_are_not_grouped() -> None:
    rng = np.random.default_rng(2)
    series = [np.unique(rng.integers(0, 3_600_000, size=50)) for _ in range(30)]
    assert timerows.find(*_flat(series)) is None
    assert timerows.find(*_flat(series[:3])) is None  # too few series to pay
    assert timerows.find(*_flat([np.zeros(0, dtype=np.int64)] * 8)) is None


def _range_vectors(series: list[np.ndarray], rng: np.random.Generator, et: np.ndarray,
                   range_ms: int) -> tuple[RangeVector, RangeVector]:
    """The same samples windowed with rows (as the engine does) and without them."""
    data = []
    for j, times in enumerate(series):
        v = np.cumsum(rng.uniform(0, 10, len(times)))
        if j % 3 == 0 and len(v) > 4:
            v[len(v) // 2 :] -= v[len(v) // 2] - 1.0  # a counter reset
        if j % 4 == 1 and len(v) > 8:
            v[: len(v) // 3] = 0.0  # starts at zero: extrapolation stops at the zero point
        if j % 5 == 2:
            v = -v  # negative: never cut at zero
        data.append(Series(Labels.of(i=str(j)), times, v))
    ctx = EvalContext(MemoryStorage(), 0, 0, 0, 300_000, 10**9, float("inf"), None)
    with_rows = windowed(ctx, SeriesSet.of(data), et, range_ms, et)
    assert with_rows.windows is not None and with_rows._lo is None and with_rows._hi is None
    # the samples counted for the query's limit and statistics are the same either way
    other = EvalContext(MemoryStorage(), 0, 0, 0, 300_000, 10**9, float("inf"), None)
    find = timerows.find
    try:
        timerows.find = lambda t, starts: None  # type: ignore[assignment]
        windowed(other, SeriesSet.of(data), et, range_ms, et)
    finally:
        timerows.find = find
    assert (ctx.peak_samples, ctx.total_samples) == (other.peak_samples, other.total_samples)
    plain = RangeVector(with_rows.labels, with_rows.t, with_rows.v, with_rows.starts, with_rows.lo.copy(),
                        with_rows.hi.copy(), range_ms, with_rows.step_times, with_rows.eval_ts)
    return with_rows, plain


@pytest.mark.parametrize("block_cells", [1 << 16, 100, 1])
@pytest.mark.parametrize("shape", [(1, 40, False, ""), (1, 40, False, "all"), (6, 12, True, "moved"),
                                   (6, 12, True, "all")])
@pytest.mark.parametrize("grid", ["regular", "irregular"])
def test_rate_per_row_equals_rate_per_series(block_cells: int, shape: tuple[int, int, bool, str], grid: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(windows, "_BLOCK_CELLS", block_cells)
    rng = np.random.default_rng(4)
    series = _targets(rng, *shape)
    et = (np.arange(0, 3_700_000, 60_000, dtype=np.int64) if grid == "regular"
          else np.sort(rng.integers(0, 3_700_000, size=50)).astype(np.int64))
    for range_ms in (45_000, 300_000, 3_600_000):
        with_rows, plain = _range_vectors(series, rng, et, range_ms)
        for counter, is_rate in ((True, True), (True, False), (False, False)):
            got, ok = rangefuncs.extrapolated_rate(with_rows, counter, is_rate)
            want, want_ok = rangefuncs.extrapolated_rate(plain, counter, is_rate)
            np.testing.assert_array_equal(ok, want_ok)
            # bit for bit, NaN and infinities included
            np.testing.assert_array_equal(got[ok].view(np.uint64), want[ok].view(np.uint64))
        # the per-series bounds, made on demand, are the plain ones
        np.testing.assert_array_equal(with_rows.lo, plain.lo)
        np.testing.assert_array_equal(with_rows.hi, plain.hi)


@pytest.mark.parametrize("block_cells", [1 << 16, 300, 1])
@pytest.mark.parametrize("shape", [(1, 40, False, ""), (1, 40, False, "all"), (6, 12, True, "moved"),
                                   (6, 12, True, "all")])
@pytest.mark.parametrize("grid", ["regular", "irregular"])
def test_latest_per_row_equals_latest_per_series(block_cells: int, shape: tuple[int, int, bool, str],
                                                 grid: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(windows, "_BLOCK_CELLS", block_cells)
    rng = np.random.default_rng(6)
    series = _targets(rng, *shape)
    t, starts = _flat(series)
    v = rng.normal(size=len(t))
    v[rng.random(len(t)) < 0.1] = STALE_NAN
    v[rng.random(len(t)) < 0.05] = np.nan
    et = (np.arange(-60_000, 3_700_000, 60_000, dtype=np.int64) if grid == "regular"
          else np.sort(rng.integers(0, 3_700_000, size=40)).astype(np.int64))
    assert timerows.find(t, starts) is not None
    got = [_latest(t, v, starts, et, 300_000, stamps) for stamps in (False, True)]
    monkeypatch.setattr(timerows, "find", lambda t, starts: None)
    want = [_latest(t, v, starts, et, 300_000, stamps) for stamps in (False, True)]
    for (gv, gp), (wv, wp) in zip(got, want, strict=True):
        np.testing.assert_array_equal(gp, wp)
        np.testing.assert_array_equal(gv.view(np.uint64), wv.view(np.uint64))
