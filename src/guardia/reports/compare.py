"""A figure against its baseline: the window's value, the baseline's, and whether the change is
significant, judged over per-interval values (Mann-Whitney U)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from guardia.reports.context import Ctx, label_dict
from guardia.reports.figures import Figure, Verdict
from guardia.reports.rates import Evaluated
from guardia.reports.stats import Comparison, mann_whitney

Render = Callable[[str], str]  # a range duration -> the expression over it


def compared(ctx: Ctx, name: str, unit: str, expr: Render, *, extra: dict[str, str] | None = None,
             judge: bool = True, check: bool = True, signal: str = "",
             read_once: Callable[[], Evaluated | None] | None = None) -> list[Figure]:
    """One figure per label set ``expr`` returns over the window.

    ``expr(d)`` is the query over a range ``d``: evaluated with the window's length at its
    end (the value), with the baseline's length at the baseline's end (the baseline) and with
    the interval every interval over both (the values the test compares).  With ``judge``, a
    significantly higher value fails (latency, error rate: higher is worse); otherwise the
    figure is a fact and the test is reported with it.  No series at all: not evaluated
    (and, for a ``check``, a ``no_data`` figure).  With ``signal``, the per-interval series are
    kept for the anomaly scores, which read no data of their own.  ``read_once`` gives the
    same four answers from counters read once for the whole report (``rates``), or None
    to have them evaluated as the PromQL here.
    """
    w = ctx.window
    q_value, q_base, q_iv = expr(w.w), expr(w.b), expr(w.i)
    extra = extra or {}
    got = read_once() if read_once is not None else None
    values = ctx.at_end(q_value) if got is None else got.values
    if not values:
        fig = ctx.missing(name, {**extra, **({ctx.by: ctx.service} if ctx.service else {})},
                          "no data: no series in the window", q_value, unit, check)
        return [fig] if fig is not None else []
    if got is None:
        bases = ctx.at_baseline(q_base) if w.baseline_length > 0 else {}
        cur, base = ctx.per_interval(q_iv)
    else:
        bases, cur, base = got.bases, got.cur, got.base
    if signal:
        ctx.signals[signal] = (q_iv, cur, base)
    out = []
    for labels in sorted(values):
        v = values[labels]
        lab = {**extra, **label_dict(labels)}
        b = bases.get(labels)
        fig = Figure(name, lab, _nan_none(v), unit, q_value, baseline=_nan_none(b) if b is not None else None,
                     baseline_query=q_base)
        c, bp = cur.get(labels), base.get(labels)
        if c is not None:
            fig.points = _pairs(c.t, c.v)
        if bp is not None:
            fig.baseline_points = _pairs(bp.t, bp.v)
        test: Comparison | None = None
        if c is not None and bp is not None:
            test = mann_whitney(c.v, bp.v)
        if test is not None:
            fig.test = {**test.to_json(), "query": q_iv}
        fig.verdict = _verdict(fig, test, judge)
        if fig.value is None:
            ctx.missing(name, lab, "no data: the value is NaN (no events in the window)", q_value,
                        check=False)
        elif judge and fig.verdict == "no_data":
            ctx.missing(name, lab, "no baseline to compare with: too few values before the window "
                        f"(need 3 per-interval values in each; query {q_iv})", q_base, check=False)
        out.append(fig)
    return out


def _verdict(fig: Figure, test: Comparison | None, judge: bool) -> Verdict:
    if fig.value is None:
        return "no_data" if judge else "info"
    if not judge:
        return "info"
    if test is None:
        return "no_data"
    worse = test.median_window > test.median_baseline
    if test.significant and worse:
        fig.note = "significantly higher than the baseline: " + test.describe()
        return "fail"
    fig.note = ("change " + test.describe()) if test.significant else ("no significant change: "
                                                                        + test.describe())
    return "pass"


def _nan_none(v: float | None) -> float | None:
    return None if v is None or np.isnan(v) else float(v)


def _pairs(t: np.ndarray, v: np.ndarray) -> list[tuple[int, float]]:
    keep = np.isfinite(v)
    return list(zip(t[keep].tolist(), v[keep].tolist(), strict=True))

