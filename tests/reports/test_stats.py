"""The report's tests against scipy's (a real, independent implementation)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from guardia.reports.stats import mann_whitney, robust_z, trend, trends

stats = pytest.importorskip("scipy.stats", reason="scipy is the reference the tests compare with")


@pytest.mark.parametrize("seed", range(6))
def test_mann_whitney_matches_scipy_asymptotic(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0, 1, size=int(rng.integers(5, 60)))
    b = rng.lognormal(0.3 * (seed % 3), 1, size=int(rng.integers(5, 300)))
    if seed % 2:  # ties, as rounded latencies have
        a, b = np.round(a, 1), np.round(b, 1)
    ours = mann_whitney(a, b)
    ref = stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic", use_continuity=True)
    assert ours is not None
    assert ours.u == pytest.approx(ref.statistic)
    assert ours.p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)


def test_mann_whitney_needs_three_values_a_side() -> None:
    assert mann_whitney([1, 2], [1, 2, 3]) is None
    assert mann_whitney([1, 2, float("nan"), 4], [1, 2, 3]) is not None
    same = mann_whitney([1, 1, 1], [1, 1, 1, 1])
    assert same is not None and same.p == 1.0 and not same.significant


def test_mann_kendall_and_theil_sen_match_scipy() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(48) * 1_800_000
    y = 1000 + 5 * np.arange(48) + rng.normal(0, 20, 48)
    tr = trend(t, y)
    assert tr is not None
    # slope per hour: 5 per half hour
    ref = stats.theilslopes(y, t / 3_600_000)
    assert tr.slope_per_hour == pytest.approx(ref.slope)
    tau = stats.kendalltau(np.arange(48), y, alternative="greater", method="asymptotic")
    assert tr.p == pytest.approx(tau.pvalue, rel=0.05)
    assert tr.leak


def test_a_step_is_not_a_leak_and_a_flat_series_is_not_either() -> None:
    t = np.arange(48) * 1_800_000
    step = np.where(np.arange(48) < 10, 100.0, 200.0)  # cache warm-up, then flat
    tr = trend(t, step)
    assert tr is not None and not tr.sustained and not tr.leak
    flat = trend(t, np.full(48, 7.0))
    assert flat is not None and not flat.leak and flat.p == 1.0
    assert trend(t[:11], np.arange(11.0)) is None


def test_trends_of_many_series_are_trend_of_each() -> None:
    """The thousand instances of a report in one array: exactly the numbers ``trend``
    gives series by series, including rows with ties, flat rows, NaN, other timestamps,
    too few points and more than the thinning limit."""
    rng = np.random.default_rng(8)
    t = np.arange(48) * 1_800_000.0
    series: list[tuple[np.ndarray, np.ndarray]] = []
    for k in range(60):
        y = 1e9 + rng.normal(0, 1e6, 48) + (k % 3) * 1e5 * np.arange(48)
        if k % 4 == 0:
            y = np.round(y, -6)  # ties
        series.append((t, y))
    series.append((t, np.full(48, 7.0)))
    series.append((t, np.where(np.arange(48) == 5, np.nan, np.arange(48.0))))
    series.append((t + 60_000, np.arange(48.0) ** 1.5))
    series.append((t[:11], np.arange(11.0)))
    long_t = np.arange(500) * 60_000.0
    series.append((long_t, np.sin(np.arange(500) / 30.0)))
    got = trends(series)
    assert got == [trend(a, b) for a, b in series]
    assert got[-2] is None and sum(tr is not None and tr.leak for tr in got) >= 10


def test_robust_z() -> None:
    base = np.array([10.0, 11, 9, 10, 10.5, 9.5, 30])  # one outlier in the baseline does not hide
    mad = np.median(np.abs(base - 10))
    assert robust_z(13, base) == pytest.approx(3 / (1.4826 * mad))
    assert robust_z(10.05, np.full(7, 10.0)) == pytest.approx(0.05 / 0.1)  # floor: 1% of the median
    assert robust_z(1, np.zeros(5)) == math.inf and robust_z(0, np.zeros(5)) == 0
    assert robust_z(1, [1, 2]) is None
