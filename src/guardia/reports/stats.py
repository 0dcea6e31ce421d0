"""The statistics behind the report's verdicts, in numpy, each stated with the figure it decides.

A report that says "better" must say by which test: latency and resource changes are judged
with a two-sided Mann-Whitney U test over per-interval values (no assumption that they are
normal, which latencies never are); anomalies with a robust z-score (median and MAD, so one
bad hour in the baseline does not hide the next); a memory leak with a Theil-Sen slope and a
Mann-Kendall trend test plus a check that the rise is sustained across the window.

The formulas follow the textbook large-sample forms (normal approximation with tie and
continuity corrections), which is what scipy's ``method="asymptotic"`` computes; the tests
compare the two.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

# Consistency constant: 1.4826 x MAD estimates the standard deviation of normal data.
MAD_SCALE = 1.4826
# Iglewicz and Hoaglin's threshold for the modified z-score.
ANOMALY_Z = 3.5
# The smallest scale a robust z-score divides by, as a share of the baseline's median.
MIN_SCALE = 0.01
SIGNIFICANCE = 0.05
LEAK_P = 0.01


def _finite(a: npt.ArrayLike) -> F64:
    x = np.asarray(a, dtype=np.float64)
    return x[np.isfinite(x)]


def average_ranks(x: F64) -> tuple[F64, npt.NDArray[np.int64]]:
    """Ranks from 1, ties given their average rank; and the size of each group of ties."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    mean_rank = upper - (counts - 1) / 2.0
    return mean_rank[inverse].astype(np.float64), counts.astype(np.int64)


@dataclass(frozen=True, slots=True)
class Comparison:
    """A two-sided Mann-Whitney U test of the window's values against the baseline's."""

    method: str
    u: float
    p: float
    n_window: int
    n_baseline: int
    median_window: float
    median_baseline: float
    alpha: float = SIGNIFICANCE

    @property
    def significant(self) -> bool:
        return self.p < self.alpha

    def to_json(self) -> dict[str, object]:
        return {"method": self.method, "u": self.u, "p": self.p, "alpha": self.alpha,
                "significant": self.significant, "n_window": self.n_window,
                "n_baseline": self.n_baseline, "median_window": self.median_window,
                "median_baseline": self.median_baseline}

    def describe(self) -> str:
        verdict = "significant" if self.significant else "not significant"
        return (f"{verdict} (Mann-Whitney U, two-sided, p={self.p:.3g}, α={self.alpha:g}; "
                f"{self.n_window} vs {self.n_baseline} per-interval values)")


def mann_whitney(window: npt.ArrayLike, baseline: npt.ArrayLike) -> Comparison | None:
    """None when either side has fewer than 3 values: no test, no verdict."""
    a, b = _finite(window), _finite(baseline)
    n1, n2 = a.size, b.size
    if n1 < 3 or n2 < 3:
        return None
    both = np.concatenate([a, b])
    ranks, ties = average_ranks(both)
    u1 = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2.0)
    n = n1 + n2
    mu = n1 * n2 / 2.0
    tie_term = float((ties.astype(np.float64) ** 3 - ties).sum()) / (n * (n - 1))
    sigma = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term))
    if sigma == 0.0:
        p = 1.0
    else:
        u = max(u1, n1 * n2 - u1)
        z = (u - mu - 0.5) / sigma
        p = min(1.0, math.erfc(z / math.sqrt(2.0)))
    return Comparison("Mann-Whitney U", u1, p, n1, n2, float(np.median(a)), float(np.median(b)))


def robust_z(value: float, baseline: npt.ArrayLike) -> float | None:
    """(value - median) / (1.4826 x MAD) of the baseline; None with fewer than 3 values.

    A baseline whose MAD is 0 (more than half of it equal) falls back to the mean absolute
    deviation (x 1.2533, its own consistency constant).  The scale is never below
    ``MIN_SCALE`` of the median, so a change smaller than 1% of it is never an anomaly however
    steady the baseline (a flat baseline would otherwise turn rounding noise into alarms);
    a baseline of zeros gives 0 for zero and infinity for anything else."""
    b = _finite(baseline)
    if b.size < 3 or not math.isfinite(value):
        return None
    med = float(np.median(b))
    dev = np.abs(b - med)
    scale = MAD_SCALE * float(np.median(dev))
    if scale == 0.0:
        scale = 1.2533 * float(dev.mean())
    scale = max(scale, MIN_SCALE * abs(med))
    if scale == 0.0:
        return 0.0 if value == med else math.copysign(math.inf, value - med)
    return (value - med) / scale


@dataclass(frozen=True, slots=True)
class Trend:
    """A rising trend test: Theil-Sen slope (units per hour), Mann-Kendall one-sided p,
    and whether each quarter's median is above the one before (the rise is sustained)."""

    slope_per_hour: float
    p: float
    sustained: bool
    n: int
    quarter_medians: tuple[float, ...]

    @property
    def leak(self) -> bool:
        return self.slope_per_hour > 0 and self.p < LEAK_P and self.sustained

    def to_json(self) -> dict[str, object]:
        return {"method": "Theil-Sen slope + Mann-Kendall (one-sided) + rising quarter medians",
                "slope_per_hour": self.slope_per_hour, "p": self.p, "alpha": LEAK_P,
                "sustained": self.sustained, "n": self.n,
                "quarter_medians": list(self.quarter_medians), "leak": self.leak}


