"""Binary operators: arithmetic, comparison and set operations, with vector matching.

Matching is decided per step (a series may match at some steps and not others) but
computed with whole-row numpy operations: Python only walks the series to pair them up.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from guardia.model import Labels
from guardia.model.gostrings import labels_string
from guardia.promql import nativehist, plan
from guardia.promql.context import ExprEvaluator
from guardia.promql.dedupe import DELAYED_NAME_REMOVAL, DROPPED, drop_name, merge_duplicates, name_value
from guardia.promql.errors import ExecutionError
from guardia.promql.values import F64, I64, Scalar, Value, Vector

ARITHMETIC = {"+", "-", "*", "/", "%", "^", "atan2"}
COMPARISON = {"==", "!=", ">", "<", ">=", "<="}
SET = {"and", "or", "unless"}


_OPS: dict[str, Callable[[F64, F64], F64]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "%": np.fmod,  # Go's math.Mod: the sign of the dividend
    "^": np.power,
    "atan2": np.arctan2,
    "==": lambda a, b: (a == b).astype(np.float64),
    "!=": lambda a, b: (a != b).astype(np.float64),
    ">": lambda a, b: (a > b).astype(np.float64),
    "<": lambda a, b: (a < b).astype(np.float64),
    ">=": lambda a, b: (a >= b).astype(np.float64),
    "<=": lambda a, b: (a <= b).astype(np.float64),
}


def apply_op(op: str, a: F64, b: F64) -> F64:
    """Element-wise operator with Go float semantics (no exceptions on /0 or NaN)."""
    fn = _OPS.get(op)
    if fn is None:
        raise ExecutionError(f"operator {op!r} not allowed here")
    with np.errstate(all="ignore"):
        return fn(a, b)


def evaluate(ev: ExprEvaluator, node: plan.Binary, ts: I64) -> Value:
    lhs = ev.eval(node.lhs, ts)
    rhs = ev.eval(node.rhs, ts)
    op = node.op
    if isinstance(lhs, Scalar) and isinstance(rhs, Scalar):
        return Scalar(apply_op(op, lhs.values, rhs.values))
    notes = nativehist.Notes()
    try:
        if isinstance(lhs, Vector) and isinstance(rhs, Scalar):
            return _vector_scalar(op, lhs, rhs.values, node.return_bool, swap=False, notes=notes)
        if isinstance(lhs, Scalar) and isinstance(rhs, Vector):
            return _vector_scalar(op, rhs, lhs.values, node.return_bool, swap=True, notes=notes)
        if isinstance(lhs, Vector) and isinstance(rhs, Vector):
            matching = node.matching or plan.VectorMatching("one-to-one", False, ())
            if op in SET:
                return _set_op(op, lhs, rhs, matching)
            return _vector_vector(op, lhs, rhs, matching, node.return_bool, notes)
    finally:
        nativehist.report(ev.ctx, notes, "1:1")
    raise ExecutionError("binary expression must contain only scalar and instant vector types")


def _vector_scalar(
    op: str, vec: Vector, s: F64, return_bool: bool, swap: bool, notes: nativehist.Notes
) -> Vector:
    sv = np.broadcast_to(s[None, :], vec.values.shape)
    res = apply_op(op, sv, vec.values) if swap else apply_op(op, vec.values, sv)
    fvec, has_hists = vec.floats()
    keep_name = op in COMPARISON and not return_bool
    if keep_name:
        values, present = vec.values.copy(), fvec.present & (res == 1.0)
    else:
        values, present = res, fvec.present.copy()
    hists = None
    if has_hists:
        lv, rv = (sv, vec.values) if swap else (vec.values, sv)
        lh, rh = (None, vec.hists) if swap else (vec.hists, None)
        todo = nativehist.hist_positions(vec.present, lh, rh)
        values, present, hists = nativehist.overlay_binop(
            op, lv, rv, lh, rh, todo, values, present, return_bool, op in COMPARISON, notes
        )
    if keep_name:
        return Vector(list(vec.labels), values, present, hists=hists).compact()
    return merge_duplicates(Vector(drop_name(vec.labels), values, present, hists=hists))


def signature_fn(matching: plan.VectorMatching) -> Callable[[Labels], Labels]:
    """The labels two series must share to match: ``on`` keeps, ``ignoring`` drops (and the name)."""
    names = matching.labels
    if matching.on:
        keep = set(names)
        if "__name__" in keep and DELAYED_NAME_REMOVAL.get():
            # on(__name__) matches on the name a delayed removal has not dropped yet
            return lambda ls: Labels.from_sorted(
                (k, name_value(v)) if k == "__name__" else (k, v) for k, v in ls if k in keep)
        return lambda ls: Labels.from_sorted(p for p in ls if p[0] in keep)
    drop = {*names, "__name__"}
    return lambda ls: Labels.from_sorted(p for p in ls if p[0] not in drop)


def _sig_presence(vec: Vector, sigs: list[Labels]) -> tuple[dict[Labels, int], np.ndarray]:
    """Per distinct signature, whether any series with it is present at each step."""
    index: dict[Labels, int] = {}
    rows: list[int] = []
    for s in sigs:
        rows.append(index.setdefault(s, len(index)))
    pres = np.zeros((len(index), vec.n_steps), dtype=bool)
    if rows:
        np.logical_or.at(pres, np.asarray(rows), vec.present)
    return index, pres


def _set_op(op: str, lhs: Vector, rhs: Vector, matching: plan.VectorMatching) -> Vector:
    sigf = signature_fn(matching)
    lsig = [sigf(ls) for ls in lhs.labels]
    rsig = [sigf(ls) for ls in rhs.labels]
    n = lhs.n_steps
    if op in ("and", "unless"):
        index, pres = _sig_presence(rhs, rsig)
        other = np.zeros((len(lsig), n), dtype=bool)
        for i, s in enumerate(lsig):
            j = index.get(s)
            if j is not None:
                other[i] = pres[j]
        keep = lhs.present & (other if op == "and" else ~other)
        return Vector(list(lhs.labels), lhs.values.copy(), keep, hists=lhs.hists).compact()
    index, pres = _sig_presence(lhs, lsig)
    blocked = np.zeros((len(rsig), n), dtype=bool)
    for i, s in enumerate(rsig):
        j = index.get(s)
        if j is not None:
            blocked[i] = pres[j]
    rpres = rhs.present & ~blocked
    hists = None
    if lhs.hists is not None or rhs.hists is not None:
        hists = np.concatenate([
            v.hists if v.hists is not None else nativehist.empty_column(v.present.shape) for v in (lhs, rhs)
        ])
    out = Vector(
        list(lhs.labels) + list(rhs.labels),
        np.concatenate([lhs.values, rhs.values]),
        np.concatenate([lhs.present, rpres]),
        hists=hists,
    ).compact()
    return merge_duplicates(out)


def _vector_vector(
    op: str, lhs: Vector, rhs: Vector, matching: plan.VectorMatching, return_bool: bool,
    notes: nativehist.Notes,
) -> Vector:
    card = matching.card
    if card == "many-to-many":
        raise ExecutionError("many-to-many only allowed for set operators")
    swap = card == "one-to-many"
    many, one = (rhs, lhs) if swap else (lhs, rhs)
    sigf = signature_fn(matching)
    one_sig = [sigf(ls) for ls in one.labels]
    many_sig = [sigf(ls) for ls in many.labels]
    groups: dict[Labels, list[int]] = {}
    for r, s in enumerate(one_sig):
        groups.setdefault(s, []).append(r)
    # The "one" side must be unique per signature at every step.
    for s, rows in groups.items():
        if len(rows) > 1:
            p = one.present[rows]
            both = np.flatnonzero(p.sum(axis=0) > 1)
            if len(both):
                step = both[0]
                hits = [one.labels[r] for r in rows if one.present[r, step]]
                side = "left" if swap else "right"
                ml = s
                raise ExecutionError(
                    f"found duplicate series for the match group {labels_string(ml)} on the {side} "
                    f"hand-side of the operation: [{labels_string(hits[0])}, {labels_string(hits[1])}]"
                    ";many-to-many matching not allowed: matching labels must be unique on one side"
                )
    pair_many: list[int] = []
    pair_one: list[int] = []
    for i, s in enumerate(many_sig):
        for r in groups.get(s, ()):
            pair_many.append(i)
            pair_one.append(r)
    n = lhs.n_steps
    if not pair_many:
        return Vector.empty(n)
    pm = np.asarray(pair_many)
    po = np.asarray(pair_one)
    present = many.present[pm] & one.present[po]
    if card == "one-to-one":
        # Two "many"-side series matching the same "one" series at one step.
        cnt: dict[int, list[int]] = {}
        for idx, r in enumerate(pair_one):
            cnt.setdefault(r, []).append(idx)
        for idxs in cnt.values():
            if len(idxs) > 1 and (present[idxs].sum(axis=0) > 1).any():
                raise ExecutionError(
                    "multiple matches for labels: many-to-one matching must be explicit "
                    "(group_left/group_right)"
                )
    mv = many.values[pm]
    ov = one.values[po]
    lv, rv = (ov, mv) if swap else (mv, ov)
    res = apply_op(op, lv, rv)
    drop = op in ARITHMETIC or return_bool
    labels = [
        _result_labels(many.labels[i], one.labels[r], matching, drop)
        for i, r in zip(pair_many, pair_one, strict=True)
    ]
    todo = None
    if many.hists is not None or one.hists is not None:
        mh = many.hists[pm] if many.hists is not None else None
        oh = one.hists[po] if one.hists is not None else None
        lh, rh = (oh, mh) if swap else (mh, oh)
        todo = nativehist.hist_positions(present, lh, rh)
        present = present & ~todo
    if op in COMPARISON and not return_bool:
        present = present & (res == 1.0)
        res = lv.copy()
    hists = None
    if todo is not None and todo.any():
        res, present, hists = nativehist.overlay_binop(
            op, lv, rv, lh, rh, todo, res, present, return_bool, op in COMPARISON, notes
        )
    out = Vector(labels, res, present, hists=hists).compact()
    try:
        return merge_duplicates(out)
    except ExecutionError:
        if card == "one-to-one":
            raise
        raise ExecutionError(
            "multiple matches for labels: grouping labels must ensure unique matches"
        ) from None


def _result_labels(many: Labels, one: Labels, matching: plan.VectorMatching, drop: bool) -> Labels:
    d = dict(many)
    if drop:
        if DELAYED_NAME_REMOVAL.get():
            if "__name__" in d and not d["__name__"].startswith(DROPPED):
                d["__name__"] = DROPPED + d["__name__"]
        else:
            d.pop("__name__", None)
    if matching.card == "one-to-one":
        if matching.on:
            keep = set(matching.labels)
            d = {k: v for k, v in d.items() if k in keep}
        else:
            for k in matching.labels:
                d.pop(k, None)
    for name in matching.include:
        v = one.get(name)
        if v:
            d[name] = v
        else:
            d.pop(name, None)
    return Labels(d)
