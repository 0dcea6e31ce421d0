"""Window bounds: the vectorised per-series search and the regular-grid shortcut."""

from __future__ import annotations

import numpy as np

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


def test_regular_grid_bounds_equal_two_searches() -> None:
    rng = np.random.default_rng(3)
    series = [np.unique(rng.integers(0, 3_600_000, size=200)) for _ in range(10)]
    starts = np.zeros(len(series) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in series], out=starts[1:])
    t = np.concatenate(series).astype(np.int64)
    et = np.arange(300_000, 3_600_000, 15_000, dtype=np.int64)
    lo, hi = _bounds(t, starts, et, 300_000)
    np.testing.assert_array_equal(lo, _naive(t, starts, et - 300_000))
    np.testing.assert_array_equal(hi, _naive(t, starts, et))