LEAK_RULE = ("a leak is a Theil-Sen slope above 0, a Mann-Kendall trend test (one-sided) with "
             f"p < {LEAK_P:g}, and the median of each quarter of the window above the one before")

MAX_TREND_POINTS = 400


def trend(t_ms: npt.ArrayLike, values: npt.ArrayLike) -> Trend | None:
    """None with fewer than 12 points (three per quarter)."""
    t = np.asarray(t_ms, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(y)
    t, y = t[keep], y[keep]
    if y.size < 12:
        return None
    if y.size > MAX_TREND_POINTS:  # pairwise work is quadratic: thin evenly
        idx = np.linspace(0, y.size - 1, MAX_TREND_POINTS).round().astype(np.int64)
        t, y = t[idx], y[idx]
    n = y.size
    i, j = np.triu_indices(n, k=1)
    dt = (t[j] - t[i]) / 3_600_000.0
    dy = y[j] - y[i]
    ok = dt > 0
    slope = float(np.median(dy[ok] / dt[ok])) if ok.any() else 0.0
    s = float(np.sign(dy).sum())
    _, ties = np.unique(y, return_counts=True)
    tf = ties.astype(np.float64)
    var = (n * (n - 1) * (2 * n + 5) - float((tf * (tf - 1) * (2 * tf + 5)).sum())) / 18.0
    if var <= 0 or s <= 0:
        p = 1.0 if s <= 0 else 0.0
    else:
        z = (s - 1.0) / math.sqrt(var)
        p = 0.5 * math.erfc(z / math.sqrt(2.0))
    quarters = tuple(float(np.median(q)) for q in np.array_split(y, 4))
    sustained = all(b > a for a, b in itertools.pairwise(quarters))
    return Trend(slope, p, sustained, n, quarters)


def trends(series: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]]) -> list[Trend | None]:
    """``trend`` of many series: those with the same timestamps and only finite values
    (every instance scraped on one schedule) as rows of one array, each statistic over
    all rows at once; the rest one by one.  The same numbers as ``trend`` series by series
    (the same medians of the same values, sums of whole numbers): a report tests a
    thousand instances, and ``trend`` costs a third of a millisecond each."""
    out: list[Trend | None] = [None] * len(series)
    rows: dict[bytes, list[int]] = {}
    arrays: list[tuple[F64, F64]] = []
    for k, (t_ms, values) in enumerate(series):
        t = np.asarray(t_ms, dtype=np.float64)
        y = np.asarray(values, dtype=np.float64)
        arrays.append((t, y))
        if 12 <= y.size <= MAX_TREND_POINTS and t.shape == y.shape and bool(np.isfinite(y).all()):
            rows.setdefault(t.tobytes(), []).append(k)
        else:
            out[k] = trend(t, y)
    for members in rows.values():
        t = arrays[members[0]][0]
        y = np.stack([arrays[k][1] for k in members])
        for k, tr in zip(members, _trend_rows(t, y), strict=True):
            out[k] = tr
    return out


def _trend_rows(t: F64, y: F64) -> list[Trend]:
    """``trend`` of each row of ``y`` (finite, 12 to ``MAX_TREND_POINTS`` values) over ``t``."""
    m, n = y.shape
    i, j = np.triu_indices(n, k=1)
    dt = (t[j] - t[i]) / 3_600_000.0
    dy = y[:, j] - y[:, i]
    ok = dt > 0
    slopes = np.median(dy[:, ok] / dt[ok], axis=1) if ok.any() else np.zeros(m)
    signs = np.sign(dy).sum(axis=1)
    # ties: runs of equal values in each sorted row
    srt = np.sort(y, axis=1)
    new = np.ones((m, n), dtype=np.bool_)
    new[:, 1:] = srt[:, 1:] != srt[:, :-1]
    flat = new.ravel()
    run = np.cumsum(flat) - 1
    tf = np.bincount(run).astype(np.float64)
    run_row = np.flatnonzero(flat) // n
    tie_terms = np.bincount(run_row, weights=tf * (tf - 1) * (2 * tf + 5), minlength=m)
    quarters = [np.median(q, axis=1) for q in np.array_split(y, 4, axis=1)]
    out = []
    for r in range(m):
        s = float(signs[r])
        var = (n * (n - 1) * (2 * n + 5) - float(tie_terms[r])) / 18.0
        if var <= 0 or s <= 0:
            p = 1.0 if s <= 0 else 0.0
        else:
            z = (s - 1.0) / math.sqrt(var)
            p = 0.5 * math.erfc(z / math.sqrt(2.0))
        qs = tuple(float(q[r]) for q in quarters)
        sustained = all(b > a for a, b in itertools.pairwise(qs))
        out.append(Trend(float(slopes[r]), p, sustained, n, qs))
    return out

