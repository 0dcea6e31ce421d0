"""Label-set collisions: the "vector cannot contain metrics with the same labelset" rule.

After a function or operator rewrites labels (dropping ``__name__``, ``label_replace``),
two series may end up identical.  Prometheus refuses that only if both have a value at
the same step; series that never overlap in time merge into one.
"""

from __future__ import annotations

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


def drop_name(labels: list[Labels]) -> list[Labels]:
    """Every label set without ``__name__``.

    This runs once per series after most functions and operators, so the common shape
    (the name sorts first, as it does unless a label name starts with a digit, an
    upper-case letter or ``:``) is a tuple slice, built without re-validating the order.
    """
    new = tuple.__new__
    return [
        new(Labels, ls[1:]) if ls and ls[0][0] == "__name__"
        else new(Labels, [p for p in ls if p[0] != "__name__"])
        for ls in labels
    ]
