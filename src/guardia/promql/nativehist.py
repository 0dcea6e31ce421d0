"""Native histogram points in PromQL's operators and aggregations.

Histogram points are rare beside floats and each one is a Python object, so they are
handled point by point here, after the numpy code has computed the float points: the
callers find the (series, step) positions holding a histogram and ask this module what
becomes of them, as Prometheus's ``vectorElemBinop`` and aggregation code decide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from guardia.model.histogram import FloatHistogram, IncompatibleSchemaError
from guardia.promql import annotate
from guardia.promql.context import EvalContext
from guardia.promql.histcolumns import sum_dense
from guardia.promql.values import BOOL, F64, OBJ, not_none


@dataclass(slots=True)
class Notes:
    """Annotations a histogram operation produced (texts without position)."""

    infos: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def report(ctx: EvalContext, notes: Notes, pos: str) -> None:
    """Hand the notes to the query's annotations, each with the position ``(line:col)``."""
    for w in notes.warnings:
        ctx.warn(f"{w} ({pos})")
    for i in notes.infos:
        ctx.info(f"{i} ({pos})")
    notes.warnings.clear()
    notes.infos.clear()


def empty_column(shape: tuple[int, ...]) -> OBJ:
    out: OBJ = np.full(shape, None, dtype=object)
    return out


def elem_binop(
    op: str, lf: float, rf: float, lh: FloatHistogram | None, rh: FloatHistogram | None, notes: Notes
) -> tuple[float, FloatHistogram | None, bool] | None:
    """One arithmetic or comparison between two points where at least one is a
    histogram: (float result, histogram result, whether the point is kept), or None when
    the operator does not apply to these types (the point is dropped, even with ``bool``)."""
    ltype = "histogram" if lh is not None else "float"
    rtype = "histogram" if rh is not None else "float"
    if lh is None and rh is not None:
        if op == "*":
            return 0.0, rh.copy().mul(lf).compact(), True
    elif lh is not None and rh is None:
        if op == "*":
            return 0.0, lh.copy().mul(rf).compact(), True
        if op == "/":
            return 0.0, lh.copy().div(rf).compact(), True
    elif lh is not None and rh is not None:
        if op in ("+", "-"):
            try:
                res, reconciled = lh.add(rh) if op == "+" else lh.sub(rh)
            except IncompatibleSchemaError:
                notes.warnings.append(annotate.incompatible_bucket_layout(op))
                return None
            if reconciled:
                during = "addition" if op == "+" else "subtraction"
                notes.infos.append(annotate.mismatched_custom_buckets(during))
            return 0.0, res.compact(), True
        if op == "==":
            return 0.0, lh, lh.equals(rh)
        if op == "!=":
            return 0.0, lh, not lh.equals(rh)
    notes.infos.append(annotate.incompatible_types(ltype, op, rtype))
    return None


def hist_positions(present: BOOL, lh: OBJ | None, rh: OBJ | None) -> BOOL:
    """Present points where either operand is a histogram."""
    todo = np.zeros(present.shape, dtype=bool)
    for col in (lh, rh):
        if col is not None:
            todo |= not_none(col)
    out: BOOL = todo & present
    return out


def overlay_binop(
    op: str, lv: F64, rv: F64, lh: OBJ | None, rh: OBJ | None, todo: BOOL, values: F64, present: BOOL,
    return_bool: bool, comparison: bool, notes: Notes,
) -> tuple[F64, BOOL, OBJ | None]:
    """Fill in the ``todo`` points of a binary result (those where either operand is a
    histogram) into ``values``/``present``, which hold the float points' results: returns
    them and the histogram column (None when no histogram comes out)."""
    values = values.copy()
    present = present.copy()
    hists = empty_column(present.shape)
    for i, j in zip(*np.nonzero(todo), strict=True):
        a = lh[i, j] if lh is not None else None
        b = rh[i, j] if rh is not None else None
        out = elem_binop(op, float(lv[i, j]), float(rv[i, j]), a, b, notes)
        present[i, j] = False
        if out is None:
            continue
        f, h, keep = out
        if comparison and return_bool:
            values[i, j], present[i, j] = (1.0 if keep else 0.0), True
        elif keep:
            present[i, j] = True
            if h is not None:
                hists[i, j], values[i, j] = h, np.nan
            else:
                values[i, j] = f
    if not not_none(hists).any():
        return values, present, None
    return values, present, hists


SUM_DENSE_MIN = 8  # fewer are added one by one (building the columns costs more)


def sum_histograms(hs: list[FloatHistogram], notes: Notes, what: str) -> FloatHistogram | None:
    """The sum of histograms (None, with a warning, when exponential and custom buckets mix).
    Many of one layout are summed on dense columns (``histcolumns.sum_dense``: the same
    additions in the same order)."""
    if len(hs) >= SUM_DENSE_MIN:
        total = sum_dense(hs)
        if total is not None:
            return total
    acc = hs[0].copy()
    for h in hs[1:]:
        try:
            acc, reconciled = acc.add(h)
        except IncompatibleSchemaError:
            notes.warnings.append(annotate.mixed_exponential_custom(what))
            return None
        if reconciled:
            notes.infos.append(annotate.mismatched_custom_buckets("aggregation"))
    return acc.compact()
