"""Aggregation operators (``sum by (...)`` & co.), all steps at once.

Rows are grouped once in Python (by label set); the arithmetic then runs on
``(group, step)`` arrays with ``reduceat`` over group-sorted rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from guardia.model import Labels
from guardia.model.gostrings import go_quote
from guardia.model.histogram import FloatHistogram
from guardia.model.labelhash import labels_hash
from guardia.promql import annotate, histcolumns, nativehist, plan
from guardia.promql.context import ExprEvaluator
from guardia.promql.dedupe import DELAYED_NAME_REMOVAL, DROPPED, name_value
from guardia.promql.errors import BadDataError, ExecutionError
from guardia.promql.kahan import grouped_sum
from guardia.promql.text import valid_label_name
from guardia.promql.values import F64, I64, Scalar, Value, Vector


def group_key_fn(node: plan.Aggregate) -> Callable[[Labels], Labels]:
    """The output labels of a series' group: ``by`` keeps, ``without`` drops (and the name)."""
    names = node.grouping
    if node.without:
        drop = {*names, "__name__"}
        return lambda ls: Labels.from_sorted(p for p in ls if p[0] not in drop)
    keep = set(names)
    return lambda ls: Labels.from_sorted(p for p in ls if p[0] in keep)


def _groups(vec: Vector, node: plan.Aggregate) -> tuple[list[Labels], np.ndarray]:
    """Group index of every series and the labels of each group.

    Keys are plain tuples (``by``: the grouping labels' values) so no label set is built
    per series; ``Labels`` are made once per group.
    """
    if node.without:
        drop = {*node.grouping, "__name__"}
        pindex: dict[tuple[tuple[str, str], ...], int] = {}
        pkeys = [tuple(p for p in ls if p[0] not in drop) for ls in vec.labels]
        gidx = np.fromiter(
            (pindex.setdefault(k, len(pindex)) for k in pkeys), dtype=np.intp, count=len(pkeys)
        )
        return [Labels.from_sorted(k) for k in pindex], gidx
    names = sorted(set(node.grouping))
    columns = [label_values(vec.labels, n) for n in names]
    marked: list[bool] | None = None
    if "__name__" in names and DELAYED_NAME_REMOVAL.get():
        # by (__name__) groups by the name still there; a group is marked to lose it at the
        # end if any of its series was
        k = names.index("__name__")
        marked = [v.startswith(DROPPED) for v in columns[k]]
        columns[k] = [name_value(v) for v in columns[k]]
    vkeys: list[tuple[str, ...]] = list(zip(*columns, strict=True)) if names else [()] * len(vec.labels)
    # First-seen order of groups, then one C-level lookup per series.
    vindex = {k: i for i, k in enumerate(dict.fromkeys(vkeys))}
    gidx = np.fromiter(map(vindex.__getitem__, vkeys), dtype=np.intp, count=len(vkeys))
    if marked is not None and any(marked):
        dropped = np.zeros(len(vindex), dtype=bool)
        np.logical_or.at(dropped, gidx, np.array(marked))
        return [Labels.from_sorted((n, DROPPED + v if n == "__name__" and dropped[g] else v)
                                   for n, v in zip(names, key, strict=True) if v)
                for g, key in enumerate(vindex)], gidx
    labels = [Labels.from_sorted((n, v) for n, v in zip(names, k, strict=True) if v) for k in vindex]
    return labels, gidx


def label_values(labels: list[Labels], name: str) -> list[str]:
    """The value of ``name`` in every label set ("" where missing).

    Series of one query mostly share their label names, so the position where the name
    was found in the previous set is tried first; only a miss scans the pairs.  That is
    one tuple lookup per series instead of building a dict per series.
    """
    out: list[str] = []
    add = out.append
    i = -1
    for ls in labels:
        if 0 <= i < len(ls) and ls[i][0] == name:
            add(ls[i][1])
            continue
        for j, (k, v) in enumerate(ls):
            if k == name:
                i = j
                add(v)
                break
        else:
            add("")
    return out


