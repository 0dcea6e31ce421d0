"""The report's rate figures from ``rollup`` cells: what ``compared`` would get from PromQL.

Each function returns the four answers ``compared`` asks the source for (the value over
the window, the baseline's, and the per-interval series of both) for one expression shape
the report uses — ``sum by (L) (rate(sel[d]))``, ``histogram_quantile(q, sum by (L, le)
(rate(sel[d])))`` and the error ratio — or None when the source cannot be read that way
(``--url``) or the window is not whole intervals; ``compared`` then runs the PromQL.
Sums and quantiles go through the engine's own ``grouped_sum`` and ``histogram_quantile``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from guardia.model import Labels
from guardia.model.matchers import Matcher, MatcherError, parse_matchers
from guardia.promql.context import EvalContext
from guardia.promql.histograms import histogram_quantile
from guardia.promql.kahan import grouped_sum
from guardia.promql.values import Vector
from guardia.reports.context import Ctx
from guardia.reports.rollup import BOOL, F64, I64, Cells, LabelColumns, interval_rates, window_rate
from guardia.reports.source import Points


@dataclass(slots=True)
class Evaluated:
    """What ``compared`` reads: values at the window's and the baseline's end by label set,
    and the per-interval series over each."""

    values: dict[Labels, float]
    bases: dict[Labels, float]
    cur: dict[Labels, Points]
    base: dict[Labels, Points]


@dataclass(slots=True)
class Ranges:
    """One vector expression over the report's four ranges (same rows in each)."""

    labels: list[Labels]
    value: tuple[F64, BOOL]  # (rows,)
    baseline: tuple[F64, BOOL] | None
    cur: tuple[I64, F64, BOOL]  # step times, (rows, steps)
    base: tuple[I64, F64, BOOL] | None
    # ``sum by`` groups of the rows, by grouping labels (the error ratio sums twice)
    groups: dict[tuple[str, ...], tuple[list[Labels], I64]] = field(default_factory=dict)
    columns: LabelColumns | None = None

    def table(self) -> LabelColumns:
        if self.columns is None:
            self.columns = LabelColumns(self.labels)
        return self.columns


def counter_rates(cc: Cells, start: int, end: int, baseline_start: int,
                  with_intervals: bool) -> Ranges | None:
    """``rate(sel[d])`` of every series: d = the window at its end, the baseline at its end,
    the interval every interval over both."""
    value = window_rate(cc, start, end)
    cur = interval_rates(cc, start, end)
    if value is None or cur is None:
        return None
    baseline = base = None
    if start > baseline_start:
        baseline = window_rate(cc, baseline_start, start)
        if baseline is None:
            return None
        if with_intervals:
            base = interval_rates(cc, baseline_start, start)
    return Ranges(cc.labels, value, baseline, cur, base)


