"""PromQL functions: dispatch, return types and the element-wise / label functions.

Range-vector functions live in ``rangefuncs``, histogram functions in ``histograms``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np

from guardia.model import Labels
from guardia.model.gostrings import go_quote
from guardia.model.histcols import HistCols
from guardia.model.histogram import go_g
from guardia.model.matchers import MatchType
from guardia.promql import annotate, histograms, histrange, info, native_funcs, plan, rangefuncs
from guardia.promql.context import ExprEvaluator
from guardia.promql.dedupe import drop_name, merge_duplicates, name_value
from guardia.promql.errors import BadDataError, ExecutionError
from guardia.promql.kahan import kahan_inc_scalar
from guardia.promql.selectors import floats_of, instant
from guardia.promql.text import valid_label_name
from guardia.promql.values import F64, I64, OBJ, RangeVector, Scalar, Value, Vector

_MATH: dict[str, Callable[[F64], F64]] = {
    "abs": np.abs,
    "ceil": np.ceil,
    "floor": np.floor,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "ln": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "deg": np.degrees,
    "rad": np.radians,
    "sgn": np.sign,
}
_RANGE: dict[str, Callable[[RangeVector], tuple[F64, np.ndarray]]] = {
    "rate": lambda rv: rangefuncs.extrapolated_rate(rv, True, True),
    "increase": lambda rv: rangefuncs.extrapolated_rate(rv, True, False),
    "delta": lambda rv: rangefuncs.extrapolated_rate(rv, False, False),
    "irate": lambda rv: rangefuncs.instant_delta(rv, True),
    "idelta": lambda rv: rangefuncs.instant_delta(rv, False),
    "count_over_time": rangefuncs.count,
    "sum_over_time": rangefuncs.sum_,
    "avg_over_time": rangefuncs.avg,
    "min_over_time": rangefuncs.min_,
    "max_over_time": rangefuncs.max_,
    "last_over_time": rangefuncs.last,
    "first_over_time": rangefuncs.first,
    "present_over_time": rangefuncs.present,
    "changes": rangefuncs.changes,
    "resets": rangefuncs.resets,
    "stddev_over_time": lambda rv: rangefuncs.per_window(rv, lambda w: math.sqrt(_stdvar(w))),
    "stdvar_over_time": lambda rv: rangefuncs.per_window(rv, _stdvar),
    "mad_over_time": lambda rv: rangefuncs.per_window(rv, _mad),
    "ts_of_last_over_time": rangefuncs.ts_of_last,
    "ts_of_first_over_time": rangefuncs.ts_of_first,
    "ts_of_min_over_time": lambda rv: rangefuncs.ts_of_extreme(rv, np.nanargmin),
    "ts_of_max_over_time": lambda rv: rangefuncs.ts_of_extreme(rv, np.nanargmax),
}
# Functions that keep the metric name of their input.
_KEEP_NAME = {"last_over_time", "first_over_time", "sort", "sort_desc", "sort_by_label", "sort_by_label_desc",
              "label_replace", "label_join", "limitk"}
# Range functions that take histogram samples, and how a window holding some is computed.
# rate/increase of histograms: dense bucket columns first where the series allows them
_COLUMNAR_RATE = {"rate": True, "increase": False}
_HIST_WINDOW: dict[str, histrange.WindowFn] = {
    "rate": histrange.rate_fn(True, True),
    "increase": histrange.rate_fn(True, False),
    "delta": histrange.rate_fn(False, False),
    "irate": histrange.instant_fn(True),
    "idelta": histrange.instant_fn(False),
    "sum_over_time": histrange.sum_fn(False),
    "avg_over_time": histrange.sum_fn(True),
    "last_over_time": histrange.last_fn,
    "first_over_time": histrange.first_fn,
    "resets": histrange.resets_fn,
    "changes": histrange.changes_fn,
}
# Range functions that read sample times or counts only: histograms count as samples.
_ANY_SAMPLE = {"count_over_time", "present_over_time", "ts_of_last_over_time", "ts_of_first_over_time"}
_DATE = {"day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute", "month", "year"}


def _stdvar(w: F64) -> float:
    """Welford's update with compensated sums, as Prometheus's varianceOverTime."""
    count = 0
    mean = c_mean = aux = c_aux = 0.0
    for x in w.tolist():
        count += 1
        delta = x - (mean + c_mean)
        mean, c_mean = kahan_inc_scalar(delta / count, mean, c_mean)
        aux, c_aux = kahan_inc_scalar(delta * (x - (mean + c_mean)), aux, c_aux)
    return (aux + c_aux) / count


def _mad(w: F64) -> float:
    med = float(np.median(w))
    return float(np.median(np.abs(w - med)))


Handler = Callable[[ExprEvaluator, plan.Call, I64, bool], Value]
"""How a function is evaluated: (evaluator, call node, steps, names_unused) to a value."""


def call(ev: ExprEvaluator, node: plan.Call, ts: I64, *, names_unused: bool = False) -> Value:
    """Evaluate a function call through its entry in ``FUNCTIONS``.

    ``names_unused``: the caller never reads ``__name__`` of the result (an aggregation
    grouping by other labels), so a range function over a selector that pins one metric
    name may keep the name: dropping it could not make two series collide, and it would
    cost a new label set per series on the most common dashboard query.
    """
    handler = FUNCTIONS.get(node.func)
    if handler is None:
        raise ExecutionError(f"function {node.func!r} is not supported by guardia")
    return handler(ev, node, ts, names_unused)


def _scalar_of(fn: Callable[[ExprEvaluator, I64], F64]) -> Handler:
    """A function of the query and the steps alone (``time()``, ``pi()``, ``step()``...)."""

    def handle(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
        return Scalar(fn(ev, ts))

    return handle


def _step(ev: ExprEvaluator, ts: I64) -> F64:
    ctx = ev.ctx
    return np.full(len(ts), ctx.step / 1000.0 if len(ts) > 1 or ctx.end != ctx.start else 0.0)


def _range(ev: ExprEvaluator, ts: I64) -> F64:
    return np.full(len(ts), (ev.ctx.end - ev.ctx.start) / 1000.0)


def _start(ev: ExprEvaluator, ts: I64) -> F64:
    return np.full(len(ts), ev.ctx.start / 1000.0)


def _end(ev: ExprEvaluator, ts: I64) -> F64:
    return np.full(len(ts), ev.ctx.end / 1000.0)


def _min_max_of(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    a = ev.eval_scalar(node.args[0], ts).values
    b = ev.eval_scalar(node.args[1], ts).values
    return Scalar(np.minimum(a, b) if node.func == "min_of" else np.maximum(a, b))


def _scalar(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    vec = ev.eval_vector(node.args[0], ts)
    cnt = vec.present.sum(axis=0)
    vals = np.where(vec.present, vec.values, 0.0).sum(axis=0)
    return Scalar(np.where(cnt == 1, vals, np.nan))


def _vector(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    s = ev.eval_scalar(node.args[0], ts)
    return Vector([Labels()], s.values[None, :].copy(), np.ones((1, len(ts)), dtype=bool))


def _range_fn(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    name, arg = node.func, node.args[0]
    full = ev.eval_range_h(arg, ts)
    rv = full
    if full.has_h and name not in _ANY_SAMPLE:
        rv = floats_of(full)[0]
        if name not in _HIST_WINDOW:
            histrange.mixed_info(ev.ctx, full)
    if name in ("rate", "increase", "irate"):
        _check_counter_names(ev, rv, arg)
    vals, ok = _RANGE[name](rv)
    hists: OBJ | HistCols | None = None
    if full.has_h and name in _HIST_WINDOW:
        vals, ok, hists = histrange.patch(
            ev.ctx, full, _HIST_WINDOW[name], vals, ok, every_window=name in ("resets", "changes"),
            columnar_rate=_COLUMNAR_RATE.get(name),
        )
    keep = name in _KEEP_NAME or (names_unused and _fixed_name(arg) is not None)
    labels = rv.labels if keep else drop_name(rv.labels)
    # Every range function returns a fresh array: clear its empty windows in place
    # rather than copying a (series x steps) array.
    np.copyto(vals, 0.0, where=~ok)
    if isinstance(hists, HistCols):  # ``rate`` of a store's columns: the results stay columns
        return merge_duplicates(Vector(labels, vals, ok, hcols=hists).compact())
    return merge_duplicates(Vector(labels, vals, ok, hists=hists).compact())


def _float_range(ev: ExprEvaluator, arg: plan.Node, ts: I64) -> RangeVector:
    """A range argument of a function of floats: histogram samples dropped, with
    Prometheus's info for windows that held both kinds."""
    full = ev.eval_range_h(arg, ts)
    if not full.has_h:
        return full
    histrange.mixed_info(ev.ctx, full)
    return floats_of(full)[0]


