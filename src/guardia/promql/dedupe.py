"""Label-set collisions: the "vector cannot contain metrics with the same labelset" rule.

After a function or operator rewrites labels (dropping ``__name__``, ``label_replace``),
two series may end up identical.  Prometheus refuses that only if both have a value at
the same step; series that never overlap in time merge into one.
"""

from __future__ import annotations

import contextvars

import numpy as np

from guardia.model import Labels
from guardia.promql.errors import ExecutionError
from guardia.promql.values import Vector

DUP_MSG = "vector cannot contain metrics with the same labelset"


def merge_duplicates(vec: Vector) -> Vector:
    """Merge rows with equal labels; raise if any two are present at the same step."""
    if len(vec.labels) < 2 or len(set(vec.labels)) == len(vec.labels):
        # The usual case, checked by hashing in C: nothing collides.
        return vec
    groups: dict[Labels, list[int]] = {}
    for i, ls in enumerate(vec.labels):
        groups.setdefault(ls, []).append(i)
    if len(groups) == len(vec.labels):
        return vec
    labels: list[Labels] = []
    values = np.zeros((len(groups), vec.n_steps))
    present = np.zeros((len(groups), vec.n_steps), dtype=bool)
    hists = np.full((len(groups), vec.n_steps), None, dtype=object) if vec.hists is not None else None
    for g, (ls, rows) in enumerate(groups.items()):
        labels.append(ls)
        if len(rows) == 1:
            values[g] = vec.values[rows[0]]
            present[g] = vec.present[rows[0]]
            if hists is not None and vec.hists is not None:
                hists[g] = vec.hists[rows[0]]
            continue
        p = vec.present[rows]
        if (p.sum(axis=0) > 1).any():
            raise ExecutionError(DUP_MSG)
        present[g] = p.any(axis=0)
        if hists is not None and vec.hists is not None:
            for r in rows:
                hists[g] = np.where(vec.present[r], vec.hists[r], hists[g])
        values[g] = np.where(p, vec.values[rows], 0.0).sum(axis=0)
        # NaN values where present must survive the sum of zeros elsewhere.
        nan_rows = p & np.isnan(vec.values[rows])
        if nan_rows.any():
            values[g][nan_rows.any(axis=0)] = np.nan
    return Vector(labels, values, present, hists=hists)


DELAYED_NAME_REMOVAL: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "delayed_name_removal", default=False)
"""Prometheus 3's ``promql-delayed-name-removal``, set by the engine for one evaluation.

A context variable rather than an argument: the name is dropped in a dozen places deep in
functions and operators, and the mode is a property of the whole query, like its deadline."""

DROPPED = "\x00"
"""Prefix of a ``__name__`` value that is to be dropped when the query ends.

With delayed removal a function or operator does not remove the name: it marks it, so
``label_replace`` can still read it and ``sum by (__name__)`` still groups by it, while
default vector matching and ``without`` ignore ``__name__`` as they always do.  No metric
name starts with NUL, so the mark cannot be confused with a name."""


def drop_name(labels: list[Labels]) -> list[Labels]:
    """Every label set without ``__name__`` (marked to be dropped at the end, with delayed
    name removal).

    This runs once per series after most functions and operators, so the common shape
    (the name sorts first, as it does unless a label name starts with a digit, an
    upper-case letter or ``:``) is a tuple slice, built without re-validating the order.
    """
    new = tuple.__new__
    if DELAYED_NAME_REMOVAL.get():
        return [new(Labels, [(n, DROPPED + v) if n == "__name__" and not v.startswith(DROPPED) else (n, v)
                             for n, v in ls]) for ls in labels]
    return [
        new(Labels, ls[1:]) if ls and ls[0][0] == "__name__"
        else new(Labels, [p for p in ls if p[0] != "__name__"])
        for ls in labels
    ]


def name_value(value: str) -> str:
    """A ``__name__`` value as a query reads it (``label_replace``, ``by (__name__)``):
    without the mark of a delayed removal."""
    return value[1:] if value.startswith(DROPPED) else value


def finish_names(labels: list[Labels]) -> tuple[list[Labels], bool]:
    """Drop the names marked for delayed removal; whether any was dropped."""
    out: list[Labels] = []
    changed = False
    for ls in labels:
        if ls.get("__name__").startswith(DROPPED):
            out.append(tuple.__new__(Labels, [p for p in ls if p[0] != "__name__"]))
            changed = True
        else:
            out.append(ls)
    return out, changed


def finish_vector(vec: Vector) -> Vector:
    """A query's result vector with the marked names dropped; series that then collide
    merge where they do not overlap, as Prometheus's last clean-up does, else the query fails."""
    labels, changed = finish_names(vec.labels)
    if not changed:
        return vec
    return merge_duplicates(Vector(labels, vec.values, vec.present, vec.ordered, vec.hists))