def _sum(values: F64, ok: BOOL, rows: I64, gidx: I64, groups: int) -> tuple[F64, BOOL]:
    """``sum`` as the engine computes it over the vector PromQL would have built: the rows
    in its order, without those absent at every step (``compact``), so the additions
    happen in the same order and agree to the last bit."""
    live = rows[ok[rows].any(axis=1)]
    has = np.zeros((groups, values.shape[1]), dtype=np.bool_)
    if not live.shape[0]:
        return np.zeros((groups, values.shape[1])), has
    # every row, in order: no copies
    whole = live.shape[0] == values.shape[0] and bool((live[1:] > live[:-1]).all())
    sub = gidx if whole else gidx[live]
    present = ok if whole else ok[live]
    order = np.argsort(sub, kind="stable")
    size = np.bincount(sub, minlength=groups)
    used = np.flatnonzero(size)
    bounds = (np.cumsum(size) - size)[used]
    has[used] = np.logical_or.reduceat(present[order], bounds, axis=0)
    width = values.shape[1]
    cols = max(1, _SUM_CELLS // live.shape[0])
    if width <= cols or not _nonnegative(values, ok, live, whole):
        out = grouped_sum(values if whole else values[live], present, sub, groups, order)
    else:
        # a few columns at a time: the engine's sum is column by column (each step on its
        # own), so the same numbers, while its copies of the input (masked, in group
        # order: 64 MB each for 24,000 series x 336 intervals) stay small enough to reuse
        # freed memory instead of faulting in fresh pages.  Its one whole-input choice,
        # whether every term is >= 0, is made here for all columns alike.
        out = np.empty((groups, width))
        for c0 in range(0, width, cols):
            cs = slice(c0, c0 + cols)
            part = values[:, cs] if whole else values[live, cs]
            out[:, cs] = grouped_sum(part, present[:, cs], sub, groups, order)
    return np.where(has, out, 0.0), has


_SUM_CELLS = 1 << 20  # cells (8 MB) per call of grouped_sum


def _nonnegative(values: F64, ok: BOOL, live: I64, whole: bool) -> bool:
    """Whether every present value ``grouped_sum`` would add is >= 0 (NaN is not)."""
    mask = ok
    if not whole:
        sel = np.zeros(values.shape[0], dtype=np.bool_)
        sel[live] = True
        mask = ok & sel[:, None]
    return bool(np.min(values, where=mask, initial=0.0) >= 0)


def summed(r: Ranges, by: Sequence[str], rows: I64 | None = None) -> Ranges:
    """``sum by (by) (...)`` over the rows ``rows`` (positions, in the order PromQL's
    vector has them; all by default); groups of every row."""
    key = tuple(by)
    if key not in r.groups:
        r.groups[key] = r.table().group_index(by)
    keys, gidx = r.groups[key]
    sel = np.arange(len(r.labels), dtype=np.int64) if rows is None else rows
    g = len(keys)

    def col(p: tuple[F64, BOOL]) -> tuple[F64, BOOL]:
        v, ok = _sum(p[0][:, None], p[1][:, None], sel, gidx, g)
        return v[:, 0], ok[:, 0]

    def grid(p: tuple[I64, F64, BOOL]) -> tuple[I64, F64, BOOL]:
        v, ok = _sum(p[1], p[2], sel, gidx, g)
        return p[0], v, ok

    return Ranges(keys, col(r.value), None if r.baseline is None else col(r.baseline), grid(r.cur),
                  None if r.base is None else grid(r.base))


def quantile(q: float, r: Ranges, query: str) -> Ranges:
    """``histogram_quantile(q, ...)`` of each range (bucket rows carry ``le``)."""
    ectx = _eval_context(query)
    out_labels: list[Labels] | None = None

    def one(values: F64, ok: BOOL) -> tuple[list[Labels], F64, BOOL]:
        vec = histogram_quantile(ectx, np.full(values.shape[1], q), Vector(r.labels, values, ok))
        return vec.labels, vec.values, vec.present

    def col(p: tuple[F64, BOOL]) -> tuple[list[Labels], tuple[F64, BOOL]]:
        labels, v, ok = one(p[0][:, None], p[1][:, None])
        return labels, (v[:, 0], ok[:, 0])

    def grid(p: tuple[I64, F64, BOOL]) -> tuple[list[Labels], tuple[I64, F64, BOOL]]:
        labels, v, ok = one(p[1], p[2])
        return labels, (p[0], v, ok)

    out_labels, value = col(r.value)
    parts: dict[str, Any] = {}
    for name, part in (("baseline", r.baseline), ("cur", r.cur), ("base", r.base)):
        if part is None:
            parts[name] = None
            continue
        labels, res = col(part) if name == "baseline" else grid(part)  # type: ignore[arg-type]
        parts[name] = _align(labels, res, out_labels)
    return Ranges(out_labels, value, parts["baseline"], parts["cur"], parts["base"])


def _align(labels: list[Labels], part: Any, to: list[Labels]) -> Any:
    """Rows of ``part`` (by ``labels``) reordered to ``to``; absent where missing."""
    pos = {lb: i for i, lb in enumerate(labels)}
    idx = np.array([pos.get(lb, -1) for lb in to], dtype=np.int64)
    miss = idx < 0
    take = np.where(miss, 0, idx)
    if len(part) == 2:
        v, ok = part
        if not len(labels):
            return np.zeros(len(to)), np.zeros(len(to), dtype=np.bool_)
        return v[take], ok[take] & ~miss
    t, v, ok = part
    if not len(labels):
        return t, np.zeros((len(to), t.shape[0])), np.zeros((len(to), t.shape[0]), dtype=np.bool_)
    return t, v[take], ok[take] & ~miss[:, None]


def error_ratio(total: Ranges, errors: Ranges) -> Ranges:
    """``(sum by (L) (errors) or sum by (L) (total) * 0) / sum by (L) (total)``: both summed
    over the same groups (the error rows are a subset of the total's)."""

    def div(e: tuple[F64, BOOL], t: tuple[F64, BOOL]) -> tuple[F64, BOOL]:
        with np.errstate(all="ignore"):
            num = np.where(e[1], e[0], t[0] * 0)
            return np.where(t[1], num / t[0], 0.0), t[1].copy()

    def col(e: Any, t: Any) -> Any:
        return None if t is None else div(e, t)

    def grid(e: Any, t: Any) -> Any:
        if t is None:
            return None
        v, ok = div((e[1], e[2]), (t[1], t[2]))
        return t[0], v, ok

    return Ranges(total.labels, div(errors.value, total.value), col(errors.baseline, total.baseline),
                  grid(errors.cur, total.cur), grid(errors.base, total.base))


def evaluated(r: Ranges) -> Evaluated:
    def col(p: tuple[F64, BOOL] | None) -> dict[Labels, float]:
        if p is None:
            return {}
        return {r.labels[i]: float(p[0][i]) for i in np.flatnonzero(p[1]).tolist()}

    def grid(p: tuple[I64, F64, BOOL] | None) -> dict[Labels, Points]:
        if p is None:
            return {}
        t, v, ok = p
        out = {}
        for i in np.flatnonzero(ok.any(axis=1)).tolist():
            keep = ok[i]
            out[r.labels[i]] = Points(r.labels[i], t[keep].astype(np.int64), v[i][keep].astype(np.float64))
        return out

    return Evaluated(col(r.value), col(r.baseline), grid(r.cur), grid(r.base))


def rows_matching(table: LabelColumns, any_of: Sequence[Sequence[Matcher]]) -> I64:
    """Series selected by any of several selectors, as ``a or b`` lists them: those of the
    first in order, then those of the next not listed yet (each series once)."""
    out: list[I64] = []
    taken = np.zeros(len(table.labels), dtype=np.bool_)
    for ms in any_of:
        hit = table.matching(ms) & ~taken
        out.append(np.flatnonzero(hit))
        taken |= hit
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _eval_context(query: str) -> EvalContext:
    """The context ``histogram_quantile`` reports its annotations to (dropped here: the
    PromQL path does not show them in a report either)."""
    return EvalContext(storage=None, start=0, end=0, step=0, lookback=0,  # type: ignore[arg-type]
                       max_samples=0, deadline=time.monotonic() + 3600, cancel=None, query=query)


def counter_ranges(ctx: Ctx, selector: str) -> Ranges | None:
    """``rate(selector[d])`` of every series over the report's ranges, from one read."""
    cc = ctx.counters(selector)
    if cc is None:
        return None
    if selector not in ctx.memo:  # the error ratio and the request rate share them
        w = ctx.window
        ctx.memo[selector] = counter_rates(cc, w.start, w.end, w.baseline_start,
                                           w.baseline_length >= 3 * w.interval)
    got: Ranges | None = ctx.memo[selector]
    return got


class Lazy:
    """A value computed on first use and shared by the figures that need it (the grouped
    bucket rates serve every quantile)."""

    def __init__(self, make: Callable[[], Ranges | None]) -> None:
        self._make = make
        self._done = False
        self._value: Ranges | None = None

    def get(self) -> Ranges | None:
        if not self._done:
            self._value, self._done = self._make(), True
        return self._value


def summed_rates(ctx: Ctx, selector: str, by: Sequence[str]) -> Lazy:
    """``sum by (by) (rate(selector[d]))`` over the report's ranges, computed when asked."""

    def make() -> Ranges | None:
        r = counter_ranges(ctx, selector)
        return None if r is None else summed(r, by)

    return Lazy(make)


def quantile_of(q: float, grouped: Lazy, query: str) -> Callable[[], Evaluated | None]:
    def run() -> Evaluated | None:
        g = grouped.get()
        return None if g is None else evaluated(quantile(q, g, query))

    return run


def sum_of(grouped: Lazy) -> Callable[[], Evaluated | None]:
    def run() -> Evaluated | None:
        g = grouped.get()
        return None if g is None else evaluated(g)

    return run


def error_ratio_of(ctx: Ctx, total: str, errors: Sequence[str]) -> Callable[[], Evaluated | None]:
    """The error ratio from one read of ``total``: error series are those any of the
    ``errors`` selectors (the same metric, narrower) would have read."""

    def run() -> Evaluated | None:
        r = counter_ranges(ctx, total)
        if r is None:
            return None
        try:
            wanted = [parse_matchers(e) for e in errors]
        except MatcherError:
            return None
        by = [ctx.by]
        return evaluated(error_ratio(summed(r, by), summed(r, by, rows_matching(r.table(), wanted))))

    return run