def _reduce(ufunc: np.ufunc, vals: np.ndarray, gidx: np.ndarray, ngroups: int) -> np.ndarray:
    """``ufunc.reduceat`` over rows grouped by ``gidx``; every group must have rows."""
    order = np.argsort(gidx, kind="stable")
    sg = gidx[order]
    bounds = np.flatnonzero(np.r_[True, sg[1:] != sg[:-1]])
    out: np.ndarray = ufunc.reduceat(vals[order], bounds, axis=0)
    return out


# Aggregations whose output labels are only the grouping labels (the others keep or
# build series labels: topk & co. return input series, count_values adds a label).
_GROUPING_ONLY = frozenset({"sum", "avg", "count", "group", "min", "max", "stddev", "stdvar"})


def _input(ev: ExprEvaluator, node: plan.Aggregate, ts: I64) -> Vector:
    """The aggregated vector; a function call is told when its ``__name__`` goes unread."""
    expr = node.expr
    if (
        isinstance(expr, plan.Call)
        and node.op in _GROUPING_ONLY
        and (node.without or "__name__" not in node.grouping)
    ):
        val = ev.eval_names_unused(expr, ts)
        if not isinstance(val, Vector):
            raise ExecutionError(f"expected instant vector, got {type(val).__name__.lower()}")
        return val
    return ev.eval_vector_h(expr, ts)


def _present_counts(pres: np.ndarray, gidx: np.ndarray, g: int, order: np.ndarray) -> F64:
    """Present series per group and step, summed as bytes (not floats: a tenth of the data)."""
    counts = np.bincount(gidx, minlength=g)
    out: F64 = np.repeat(counts.astype(np.float64)[:, None], pres.shape[1], axis=1)
    # Steps where every series is present have the group sizes; only the others (a
    # range's first steps, before its windows fill) are counted.
    gaps = np.flatnonzero(~pres.all(axis=0))
    if len(gaps):
        bounds = np.zeros(g, dtype=np.int64)
        np.cumsum(counts[:-1], out=bounds[1:])
        part = pres[:, gaps] if len(gaps) < pres.shape[1] else pres
        srt = part[order].view(np.uint8)
        out[:, gaps] = np.add.reduceat(srt, bounds, axis=0, dtype=np.int32)
    return out


def evaluate(ev: ExprEvaluator, node: plan.Aggregate, ts: I64) -> Value:
    op = node.op
    param: Scalar | str | None = None
    if node.param is not None:
        param = ev.eval_string(node.param, ts) if op == "count_values" else ev.eval_scalar(node.param, ts)
    vec = _input(ev, node, ts)
    if vec.has_hists and op not in ("count", "group", "count_values", "limitk", "limit_ratio"):
        return _with_histograms(ev, node, op, vec, param, ts)
    return evaluate_vector(ev, node, vec, param, ts)


def evaluate_vector(ev: ExprEvaluator, node: plan.Aggregate, vec: Vector, param: Scalar | str | None,
                    ts: I64) -> Value:
    """The aggregation of an evaluated vector (floats; histograms only where the
    operation takes them as they are: count, group, count_values, limitk)."""
    op = node.op
    n = len(ts)
    if op in ("topk", "bottomk", "limitk", "limit_ratio", "quantile"):
        assert isinstance(param, Scalar)
        return _param_op(ev, op, vec, param.values, node, n)
    if op == "count_values":
        assert isinstance(param, str)
        return _count_values(vec, param, node)
    if not vec.labels:
        return Vector.empty(n)
    keys, gidx = _groups(vec, node)
    g = len(keys)
    pres = vec.present
    order = np.argsort(gidx, kind="stable")
    cnt = _present_counts(pres, gidx, g, order)
    out_present = cnt > 0
    with np.errstate(all="ignore"):
        if op == "sum":
            res = grouped_sum(vec.values, pres, gidx, g, order)
        elif op == "avg":
            res = _avg(vec.values, pres, gidx, g, cnt)
        elif op == "count":
            res = cnt
        elif op == "group":
            res = np.ones_like(cnt)
        elif op in ("min", "max"):
            masked = np.where(pres, vec.values, np.nan)
            res = _reduce(np.fmin if op == "min" else np.fmax, masked, gidx, g)
        elif op in ("stddev", "stdvar"):
            var = _variance(vec.values, pres, gidx, g, cnt)
            res = np.sqrt(var) if op == "stddev" else var
        else:
            raise ExecutionError(f"unknown aggregation {op!r}")
    return Vector(keys, np.where(out_present, res, 0.0), out_present).compact()


