"""Window bounds: the vectorised per-series search and the regular-grid shortcut."""

from __future__ import annotations

import numpy as np
import pytest

from guardia.promql import windows
from guardia.promql.selectors import _bounds
from guardia.promql.windows import search


def _naive(t: np.ndarray, starts: np.ndarray, q: np.ndarray) -> np.ndarray:
    out = np.empty((len(starts) - 1, len(q)), dtype=np.int64)
    for j in range(len(starts) - 1):
        a, b = starts[j], starts[j + 1]
        out[j] = a + np.searchsorted(t[a:b], q, side="right")
    return out


def test_search_matches_per_series_searchsorted() -> None:
    rng = np.random.default_rng(7)
    series = [np.unique(rng.integers(-50_000, 500_000, size=rng.integers(0, 60))) for _ in range(25)]
    starts = np.zeros(len(series) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in series], out=starts[1:])
    t = np.concatenate(series).astype(np.int64)
    q = np.arange(-100_000, 600_000, 7_000, dtype=np.int64)
    np.testing.assert_array_equal(search(t, starts, q), _naive(t, starts, q))


@pytest.mark.parametrize("block_cells", [1 << 16, 500, 1])
def test_regular_grid_bounds_equal_two_searches(block_cells: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Also with the series binned in many blocks (one series per block at the smallest)."""
    monkeypatch.setattr(windows, "_BLOCK_CELLS", block_cells)
    rng = np.random.default_rng(3)
    series = [np.unique(rng.integers(0, 3_600_000, size=200)) for _ in range(10)]
    series[4] = series[9] = np.zeros(0, dtype=np.int64)
    starts = np.zeros(len(series) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in series], out=starts[1:])
    t = np.concatenate(series).astype(np.int64)
    et = np.arange(300_000, 3_600_000, 15_000, dtype=np.int64)
    lo, hi = _bounds(t, starts, et, 300_000)
    np.testing.assert_array_equal(lo, _naive(t, starts, et - 300_000))
    np.testing.assert_array_equal(hi, _naive(t, starts, et))


def test_search_for_few_times_counts_samples_per_series() -> None:
    """Instant queries take the counting path: empty series (also at the end) and query
    times equal to sample times must give what a per-series search gives."""
    rng = np.random.default_rng(9)
    for _ in range(200):
        k = int(rng.integers(1, 30))
        counts = rng.integers(0, 6, k) * rng.integers(0, 2, k)
        counts[0] = max(int(counts[0]), 1)
        starts = np.zeros(k + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        t = np.concatenate([np.sort(rng.choice(100, c, replace=False)) for c in counts]).astype(np.int64)
        q = rng.integers(-5, 105, int(rng.integers(1, 5))).astype(np.int64)
        for side in ("left", "right"):
            want = np.empty((k, len(q)), dtype=np.int64)
            for j in range(k):
                a, b = starts[j], starts[j + 1]
                want[j] = a + np.searchsorted(t[a:b], q, side=side)
            np.testing.assert_array_equal(search(t, starts, q, side), want)


def _latest_naive(t: np.ndarray, v: np.ndarray, starts: np.ndarray, et: np.ndarray,
                  lookback: int) -> tuple[np.ndarray, np.ndarray]:
    from guardia.model.samples import is_stale_nan

    k = len(starts) - 1
    values, present = np.zeros((k, len(et))), np.zeros((k, len(et)), dtype=bool)
    for j in range(k):
        for i, e in enumerate(et.tolist()):
            at = [x for x in range(starts[j], starts[j + 1]) if t[x] <= e]
            if at and t[at[-1]] > e - lookback and not is_stale_nan(float(v[at[-1]])):
                values[j, i], present[j, i] = v[at[-1]], True
    return values, present


@pytest.mark.parametrize("block_cells", [1 << 16, 300, 1])
@pytest.mark.parametrize("grid", ["regular", "irregular", "few"])
def test_latest_sample_per_step_in_blocks_equals_a_plain_walk(
        block_cells: int, grid: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An instant selector's latest sample per step (within the lookback, stale markers
    dropped): on a regular step grid (one bincount per block of series), an irregular one
    and a few steps (searches), in blocks of every size, with empty and ended series."""
    from guardia.model.samples import STALE_NAN
    from guardia.promql.selectors import _latest

    monkeypatch.setattr(windows, "_BLOCK_CELLS", block_cells)
    rng = np.random.default_rng(11)
    series = [np.unique(rng.integers(0, 3_600_000, size=rng.integers(0, 90))) for _ in range(12)]
    series[3] = np.zeros(0, dtype=np.int64)
    series[7] = series[7][series[7] < 1_000_000]  # ends early: absent after the lookback
    starts = np.zeros(len(series) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in series], out=starts[1:])
    t = np.concatenate(series).astype(np.int64)
    v = rng.normal(size=len(t))
    v[rng.random(len(t)) < 0.1] = STALE_NAN
    v[rng.random(len(t)) < 0.05] = np.nan  # a NaN sample is a value, unlike a stale marker
    et = {"regular": np.arange(-60_000, 3_700_000, 60_000, dtype=np.int64),
          "irregular": np.sort(rng.integers(0, 3_700_000, size=40)).astype(np.int64),
          "few": np.array([500_000, 2_000_000, 3_599_999], dtype=np.int64)}[grid]
    values, present = _latest(t, v, starts, et, 300_000, False)
    want_v, want_p = _latest_naive(t, v, starts, et, 300_000)
    np.testing.assert_array_equal(present, want_p)
    np.testing.assert_array_equal(values[present], want_v[present])
    assert (values[~present] == 0).all()
    stamps, present_t = _latest(t, v, starts, et, 300_000, True)
    np.testing.assert_array_equal(present_t, want_p)
    idx = np.nonzero(present)
    assert (stamps[idx] * 1000 <= et[idx[1]]).all() and (stamps[idx] * 1000 > et[idx[1]] - 300_000).all()