def _regression(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    rv = _float_range(ev, node.args[0], ts)
    predict = node.func == "predict_linear"
    slope, intercept, ok = rangefuncs.linear_regression(rv, predict)
    if predict:
        d = ev.eval_scalar(node.args[1], ts).values
        vals = slope * d[None, :] + intercept
    else:
        vals = slope
    return merge_duplicates(Vector(drop_name(rv.labels), np.where(ok, vals, 0.0), ok).compact())


def _quantile_over_time_fn(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    q = ev.eval_scalar(node.args[0], ts).values
    rv = _float_range(ev, node.args[1], ts)
    _quantile_warnings(ev, q)
    return merge_duplicates(_quantile_over_time(rv, q))


def _absent_over_time(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    rv = ev.eval_range_h(node.args[0], ts)
    any_present = (rv.hi > rv.lo).any(axis=0) if len(rv.labels) else np.zeros(len(ts), dtype=bool)
    return _absent(node.args[0], ~any_present)


def _absent_fn(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    vec = ev.eval_vector_h(node.args[0], ts)
    any_present = vec.present.any(axis=0) if vec.labels else np.zeros(len(ts), dtype=bool)
    return _absent(node.args[0], ~any_present)


def _math(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    vec = ev.eval_vector(node.args[0], ts)
    with np.errstate(all="ignore"):
        vals = _MATH[node.func](vec.values)
    return merge_duplicates(Vector(drop_name(vec.labels), vals, vec.present))


def _round(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    args = node.args
    vec = ev.eval_vector(args[0], ts)
    to = ev.eval_scalar(args[1], ts).values if len(args) > 1 else np.ones(len(ts))
    with np.errstate(all="ignore"):
        inv = 1.0 / to
        vals = np.floor(vec.values * inv[None, :] + 0.5) / inv[None, :]
    return merge_duplicates(Vector(drop_name(vec.labels), vals, vec.present))


def _clamp(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    name, args = node.func, node.args
    vec = ev.eval_vector(args[0], ts)
    lo = ev.eval_scalar(args[1], ts).values if name != "clamp_max" else None
    hi = (
        ev.eval_scalar(args[2], ts).values
        if name == "clamp"
        else ev.eval_scalar(args[1], ts).values
        if name == "clamp_max"
        else None
    )
    vals = vec.values
    present = vec.present
    with np.errstate(all="ignore"):
        # Go's math.Max(min, math.Min(max, v)): a NaN bound or value gives NaN.
        if hi is not None:
            vals = np.minimum(vals, hi[None, :])
        if lo is not None:
            vals = np.maximum(vals, lo[None, :])
        if lo is not None and hi is not None:
            present = present & ~(hi < lo)[None, :]
    return merge_duplicates(Vector(drop_name(vec.labels), vals, present).compact())


def _timestamp_fn(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    return _timestamp(ev, node.args[0], ts)


def _date(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    if node.args:
        vec = ev.eval_vector(node.args[0], ts)
    else:
        vec = Vector([Labels()], (ts / 1000.0)[None, :], np.ones((1, len(ts)), dtype=bool))
    return merge_duplicates(Vector(drop_name(vec.labels), _date_part(node.func, vec.values), vec.present))


def _sort_fn(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    ctx = ev.ctx
    vec = ev.eval_vector(node.args[0], ts)
    if len(ts) > 1:
        ctx.warn(f"{annotate.sort_ineffective()} ({annotate.position(ctx.query, node.func)})")
        return vec
    keys = [ev.eval_string(a, ts) for a in node.args[1:]]
    return _sort(vec, node.func, keys)


def _label_replace_fn(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    vec = ev.eval_vector_h(node.args[0], ts)
    dst, repl, src, regex = (ev.eval_string(a, ts) for a in node.args[1:5])
    return merge_duplicates(_label_replace(vec, dst, repl, src, regex))


def _label_join_fn(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    args = node.args
    vec = ev.eval_vector_h(args[0], ts)
    dst, sep = ev.eval_string(args[1], ts), ev.eval_string(args[2], ts)
    srcs = [ev.eval_string(a, ts) for a in args[3:]]
    return merge_duplicates(_label_join(vec, dst, sep, srcs))


def _histogram_quantile(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    q = ev.eval_scalar(node.args[0], ts).values
    vec = ev.eval_vector_h(node.args[1], ts)
    _quantile_warnings(ev, q)
    return _quantile_of(ev, q, vec, node.args[1])


def _quantile_of(ev: ExprEvaluator, q: F64, vec: Vector, arg: plan.Node) -> Vector:
    """``histogram_quantile`` of classic bucket series and native histograms alike."""
    floats, has_hists = vec.floats()
    classic = histograms.histogram_quantile(ev.ctx, q, floats.compact())
    if not has_hists:
        return classic
    native = native_funcs.per_point(vec, lambda h, j: native_funcs.quantile(float(q[j]), h))
    return _with_native(ev, classic, native, arg)


def _histogram_quantiles(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    """``histogram_quantiles(v, "label", q1, q2, ...)``: one series per input and quantile,
    the quantile in ``label`` (OpenMetrics' float text: ``0.5``, ``1.0``)."""
    vec = ev.eval_vector_h(node.args[0], ts)
    label = ev.eval_string(node.args[1], ts)
    parts: list[Vector] = []
    for arg in node.args[2:]:
        q = ev.eval_scalar(arg, ts).values
        _quantile_warnings(ev, q)
        res = _quantile_of(ev, q, vec, node.args[0])
        for qv in dict.fromkeys(q.tolist()):
            steps = np.isnan(q) if qv != qv else q == qv
            part = res.take(np.arange(len(res.labels)))
            part.present = part.present & steps[None, :]
            part.labels = [ls.set(label, _openmetrics_float(qv)) for ls in part.labels]
            parts.append(part.compact())
    if not parts:
        return Vector.empty(len(ts))
    labels = [ls for p in parts for ls in p.labels]
    values = np.concatenate([p.values for p in parts]).reshape(len(labels), len(ts))
    present = np.concatenate([p.present for p in parts]).reshape(len(labels), len(ts))
    return merge_duplicates(Vector(labels, values, present))


def _openmetrics_float(v: float) -> str:
    """Prometheus's ``FormatOpenMetricsFloat``: Go's shortest ``%g``, a whole number with ``.0``."""
    s = go_g(v)
    if v == v and abs(v) != float("inf") and not any(c in s for c in ".eI"):
        s += ".0"
    return s


def _histogram_fraction(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    lo_v = ev.eval_scalar(node.args[0], ts).values
    hi_v = ev.eval_scalar(node.args[1], ts).values
    vec = ev.eval_vector_h(node.args[2], ts)
    floats, has_hists = vec.floats()
    classic = histograms.histogram_fraction(ev.ctx, lo_v, hi_v, floats.compact())
    if not has_hists:
        return classic
    native = native_funcs.per_point(
        vec, lambda h, j: native_funcs.fraction(float(lo_v[j]), float(hi_v[j]), h)
    )
    return _with_native(ev, classic, native, node.args[2])


def _with_native(ev: ExprEvaluator, classic: Vector, native: Vector, arg: plan.Node) -> Vector:
    """Classic and native results side by side; where both give the same series at a step,
    neither is right (Prometheus warns and drops the classic one)."""
    index = {ls: i for i, ls in enumerate(native.labels)}
    cpres = classic.present.copy()
    for r, ls in enumerate(classic.labels):
        i = index.get(ls)
        if i is not None and (clash := cpres[r] & native.present[i]).any():
            cpres[r] &= ~clash
            name = _fixed_name(arg) or ""
            ev.ctx.warn(
                f"{annotate.mixed_classic_native(name)} ({annotate.name_position(ev.ctx.query, name)})"
            )
    labels = list(classic.labels) + list(native.labels)
    values = np.concatenate([classic.values, native.values])
    present = np.concatenate([cpres, native.present])
    return merge_duplicates(Vector(labels, values, present).compact())


def _native_histogram_only(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    """histogram_count/sum/avg/stddev/stdvar: one float per histogram point; float
    points have no such property and give nothing."""
    vec = ev.eval_vector_h(node.args[0], ts)
    fn = native_funcs.SCALARS[node.func]
    return merge_duplicates(native_funcs.per_point(vec, lambda h, j: fn(h)))


def _double_exp_fn(ev: ExprEvaluator, node: plan.Call, ts: I64, names_unused: bool) -> Value:
    rv = _float_range(ev, node.args[0], ts)
    sf = ev.eval_scalar(node.args[1], ts).values
    tf = ev.eval_scalar(node.args[2], ts).values
    return _double_exp(rv, sf, tf)


FUNCTIONS: dict[str, Handler] = {
    "time": _scalar_of(lambda ev, ts: ts / 1000.0),
    "pi": _scalar_of(lambda ev, ts: np.full(len(ts), math.pi)),
    "step": _scalar_of(_step),
    "range": _scalar_of(_range),
    "start": _scalar_of(_start),
    "end": _scalar_of(_end),
    "min_of": _min_max_of,
    "max_of": _min_max_of,
    "scalar": _scalar,
    "vector": _vector,
    **dict.fromkeys(_RANGE, _range_fn),
    "deriv": _regression,
    "predict_linear": _regression,
    "quantile_over_time": _quantile_over_time_fn,
    "absent_over_time": _absent_over_time,
    "absent": _absent_fn,
    **dict.fromkeys(_MATH, _math),
    "round": _round,
    "clamp": _clamp,
    "clamp_min": _clamp,
    "clamp_max": _clamp,
    "timestamp": _timestamp_fn,
    **dict.fromkeys(_DATE, _date),
    **dict.fromkeys(("sort", "sort_desc", "sort_by_label", "sort_by_label_desc"), _sort_fn),
    "label_replace": _label_replace_fn,
    "label_join": _label_join_fn,
    "histogram_quantile": _histogram_quantile,
    "histogram_fraction": _histogram_fraction,
    "histogram_quantiles": _histogram_quantiles,
    **dict.fromkeys(
        ("histogram_count", "histogram_sum", "histogram_avg", "histogram_stddev", "histogram_stdvar"),
        _native_histogram_only,
    ),
    "double_exponential_smoothing": _double_exp_fn,
    "info": lambda ev, node, ts, names_unused: info.evaluate(ev, node, ts),
}
"""Every PromQL function guardia evaluates, by name (parsing and arity are promql-parser's)."""


def _check_counter_names(ev: ExprEvaluator, rv: RangeVector, arg: plan.Node) -> None:
    seen: set[str] = set()
    labels: list[Labels] = rv.labels
    fixed = _fixed_name(arg)
    if fixed is not None and labels:
        # Every selected series carries the name the selector asks for: check it once
        # instead of reading it off thousands of label sets.
        labels = labels[:1]
    for ls in labels:
        nm = ls.name
        if nm in seen:
            continue
        seen.add(nm)
        if nm and not nm.endswith(("_total", "_sum", "_count", "_bucket")):
            ev.ctx.info(
                f"{annotate.possible_non_counter(nm)} ({annotate.position(ev.ctx.query, nm)})"
            )


def _fixed_name(arg: plan.Node) -> str | None:
    """The metric name a range selector pins with ``name{...}`` or ``{__name__="..."}``."""
    if isinstance(arg, plan.MatrixSelector):
        for m in arg.selector.matchers:
            if m.name == "__name__" and m.type is MatchType.EQUAL:
                return m.value
    return None


def _quantile_warnings(ev: ExprEvaluator, q: F64) -> None:
    for v in np.unique(q[~((q >= 0) & (q <= 1))]):
        ev.ctx.warn(annotate.invalid_quantile(float(v)))


def _quantile_over_time(rv: RangeVector, q: F64) -> Vector:
    ok = rv.hi > rv.lo
    out = np.zeros(rv.lo.shape)
    for n, (j, i) in enumerate(zip(*np.nonzero(ok), strict=True)):
        if n % 4096 == 4095:
            rv.check()
        w = np.sort(rv.v[rv.lo[j, i] : rv.hi[j, i]])
        w = np.concatenate([w[np.isnan(w)], w[~np.isnan(w)]])
        out[j, i] = _quantile(float(q[i]), w)
    return Vector(drop_name(rv.labels), out, ok).compact()


def _quantile(q: float, sorted_vals: F64) -> float:
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    n = len(sorted_vals)
    rank = q * (n - 1)
    lower = max(0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    w = rank - math.floor(rank)
    return float(sorted_vals[lower] * (1 - w) + sorted_vals[upper] * w)


def _absent(arg: plan.Node, missing: np.ndarray | np.bool_) -> Vector:
    sel: plan.VectorSelector | None = None
    if isinstance(arg, plan.VectorSelector):
        sel = arg
    elif isinstance(arg, plan.MatrixSelector):
        sel = arg.selector
    labels: dict[str, str] = {}
    if sel is not None:
        seen: set[str] = set()
        for m in sel.matchers:
            if m.name == "__name__":
                continue
            if m.type is MatchType.EQUAL and m.name not in seen:
                labels[m.name] = m.value
            elif m.name in labels:
                del labels[m.name]
            seen.add(m.name)
    miss = np.asarray(missing, dtype=bool)
    vals = np.ones((1, len(miss)))
    return Vector([Labels(labels)], vals, miss[None, :].copy()).compact()


def _timestamp(ev: ExprEvaluator, arg: plan.Node, ts: I64) -> Vector:
    inner = arg
    while isinstance(inner, plan.Paren):
        inner = inner.expr
    if isinstance(inner, plan.VectorSelector):
        vec = instant(ev.ctx, inner, ts, want_timestamps=True)
        return merge_duplicates(Vector(drop_name(vec.labels), vec.values, vec.present))
    vec = ev.eval_vector(arg, ts)
    vals = np.broadcast_to((ts / 1000.0)[None, :], vec.values.shape).copy()
    return merge_duplicates(Vector(drop_name(vec.labels), vals, vec.present))


def _date_part(name: str, vals: F64) -> F64:
    finite = np.isfinite(vals)
    secs = np.where(finite, vals, 0).astype(np.int64)
    dt = secs.astype("datetime64[s]")
    days = dt.astype("datetime64[D]")
    months = dt.astype("datetime64[M]")
    years = dt.astype("datetime64[Y]")
    if name == "year":
        r = years.astype(np.int64) + 1970
    elif name == "month":
        r = months.astype(np.int64) % 12 + 1
    elif name == "day_of_month":
        r = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    elif name == "day_of_year":
        r = (days - years.astype("datetime64[D]")).astype(np.int64) + 1
    elif name == "day_of_week":
        r = (days.astype(np.int64) + 4) % 7
    elif name == "hour":
        r = (secs // 3600) % 24
    elif name == "minute":
        r = (secs // 60) % 60
    else:  # days_in_month
        r = ((months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")).astype(np.int64)
    return np.where(finite, r.astype(np.float64), np.nan)


def _sort(vec: Vector, name: str, keys: list[str]) -> Vector:
    col = vec.values[:, 0] if vec.n_steps else np.zeros(0)
    rows = [i for i in range(len(vec.labels)) if vec.present[i, 0]]
    if name in ("sort", "sort_desc"):
        nan = [i for i in rows if math.isnan(col[i])]
        num = [i for i in rows if not math.isnan(col[i])]
        num.sort(key=lambda i: col[i], reverse=name == "sort_desc")
        order = num + nan
    else:
        order = sorted(
            rows,
            key=lambda i: [_natural_key(_read(vec.labels[i], k)) for k in keys] + [list(vec.labels[i])],
            reverse=name == "sort_by_label_desc",
        )
    out = vec.take(order)
    out.ordered = True
    return out


def _natural_key(s: str) -> list[tuple[int, int | str]]:
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", s) if p]


_GO_GROUP = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))|\$\$")


def _expand(template: str, m: re.Match[str]) -> str:
    def rep(g: re.Match[str]) -> str:
        if g.group(0) == "$$":
            return "$"
        key = g.group(1) or g.group(2)
        try:
            idx = int(key)
            val = m.group(idx) if idx <= (m.re.groups or 0) else None
        except ValueError:
            val = m.groupdict().get(key)
        except IndexError:
            val = None
        return val or ""

    return _GO_GROUP.sub(rep, template)


def _label_replace(vec: Vector, dst: str, repl: str, src: str, regex: str) -> Vector:
    from guardia.model.matchers import MatcherError, compile_anchored

    try:
        pattern = compile_anchored(_go_named_groups(regex))
    except MatcherError as e:
        raise BadDataError(f"invalid regular expression in label_replace(): {regex}") from e
    if not valid_label_name(dst):
        raise BadDataError(f"invalid destination label name in label_replace(): {go_quote(dst)[1:-1]}")
    out = []
    for ls in vec.labels:
        m = pattern.fullmatch(_read(ls, src))
        if m is None:
            out.append(ls)
            continue
        out.append(ls.set(dst, _expand(repl, m)))
    return Vector(out, vec.values, vec.present, hists=vec.hists)


def _read(ls: Labels, name: str) -> str:
    """A label as the label functions read it (a name marked for delayed removal unmarked)."""
    v = ls.get(name)
    return name_value(v) if name == "__name__" else v


def _go_named_groups(regex: str) -> str:
    """Go spells named groups ``(?P<name>...)`` and also ``(?<name>...)``."""
    return re.sub(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>", r"(?P<\1>", regex)


def _label_join(vec: Vector, dst: str, sep: str, srcs: list[str]) -> Vector:
    if not valid_label_name(dst):
        raise BadDataError(f"invalid destination label name in label_join(): {go_quote(dst)[1:-1]}")
    out = [ls.set(dst, sep.join(_read(ls, s) for s in srcs)) for ls in vec.labels]
    return Vector(out, vec.values, vec.present, hists=vec.hists)


def _double_exp(rv: RangeVector, sf: F64, tf: F64) -> Vector:
    for v in (sf, tf):
        bad = v[(v <= 0) | (v >= 1)]
        if len(bad):
            which = "smoothing" if v is sf else "trend"
            raise BadDataError(f"invalid {which} factor. Expected: 0 < sf < 1, got: {bad[0]:g}")
    ok = (rv.hi - rv.lo) >= 2
    out = np.zeros(rv.lo.shape)
    for n, (j, i) in enumerate(zip(*np.nonzero(ok), strict=True)):
        if n % 4096 == 4095:
            rv.check()
        w = rv.v[rv.lo[j, i] : rv.hi[j, i]]
        s, t = float(sf[i]), float(tf[i])
        s1 = float(w[0])
        b = float(w[1] - w[0])
        s0 = s1
        for k in range(1, len(w)):
            if k > 1:
                b = t * (s1 - s0) + (1 - t) * b
            x = s * float(w[k])
            y = (1 - s) * (s1 + b)
            s0, s1 = s1, x + y
        out[j, i] = s1
    return Vector(drop_name(rv.labels), out, ok).compact()
