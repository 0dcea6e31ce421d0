"""The public entry point: ``Engine.instant`` / ``Engine.range``.

An instant query is a range query with one step; both evaluate every node for all steps
at once (see ``values``).  Results come back in the shapes the HTTP API serialises.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from guardia.model import Labels
from guardia.model.histogram import FloatHistogram
from guardia.promql import plan
from guardia.promql.context import EvalContext, SplitSteps
from guardia.promql.dedupe import DELAYED_NAME_REMOVAL, DUP_MSG, finish_names, finish_vector
from guardia.promql.errors import BadDataError, ExecutionError, PromQLError
from guardia.promql.evaluator import Evaluator
from guardia.promql.memo import Memo
from guardia.promql.parse import parse
from guardia.promql.reads import reads
from guardia.promql.values import RangeVector, Scalar, String, Vector, not_none
from guardia.storage.interface import Queryable, Series


@dataclass(frozen=True, slots=True)
class EngineOptions:
    lookback_delta_ms: int = 5 * 60_000
    max_samples: int = 50_000_000
    timeout_s: float = 120.0
    # Step of subqueries written without one (``x[1h:]``): Prometheus uses the global
    # evaluation interval, 1m by default.
    subquery_step_ms: int = 60_000
    # Steps evaluated together in a range query (bounds memory at series x steps).
    max_chunk_steps: int = 2048
    # Raw samples one chunk may read before it is split (bounds memory on long ranges).
    max_chunk_raw_samples: int = 20_000_000
    # Prometheus 3's ``--enable-feature=promql-delayed-name-removal``: functions and operators
    # mark ``__name__`` and it is dropped when the query ends, so ``label_replace`` and
    # ``by (__name__)`` can still use it (``dedupe.DELAYED_NAME_REMOVAL``).
    delayed_name_removal: bool = False


@dataclass(frozen=True, slots=True)
class Sample:
    labels: Labels
    t: int
    v: float
    # A native histogram point (``v`` is then meaningless), or None for a float.
    h: FloatHistogram | None = None


@dataclass(slots=True)
class QueryResult:
    type: Literal["vector", "matrix", "scalar", "string"]
    value: Any
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
    # Samples the query touched (Prometheus's totalQueryableSamples), for stats and benchmarks.
    samples: int = 0
    # Whether the order of an instant vector is meaningful (sort functions, topk).
    ordered: bool = False


class Engine:
    """Evaluates PromQL against a ``Queryable``, through one querier per query.

    The engine holds no per-query state, so one instance serves every caller and thread.
    Evaluation is synchronous and CPU-bound: an async server runs it in a worker thread
    and passes ``cancel`` (a ``threading.Event``) which it sets when the client goes
    away; the query then stops at its next check (between plan nodes and storage
    reads) with ``QueryCanceledError``.  ``timeout_s`` overrides the engine default.
    Errors are ``PromQLError`` subclasses whose ``error_type`` is the API's errorType.
    """

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()

    def _ctx(
        self, storage: Queryable, node: plan.Node, expr: str, start: int, end: int, step: int,
        timeout_s: float | None, cancel: threading.Event | None, lookback_ms: int | None,
        memo: Memo | None = None,
    ) -> EvalContext:
        o = self.options
        lookback = lookback_ms if lookback_ms and lookback_ms > 0 else o.lookback_delta_ms
        return EvalContext(
            storage=storage,
            start=start,
            end=end,
            step=step,
            lookback=lookback,
            max_samples=o.max_samples,
            deadline=time.monotonic() + (timeout_s if timeout_s is not None else o.timeout_s),
            cancel=cancel,
            subquery_step=o.subquery_step_ms,
            query=expr,
            raw_budget=o.max_chunk_raw_samples,
            reads=reads(node, start, end, lookback),
            memo=memo,
        )

    def instant(
        self, storage: Queryable, expr: str, t_ms: int, *,
        timeout_s: float | None = None, cancel: threading.Event | None = None,
        lookback_delta_ms: int | None = None, memo: Memo | None = None,
    ) -> QueryResult:
        """Evaluate ``expr`` at ``t_ms``.  ``lookback_delta_ms`` overrides the engine's
        lookback for this query (the API's ``lookback_delta`` parameter).  ``memo`` shares
        subexpression results with the other queries of a view over an unchanging store
        (see ``memo.Memo``)."""
        node = parse(expr)
        ctx = self._ctx(storage, node, expr, t_ms, t_ms, 0, timeout_s, cancel, lookback_delta_ms, memo)
        ts = np.array([t_ms], dtype=np.int64)
        token = DELAYED_NAME_REMOVAL.set(self.options.delayed_name_removal)
        try:
            val = Evaluator(ctx).eval(node, ts)
            if self.options.delayed_name_removal:
                val = _finish(val)
        finally:
            DELAYED_NAME_REMOVAL.reset(token)
            ctx.close()
        return self._instant_result(ctx, val, t_ms)

    def range(
        self, storage: Queryable, expr: str, start_ms: int, end_ms: int, step_ms: int, *,
        timeout_s: float | None = None, cancel: threading.Event | None = None,
        lookback_delta_ms: int | None = None, memo: Memo | None = None,
    ) -> QueryResult:
        """Evaluate ``expr`` at every ``step_ms`` from ``start_ms`` to ``end_ms``."""
        if step_ms <= 0:
            raise BadDataError(
                "zero or negative query resolution step widths are not accepted. "
                "Try a positive integer"
            )
        if end_ms < start_ms:
            raise BadDataError("end timestamp must not be before start time")
        if (end_ms - start_ms) // step_ms > 11_000:
            # Prometheus's API guard: a graph cannot show more points than this anyway.
            raise BadDataError(
                "exceeded maximum resolution of 11,000 points per timeseries. "
                "Try decreasing the query resolution (?step=XX)"
            )
        node = parse(expr)
        vt = plan.value_type(node)
        if vt not in ("vector", "scalar"):
            raise BadDataError(
                f'invalid expression type "{_type_name(vt)}" for range query, '
                "must be Scalar or instant Vector"
            )
        ctx = self._ctx(
            storage, node, expr, start_ms, end_ms, step_ms, timeout_s, cancel, lookback_delta_ms, memo
        )
        token = DELAYED_NAME_REMOVAL.set(self.options.delayed_name_removal)
        try:
            parts = self._range_parts(ctx, node)
        finally:
            DELAYED_NAME_REMOVAL.reset(token)
            ctx.close()
        series = []
        for ls in sorted(parts):
            segs = parts[ls]
            hs = None
            if any(s[2] is not None for s in segs):
                hs = np.concatenate([s[2] if s[2] is not None else np.full(len(s[0]), None, dtype=object)
                                     for s in segs])
            if len(segs) == 1:
                series.append(Series(ls, segs[0][0].copy(), segs[0][1].copy(), hs))
            else:
                series.append(
                    Series(ls, np.concatenate([s[0] for s in segs]), np.concatenate([s[1] for s in segs]), hs)
                )
        return QueryResult("matrix", series, list(ctx.warnings), list(ctx.infos), ctx.total_samples)

    def _range_parts(
        self, ctx: EvalContext, node: plan.Node
    ) -> dict[Labels, list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]]:
        """Each result series' (steps, values) pieces, one per chunk of steps it has points in."""
        steps = ctx.steps()
        # Long ranges are evaluated in chunks of steps so (series x steps) arrays stay
        # bounded; every PromQL operation is local to a step, so chunks are independent.
        # A chunk whose selectors would read more raw samples than ``max_chunk_raw_samples``
        # is split in halves and retried, so memory follows the data, not the range.
        parts: dict[Labels, list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]] = {}
        size = self.options.max_chunk_steps
        todo = [(c0, min(c0 + size, len(steps))) for c0 in range(0, len(steps), size)][::-1]
        while todo:
            a, b = todo.pop()
            ts = steps[a:b]
            ctx.can_split = b - a > 1
            saved = (ctx.total_samples, ctx.peak_samples)
            try:
                val = Evaluator(ctx).eval(node, ts)
            except SplitSteps:
                ctx.total_samples, ctx.peak_samples = saved
                mid = (a + b) // 2
                todo.extend([(mid, b), (a, mid)])
                continue
            if isinstance(val, Scalar):
                parts.setdefault(Labels(), []).append((ts, val.values, None))
            elif isinstance(val, Vector):
                if self.options.delayed_name_removal:
                    val = finish_vector(val)
                for i, ls in enumerate(val.labels):
                    m = val.present[i]
                    if m.any():
                        h = val.hists[i][m] if val.hists is not None else None
                        if h is not None and not not_none(h).any():
                            h = None
                        parts.setdefault(ls, []).append((ts[m], val.values[i][m], h))
            else:
                raise PromQLError("range query produced neither vector nor scalar")
        return parts

    def _instant_result(self, ctx: EvalContext, val: Any, t: int) -> QueryResult:
        w, i = list(ctx.warnings), list(ctx.infos)
        if isinstance(val, Scalar):
            return QueryResult("scalar", (t, float(val.values[0])), w, i, ctx.total_samples)
        if isinstance(val, String):
            return QueryResult("string", (t, val.value), w, i, ctx.total_samples)
        if isinstance(val, Vector):
            hs = val.hists
            out = [
                Sample(val.labels[r], t, float(val.values[r, 0]), None if hs is None else hs[r, 0])
                for r in range(len(val.labels))
                if val.present[r, 0]
            ]
            return QueryResult("vector", out, w, i, ctx.total_samples, val.ordered)
        if isinstance(val, RangeVector):
            series = []
            for j, ls in enumerate(val.labels):
                lo, hi = int(val.lo[j, 0]), int(val.hi[j, 0])
                if hi > lo:
                    h = val.h[lo:hi].copy() if val.h is not None else None
                    if h is not None and not not_none(h).any():
                        h = None
                    series.append(Series(ls, val.t[lo:hi].copy(), val.v[lo:hi].copy(), h))
            return QueryResult("matrix", series, w, i, ctx.total_samples)
        raise PromQLError(f"unexpected result {type(val).__name__}")


def _finish(val: Any) -> Any:
    """The end of a query under delayed name removal: marked names dropped."""
    if isinstance(val, Vector):
        return finish_vector(val)
    if isinstance(val, RangeVector):
        labels, changed = finish_names(val.labels)
        if changed:
            if len(set(labels)) != len(labels):
                raise ExecutionError(DUP_MSG)
            val = val.relabeled(labels)
    return val


def _type_name(vt: str) -> str:
    return {"matrix": "range vector", "vector": "instant vector"}.get(vt, vt)
