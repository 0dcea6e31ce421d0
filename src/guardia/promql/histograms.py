"""``histogram_quantile`` and ``histogram_fraction`` over classic (``le``-labelled) buckets.

Buckets of one histogram are grouped once; the quantile is then computed for all steps
at once whenever the same buckets are present at every step (the common case), and per
step otherwise.
"""

from __future__ import annotations

import math

import numpy as np

from guardia.model import Labels
from guardia.promql import annotate
from guardia.promql.context import EvalContext
from guardia.promql.dedupe import merge_duplicates
from guardia.promql.values import F64, Vector

_SMALL_DELTA = 1e-12


def _parse_le(s: str) -> float | None:
    try:
        return float(s.strip())
    except ValueError:
        low = s.strip().lower()
        if low in ("+inf", "inf"):
            return math.inf
        if low == "-inf":
            return -math.inf
        return None


def _group_buckets(ctx: EvalContext, vec: Vector) -> dict[Labels, list[tuple[float, int]]]:
    groups: dict[Labels, list[tuple[float, int]]] = {}
    for i, ls in enumerate(vec.labels):
        le_s = ls.get("le")
        le = _parse_le(le_s) if le_s else None
        if le is None:
            ctx.warn(
                f"{annotate.bad_bucket_label(le_s, ls.name)} ({annotate.position(ctx.query, ls.name)})"
            )
            continue
        key = ls.without("le", "__name__")
        groups.setdefault(key, []).append((le, i))
    return groups


def _coalesced(bounds: list[float], rows: list[int], vec: Vector) -> tuple[F64, F64, np.ndarray]:
    """Bucket bounds (sorted, merged duplicates) and counts ``(m, n)`` plus presence."""
    order = sorted(range(len(bounds)), key=lambda i: bounds[i])
    ub: list[float] = []
    cnt: list[F64] = []
    pres: list[np.ndarray] = []
    for i in order:
        r = rows[i]
        vals = np.where(vec.present[r], vec.values[r], 0.0)
        if ub and ub[-1] == bounds[i]:
            cnt[-1] = cnt[-1] + vals
            pres[-1] = pres[-1] | vec.present[r]
        else:
            ub.append(bounds[i])
            cnt.append(vals)
            pres.append(vec.present[r].copy())
    return np.array(ub), np.array(cnt), np.array(pres)


def _monotonic(counts: F64) -> tuple[F64, np.ndarray]:
    """Prometheus's two fixes, per step column: first counts that differ from the
    previous bucket by a relative 1e-12 or less are set equal (float noise), then any
    remaining decrease is lifted to the running maximum (reported as forced)."""
    c = counts.copy()
    prev = c[0].copy()
    with np.errstate(all="ignore"):
        for i in range(1, c.shape[0]):
            cur = c[i]
            delta = np.abs(cur - prev)
            noise = (delta != 0) & (delta / cur <= _SMALL_DELTA)
            c[i] = np.where(noise, prev, cur)
            prev = np.where((delta != 0) & ~noise, cur, prev)
    forced = np.zeros(c.shape[1], dtype=bool)
    top = c[0].copy()
    for i in range(1, c.shape[0]):
        lower = c[i] < top
        forced |= lower
        c[i] = np.where(lower, top, c[i])
        top = np.maximum(top, c[i])
    return c, forced


def _bucket_quantile(q: F64, ub: F64, counts: F64) -> F64:
    """Quantile per step column from monotonic cumulative ``counts`` (m, n)."""
    m, n = counts.shape
    out = np.full(n, np.nan)
    if m < 2 or not math.isinf(ub[-1]) or ub[-1] < 0:
        return _edge(q, out)
    obs = counts[-1]
    rank = q * obs
    # First bucket (excluding +Inf) whose count reaches the rank.
    reach = counts[:-1] >= rank[None, :]
    b = np.where(reach.any(axis=0), np.argmax(reach, axis=0), m - 1)
    cols = np.arange(n)
    bucket_end = ub[np.minimum(b, m - 1)]
    cnt_b = counts[np.minimum(b, m - 1), cols]
    prev_idx = np.maximum(b - 1, 0)
    start = np.where(b > 0, ub[prev_idx], 0.0)
    cnt_prev = np.where(b > 0, counts[prev_idx, cols], 0.0)
    with np.errstate(all="ignore"):
        res = start + (bucket_end - start) * ((rank - cnt_prev) / (cnt_b - cnt_prev))
    res = np.where(b == m - 1, ub[m - 2], res)
    res = np.where((b == 0) & (ub[0] <= 0), ub[0], res)
    res = np.where(obs == 0, np.nan, res)
    res = np.where(np.isnan(obs), np.nan, res)
    return _edge(q, res)


