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


def _by_pattern(
    q: F64, ub_all: F64, cnt_all: F64, pres_all: np.ndarray, cols: np.ndarray
) -> tuple[F64, bool]:
    """Quantiles of one histogram at ``cols``, grouping columns by which buckets exist."""
    out = np.full(len(cols), np.nan)
    forced_any = False
    patterns, inverse = np.unique(pres_all[:, cols].T, axis=0, return_inverse=True)
    for p, mask in enumerate(patterns):
        if not mask.any():
            continue
        sel = np.flatnonzero(inverse.ravel() == p)
        counts, forced = _monotonic(cnt_all[mask][:, cols[sel]])
        forced_any |= bool(forced.any())
        out[sel] = _bucket_quantile(q[cols[sel]], ub_all[mask], counts)
    return out, forced_any


def histogram_quantile(ctx: EvalContext, q: F64, vec: Vector) -> Vector:
    """Classic-bucket quantiles.  Histograms sharing one bucket layout are computed
    together as a ``(buckets, histograms x steps)`` array; steps where some buckets are
    missing fall back to a per-histogram computation."""
    n = vec.n_steps
    groups = _group_buckets(ctx, vec)
    keys = list(groups)
    values = np.full((len(keys), n), np.nan)
    present = np.zeros((len(keys), n), dtype=bool)
    forced_rows: set[int] = set()
    layouts: dict[tuple[float, ...], list[tuple[int, list[int]]]] = {}
    for gi, key in enumerate(keys):
        items = sorted(groups[key])
        bounds = tuple(b for b, _ in items)
        rows = [r for _, r in items]
        if len(set(bounds)) == len(bounds):
            layouts.setdefault(bounds, []).append((gi, rows))
            continue
        ub_all, cnt_all, pres_all = _coalesced(list(bounds), rows, vec)
        values[gi], forced_g = _by_pattern(q, ub_all, cnt_all, pres_all, np.arange(n))
        present[gi] = pres_all.any(axis=0)
        if forced_g:
            forced_rows.add(rows[0])
    for bounds, members in layouts.items():
        ub = np.array(bounds)
        gis = np.array([gi for gi, _ in members])
        r = np.array([rows for _, rows in members])  # (G, m)
        c = np.where(vec.present[r], vec.values[r], 0.0)  # (G, m, n)
        p = vec.present[r]
        g, m = r.shape
        full = p.all(axis=1)
        present[gis] = p.any(axis=1)
        if full.any():
            counts, forced = _monotonic(c.transpose(1, 0, 2).reshape(m, g * n))
            res = _bucket_quantile(np.tile(q, g), ub, counts).reshape(g, n)
            values[gis] = np.where(full, res, np.nan)
            for k in np.flatnonzero((forced.reshape(g, n) & full).any(axis=1)):
                forced_rows.add(int(r[k, 0]))
        partial = present[gis] & ~full
        for k in np.flatnonzero(partial.any(axis=1)):
            cols = np.flatnonzero(partial[k])
            vals, forced_p = _by_pattern(q, ub, c[k], p[k], cols)
            values[gis[k], cols] = vals
            if forced_p:
                forced_rows.add(int(r[k, 0]))
    for row in sorted(forced_rows):
        ctx.info(f"{annotate.forced_monotonicity(vec.labels[row].name)} "
                 f"({annotate.position(ctx.query, 'histogram_quantile')})")
    if not keys:
        return Vector.empty(n)
    return merge_duplicates(Vector(keys, np.where(present, values, 0.0), present).compact())


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
