"""``info(v, [data-label-selector])``: labels of info metrics joined onto ``v``.

Prometheus 3's experimental answer to ``* on (job, instance) group_left (k8s_cluster_name)
target_info``: each series of ``v`` gets the data labels of the info series (``target_info``
unless the selector names others) that share its identifying labels, ``instance`` and
``job``.  Where several info series share those labels at a step, the one with the newest
sample wins (an info series whose labels changed at a restart is replaced, not doubled); two
as new as each other are an error, as are two info metrics giving a label different values.
Labels the series already has are kept as they are.  With a selector that names data labels,
only those are added, and a series that finds no info series is dropped unless every matcher
accepts the empty value.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from guardia.model import Labels
from guardia.model.gostrings import labels_string
from guardia.model.matchers import Matcher, MatchType
from guardia.promql import plan
from guardia.promql.context import ExprEvaluator
from guardia.promql.dedupe import merge_duplicates
from guardia.promql.errors import ExecutionError
from guardia.promql.selectors import instant
from guardia.promql.values import I64, Vector

TARGET_INFO = "target_info"
IDENTIFYING = ("instance", "job")


def evaluate(ev: ExprEvaluator, node: plan.Call, ts: I64) -> Vector:
    vec = ev.eval_vector_h(node.args[0], ts)
    selector = node.args[1] if len(node.args) > 1 else None
    data: dict[str, list[Matcher]] = {}
    if isinstance(selector, plan.VectorSelector):
        for m in selector.matchers:
            data.setdefault(m.name, []).append(m)
    name_matchers = data.pop("__name__", [])
    if not name_matchers:
        fetch_names = [Matcher.equal("__name__", TARGET_INFO)]
        info_names = fetch_names if selector is None else []
    elif not any(m.type in (MatchType.EQUAL, MatchType.REGEX) for m in name_matchers):
        # Only exclusions: the info metrics are the other ``*_info`` metrics, not every series.
        fetch_names = info_names = [*name_matchers, Matcher("__name__", MatchType.REGEX, ".+_info")]
    else:
        fetch_names = info_names = name_matchers
    if not vec.labels:
        return vec
    # Series of the info metrics themselves are passed through untouched.
    ignored = [bool(info_names) and all(m.matches(ls.name) for m in info_names) for ls in vec.labels]
    wanted: dict[str, set[str]] = {}
    for ls, skip in zip(vec.labels, ignored, strict=True):
        if not skip:
            for k in IDENTIFYING:
                if v := ls.get(k):
                    wanted.setdefault(k, set()).add(v)
    info = Vector.empty(len(ts))
    if wanted:
        base_sel = _first_selector(node.args[0])
        sel = plan.VectorSelector(
            name=None, matchers=tuple(fetch_names) + tuple(m for ms in data.values() for m in ms),
            offset_ms=base_sel.offset_ms if base_sel else 0, at=base_sel.at if base_sel else None)
        found = instant(ev.ctx, sel, ts, want_timestamps=True)
        keep = [i for i, ls in enumerate(found.labels)
                if all(ls.get(k) in vals for k, vals in wanted.items())]
        info = found.take(keep)
        if info.hist_mask().any():
            raise ExecutionError("info sample should be float")
    chosen = _newest_per_signature(info)
    names = sorted({ls.name for ls in info.labels})
    drop_unmatched = any(not m.matches("") for ms in data.values() for m in ms)
    out_labels: list[Labels] = []
    rows: list[int] = []
    masks: list[np.ndarray] = []
    for i, ls in enumerate(vec.labels):
        if ignored[i] or not names:
            if ignored[i] or not drop_unmatched:
                out_labels.append(ls)
                rows.append(i)
                masks.append(vec.present[i])
            continue
        own = tuple((k, ls.get(k)) for k in IDENTIFYING if ls.get(k))
        picks = np.stack([chosen.get((name, own), _none(len(ts))) for name in names])
        combos, where = np.unique(picks, axis=1, return_inverse=True)
        for c in range(combos.shape[1]):
            steps = vec.present[i] & (where.ravel() == c)
            if not steps.any():
                continue
            infos = [info.labels[r] for r in combos[:, c] if r >= 0]
            if not infos and drop_unmatched:
                continue
            out_labels.append(_joined(ls, infos, data))
            rows.append(i)
            masks.append(steps)
    if not rows:
        return Vector.empty(len(ts))
    picked = vec.take(rows)
    out = Vector(out_labels, picked.values, np.array(masks), hists=picked.hists)
    return merge_duplicates(out).compact()


def _none(n: int) -> np.ndarray:
    """No info series at any of ``n`` steps."""
    return np.full(n, -1, dtype=np.int64)


def _first_selector(node: plan.Node) -> plan.VectorSelector | None:
    """The selector whose ``offset`` and ``@`` the info series are read with, as Prometheus
    takes them from the first selector of the first argument."""
    if isinstance(node, plan.VectorSelector):
        return node
    if isinstance(node, plan.MatrixSelector):
        return node.selector
    for f in dataclasses.fields(node):
        child = getattr(node, f.name)
        for kid in child if isinstance(child, tuple) else (child,):
            if isinstance(kid, plan.Node) and (found := _first_selector(kid)) is not None:
                return found
    return None


def _newest_per_signature(info: Vector) -> dict[tuple[str, tuple[tuple[str, str], ...]], np.ndarray]:
    """For each (info metric, identifying labels), the row of the info series to use at each
    step: the one with the newest sample, -1 where none is present."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[int]] = {}
    for r, ls in enumerate(info.labels):
        key = (ls.name, tuple((k, ls.get(k)) for k in IDENTIFYING if ls.get(k)))
        groups.setdefault(key, []).append(r)
    out: dict[tuple[str, tuple[tuple[str, str], ...]], np.ndarray] = {}
    for key, members in groups.items():
        idx = np.array(members)
        stamps = np.where(info.present[idx], info.values[idx], -np.inf)  # sample times, seconds
        best = np.argmax(stamps, axis=0)
        top = stamps[best, np.arange(stamps.shape[1])]
        tied = (stamps == top[None, :]).sum(axis=0) > 1
        clash = np.flatnonzero(tied & np.isfinite(top))
        if len(clash):
            j = int(clash[0])
            a, b = (int(r) for r in idx[np.flatnonzero(stamps[:, j] == top[j])[:2]])
            t = round(float(top[j]) * 1000)
            raise ExecutionError(
                f"found duplicate series for info metric: existing {labels_string(info.labels[a])} @ {t}, "
                f"new {labels_string(info.labels[b])} @ {t}")
        out[key] = np.where(np.isfinite(top), idx[best], -1)
    return out


def _joined(base: Labels, infos: list[Labels], data: dict[str, list[Matcher]]) -> Labels:
    """``base`` with the data labels of ``infos`` it does not already have."""
    added: dict[str, str] = {}
    have = dict(base)
    for info in infos:
        for name, value in info:
            if name == "__name__" or (data and name not in data):
                continue
            if added.get(name, value) != value:
                raise ExecutionError(f"conflicting label: {name}")
            if name not in have:
                added[name] = value
    if not added:
        return base
    return Labels({**have, **added})