def _edge(q: F64, res: F64) -> F64:
    res = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, res))
    out: F64 = np.where(np.isnan(q), np.nan, res)
    return out


def histogram_quantile(ctx: EvalContext, q: F64, vec: Vector) -> Vector:
    n = vec.n_steps
    labels: list[Labels] = []
    values: list[F64] = []
    present: list[np.ndarray] = []
    for key, items in _group_buckets(ctx, vec).items():
        bounds = [b for b, _ in items]
        rows = [r for _, r in items]
        ub_all, cnt_all, pres_all = _coalesced(bounds, rows, vec)
        out = np.full(n, np.nan)
        # Columns sharing one presence pattern are computed together.
        patterns: dict[bytes, list[int]] = {}
        for col in range(n):
            patterns.setdefault(pres_all[:, col].tobytes(), []).append(col)
        any_present = pres_all.any(axis=0)
        forced_any = False
        for pat, cols_l in patterns.items():
            mask = np.frombuffer(pat, dtype=bool)
            if not mask.any():
                continue
            cols = np.asarray(cols_l)
            ub = ub_all[mask]
            counts, forced = _monotonic(cnt_all[mask][:, cols])
            forced_any |= bool(forced.any())
            out[cols] = _bucket_quantile(q[cols], ub, counts)
        if forced_any:
            ctx.info(f"{annotate.forced_monotonicity(vec.labels[rows[0]].name)} "
                     f"({annotate.position(ctx.query, 'histogram_quantile')})")
        labels.append(key)
        values.append(out)
        present.append(np.asarray(any_present))
    if not labels:
        return Vector.empty(n)
    return merge_duplicates(Vector(labels, np.array(values), np.array(present)).compact())


def histogram_fraction(ctx: EvalContext, lower: F64, upper: F64, vec: Vector) -> Vector:
    n = vec.n_steps
    labels: list[Labels] = []
    values: list[F64] = []
    present: list[np.ndarray] = []
    for key, items in _group_buckets(ctx, vec).items():
        ub_all, cnt_all, pres_all = _coalesced([b for b, _ in items], [r for _, r in items], vec)
        out = np.full(n, np.nan)
        for col in range(n):
            mask = pres_all[:, col]
            if not mask.any():
                continue
            out[col] = _fraction(float(lower[col]), float(upper[col]), ub_all[mask], cnt_all[mask, col])
        labels.append(key)
        values.append(out)
        present.append(np.asarray(pres_all.any(axis=0)))
    if not labels:
        return Vector.empty(n)
    return merge_duplicates(Vector(labels, np.array(values), np.array(present)).compact())


def _fraction(lower: float, upper: float, ub: F64, counts: F64) -> float:
    """Prometheus's BucketFraction: share of observations in ``[lower, upper]``."""
    if len(ub) == 0 or not math.isinf(ub[-1]):
        return math.nan
    c, _ = _monotonic(counts[:, None])
    cum = c[:, 0]
    total = cum[-1]
    if total == 0 or math.isnan(lower) or math.isnan(upper):
        return math.nan
    if lower >= upper:
        return 0.0

    def rank_at(x: float) -> float:
        prev_ub, prev_c = -math.inf, 0.0
        for b, cc in zip(ub.tolist(), cum.tolist(), strict=True):
            if x <= b:
                if math.isinf(b):
                    return float(prev_c if x < b else cc)
                lo_b = 0.0 if (math.isinf(prev_ub) and b > 0) else prev_ub
                if math.isinf(prev_ub) and b <= 0:
                    return float(prev_c if x < b else cc)
                if x <= lo_b:
                    return float(prev_c)
                return float(prev_c + (cc - prev_c) * (x - lo_b) / (b - lo_b))
            prev_ub, prev_c = b, cc
        return float(total)

    return float((rank_at(upper) - rank_at(lower)) / total)