def _with_histograms(
    ev: ExprEvaluator, node: plan.Aggregate, op: str, vec: Vector, param: Scalar | str | None, ts: I64
) -> Value:
    """An aggregation over a vector holding histogram points.

    ``sum`` and ``avg`` add histograms up (a group mixing floats and histograms at a step
    has no result there, with a warning); the others ignore histograms, with an info."""
    floats, _ = vec.floats()
    hm = vec.hist_mask()
    pos = annotate.position(ev.ctx.query, op)
    if op not in ("sum", "avg"):
        ev.ctx.info(f"{annotate.histogram_ignored_in_aggregation(op)} ({pos})")
        return evaluate_vector(ev, node, floats, param, ts)
    out = evaluate_vector(ev, node, floats, param, ts)
    assert isinstance(out, Vector)
    keys, gidx = _groups(vec, node)
    index = {k: i for i, k in enumerate(out.labels)}
    n = len(ts)
    extra_labels: list[Labels] = []
    rows_values: list[np.ndarray] = []
    values = out.values.copy()
    present = out.present.copy()
    hists = nativehist.empty_column(present.shape)
    extra_h: list[np.ndarray] = []
    extra_p: list[np.ndarray] = []
    notes = nativehist.Notes()
    hc = vec.hcols
    # with columns: the groups' sums of one kind of histogram, added on the columns
    colsums = histcolumns.group_sums(hc, hm, gidx, len(keys)) if hc is not None else {}
    for gi, key in enumerate(keys):
        rows = np.flatnonzero(gidx == gi)
        gh = hm[rows]
        if not gh.any():
            continue
        gf = floats.present[rows]
        row = index.get(key)
        if row is None:
            extra_labels.append(key)
            rows_values.append(np.zeros(n))
            extra_h.append(np.full(n, None, dtype=object))
            extra_p.append(np.zeros(n, dtype=bool))
        for j in np.flatnonzero(gh.any(axis=0)):
            if gf[:, j].any():
                ev.ctx.warn(f"{annotate.mixed_floats_histograms_agg()} ({pos})")
                if row is not None:
                    present[row, j] = False
                continue
            got = colsums.get((gi, int(j)))
            total: FloatHistogram | None
            if got is not None:
                total, size = got
            else:
                at = rows[gh[:, j]]
                if hc is not None:  # the objects of these points alone
                    hs = hc.take((at, np.full(len(at), j))).objects().tolist()
                else:
                    hs = [vec.hists[r, j] for r in at] if vec.hists is not None else []
                total = nativehist.sum_histograms(hs, notes, vec.labels[rows[0]].name)
                size = len(hs)
            if total is not None and op == "avg":
                total = total.div(float(size))
            if total is None:
                continue
            if row is None:
                extra_h[-1][j], extra_p[-1][j] = total, True
            else:
                hists[row, j], present[row, j] = total, True
    nativehist.report(ev.ctx, notes, pos)
    labels = list(out.labels) + extra_labels
    if extra_labels:
        values = np.concatenate([values, np.array(rows_values)])
        present = np.concatenate([present, np.array(extra_p)])
        hists = np.concatenate([hists, np.array(extra_h)])
    return Vector(labels, values, present, hists=hists).compact()


def _avg(values: F64, pres: np.ndarray, gidx: np.ndarray, g: int, cnt: F64) -> F64:
    """Direct mean with compensated sum; incremental mean where the sum overflows."""
    s = grouped_sum(values, pres, gidx, g)
    res: F64 = s / cnt
    has_inf = _reduce(np.logical_or, pres & np.isinf(values), gidx, g)
    overflow = np.isinf(s) & ~has_inf
    if overflow.any():
        res = np.where(overflow, _incremental_mean(values, pres, gidx, g), res)
    return res


def _variance(values: F64, pres: np.ndarray, gidx: np.ndarray, g: int, cnt: F64) -> F64:
    """Population variance per group and step (two-pass: mean, then squared deviations).

    Groups whose values are all equal get exactly 0, as Welford's update gives them.
    """
    mean = grouped_sum(values, pres, gidx, g) / cnt
    dev = np.where(pres, values - mean[gidx], 0.0)
    var: F64 = grouped_sum(dev * dev, pres, gidx, g) / cnt
    lo = _reduce(np.fmin, np.where(pres, values, np.nan), gidx, g)
    hi = _reduce(np.fmax, np.where(pres, values, np.nan), gidx, g)
    const = (lo == hi) & np.isfinite(lo)
    out: F64 = np.where(const, 0.0, var)
    return out


def _incremental_mean(values: F64, pres: np.ndarray, gidx: np.ndarray, g: int) -> F64:
    """Mean without overflowing the sum, for groups whose plain sum hit ±Inf."""
    mean = np.zeros((g, values.shape[1]))
    count = np.zeros((g, values.shape[1]))
    for i in range(values.shape[0]):
        p = pres[i]
        gi = gidx[i]
        count[gi] += p
        with np.errstate(all="ignore"):
            c = np.maximum(count[gi], 1)
            step = np.where(p, values[i] / c - mean[gi] / c, 0.0)
        mean[gi] += step
    return mean


def _param_op(ev: ExprEvaluator, op: str, vec: Vector, p: F64, node: plan.Aggregate, n: int) -> Vector:
    if op in ("topk", "bottomk", "limitk") and np.isnan(p).any():
        raise BadDataError("Parameter value is NaN")
    if op == "limit_ratio" and np.isnan(p).any():
        raise BadDataError("Ratio value is NaN")
    if not vec.labels:
        return Vector.empty(n)
    keys, gidx = _groups(vec, node)
    if op == "quantile":
        for q in np.unique(p[~((p >= 0) & (p <= 1))]):
            ev.ctx.warn(annotate.invalid_quantile(float(q)))
        return _quantile(vec, p, keys, gidx)
    if op == "limit_ratio":
        return _limit_ratio(ev, vec, p)
    kk = np.clip(np.nan_to_num(p, nan=0.0, posinf=2**62, neginf=-(2**62)), -(2**62), 2**62).astype(np.int64)
    out_present = np.zeros_like(vec.present)
    instant_order: list[int] = []
    for gi in range(len(keys)):
        rows = np.flatnonzero(gidx == gi)
        vals = vec.values[rows]
        pres = vec.present[rows]
        if op == "limitk":
            rank = np.cumsum(pres, axis=0) - 1
        else:
            # Rank: larger first for topk (NaN last); smaller first for bottomk (NaN last).
            key = -vals if op == "topk" else vals.copy()
            key = np.where(np.isnan(key), np.inf, key)
            nanflag = np.isnan(vals).astype(np.int8)
            absent = (~pres).astype(np.int8)
            pos = np.broadcast_to(np.arange(len(rows))[:, None], vals.shape)
            order = np.lexsort((pos, key, nanflag, absent), axis=0)
            rank = np.empty_like(order)
            np.put_along_axis(rank, order, np.ascontiguousarray(pos), axis=0)
        keep = pres & (rank < kk[None, :])
        out_present[rows] = keep
        if n == 1:
            # An instant result lists each group's selection best first, as Prometheus does.
            chosen = sorted(np.flatnonzero(keep[:, 0]), key=lambda i: rank[i, 0])
            instant_order.extend(int(rows[i]) for i in chosen)
    if n == 1:
        res = Vector(list(vec.labels), vec.values.copy(), out_present, hists=vec.hists).take(instant_order)
        res.ordered = op != "limitk"
        return res
    return Vector(list(vec.labels), vec.values.copy(), out_present, hists=vec.hists).compact()


def _limit_ratio(ev: ExprEvaluator, vec: Vector, p: F64) -> Vector:
    """``limit_ratio(r, v)``: a deterministic sample of series, the same ones Prometheus picks.

    A series' place in [0, 1) is its label hash over 2^64; a ratio r >= 0 keeps those below r,
    a negative one those at or above 1 + r, so ``limit_ratio(r)`` and ``limit_ratio(r - 1)``
    split the input in two.  Grouping does not matter: each series is kept or not on its own."""
    for r in np.unique(p[(p > 1) | (p < -1)]):
        ev.ctx.warn(annotate.invalid_ratio(float(r), 1.0 if r > 1 else -1.0))
    ratio = np.clip(p, -1.0, 1.0)[None, :]
    hashes = np.array([labels_hash(lbls) for lbls in vec.labels], dtype=np.uint64)
    offset = (hashes.astype(np.float64) / 18446744073709551616.0)[:, None]  # float64(MaxUint64) is 2^64
    keep = np.where(ratio >= 0, offset < ratio, offset >= 1.0 + ratio)
    res = Vector(list(vec.labels), vec.values.copy(), vec.present & keep, hists=vec.hists).compact()
    return res


def quantile_sorted(sorted_vals: F64, counts: np.ndarray, q: F64) -> F64:
    """Prometheus's quantile on column-sorted values (present ones first in each column)."""
    with np.errstate(all="ignore"):
        c = counts.astype(np.float64)
        rank = q * (c - 1)
        lower = np.maximum(np.floor(rank), 0)
        upper = np.minimum(lower + 1, c - 1)
        w = rank - np.floor(rank)
        top = max(sorted_vals.shape[0] - 1, 0)
        li = np.clip(np.nan_to_num(lower), 0, top).astype(np.intp)
        ui = np.clip(np.nan_to_num(upper), 0, top).astype(np.intp)
        lv = np.take_along_axis(sorted_vals, li[None, :], axis=0)[0]
        uv = np.take_along_axis(sorted_vals, ui[None, :], axis=0)[0]
        res = lv * (1 - w) + uv * w
    res = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, res))
    res = np.where(np.isnan(q), np.nan, res)
    out: F64 = res
    return out


def sort_present(vals: F64, pres: np.ndarray) -> F64:
    """Sort each column: NaN first (as Go's sort.Float64s), then values, absent last."""
    key_absent = (~pres).astype(np.int8)
    key_num = (~np.isnan(vals)).astype(np.int8)
    filled = np.where(np.isnan(vals), 0.0, vals)
    order = np.lexsort((filled, key_num, key_absent), axis=0)
    out: F64 = np.take_along_axis(vals, order, axis=0)
    return out


def _quantile(vec: Vector, q: F64, keys: list[Labels], gidx: np.ndarray) -> Vector:
    n = vec.n_steps
    values = np.zeros((len(keys), n))
    present = np.zeros((len(keys), n), dtype=bool)
    for gi in range(len(keys)):
        rows = np.flatnonzero(gidx == gi)
        pres = vec.present[rows]
        sv = sort_present(vec.values[rows], pres)
        cnt = pres.sum(axis=0)
        values[gi] = quantile_sorted(sv, cnt, q)
        present[gi] = cnt > 0
    return Vector(keys, np.where(present, values, 0.0), present).compact()


def format_value(v: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f', -1, 64)``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return np.format_float_positional(v, trim="-")


def _count_values(vec: Vector, label: str, node: plan.Aggregate) -> Vector:
    if not valid_label_name(label):
        raise BadDataError(f"invalid label name {go_quote(label)}")
    n = vec.n_steps
    keyf = group_key_fn(node)
    rows_out: dict[Labels, np.ndarray] = {}
    rows, cols = np.nonzero(vec.present)
    hs = vec.hists
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        h = hs[r, c] if hs is not None else None
        text = str(h) if h is not None else format_value(float(vec.values[r, c]))
        key = keyf(vec.labels[r]).set(label, text)
        arr = rows_out.get(key)
        if arr is None:
            arr = rows_out[key] = np.zeros(n)
        arr[c] += 1
    labels = list(rows_out)
    values = np.array([rows_out[k] for k in labels]).reshape(len(labels), n)
    return Vector(labels, values, values > 0)
