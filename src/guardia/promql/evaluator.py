"""Walk a plan and evaluate each node for a whole array of steps."""

from __future__ import annotations

import numpy as np

from guardia.model import Labels
from guardia.promql import aggregations, binops, functions, memo, plan, selectors
from guardia.promql.context import EvalContext
from guardia.promql.dedupe import drop_name, merge_duplicates
from guardia.promql.errors import ExecutionError
from guardia.promql.values import I64, RangeVector, Scalar, String, Value, Vector


class Evaluator:
    def __init__(self, ctx: EvalContext) -> None:
        self.ctx = ctx

    def eval(self, node: plan.Node, ts: I64) -> Value:
        m = self.ctx.memo
        if m is not None and memo.worth(node):
            variant = self.ctx.reads.funcs.get(id(node), "") if isinstance(node, plan.VectorSelector) else ""
            return m.value(self.ctx, node, ts, variant, lambda: self._eval(node, ts))
        return self._eval(node, ts)

    def eval_names_unused(self, node: plan.Call, ts: I64) -> Value:
        """A function call whose result's ``__name__`` the caller never reads."""
        self.ctx.check()
        m = self.ctx.memo
        if m is not None and memo.worth(node):
            return m.value(self.ctx, node, ts, "names unused",
                           lambda: functions.call(self, node, ts, names_unused=True))
        return functions.call(self, node, ts, names_unused=True)

    def _eval(self, node: plan.Node, ts: I64) -> Value:
        ctx = self.ctx
        ctx.check()
        if isinstance(node, plan.NumberLiteral):
            return Scalar(np.full(len(ts), node.value))
        if isinstance(node, plan.StringLiteral):
            return String(node.value)
        if isinstance(node, plan.Paren):
            return self.eval(node.expr, ts)
        if isinstance(node, plan.VectorSelector):
            return selectors.instant(ctx, node, ts)
        if isinstance(node, plan.MatrixSelector):
            return selectors.range_(ctx, node, ts)
        if isinstance(node, plan.Subquery):
            return selectors.subquery(ctx, node, ts, self)
        if isinstance(node, plan.Unary):
            val = self.eval(node.expr, ts)
            if isinstance(val, Scalar):
                return Scalar(-val.values)
            if isinstance(val, Vector):
                hists = None
                if val.hists is not None:
                    hists = np.empty(val.hists.shape, dtype=object)
                    hists[:] = [[None if h is None else h.copy().mul(-1) for h in row] for row in val.hists]
                return merge_duplicates(Vector(drop_name(val.labels), -val.values, val.present, hists=hists))
            raise ExecutionError(
                "unary expression only allowed on expressions of type scalar or instant vector"
            )
        if isinstance(node, plan.Binary):
            return binops.evaluate(self, node, ts)
        if isinstance(node, plan.Aggregate):
            return aggregations.evaluate(self, node, ts)
        if isinstance(node, plan.Call):
            return functions.call(self, node, ts)
        raise ExecutionError(f"cannot evaluate {node!r}")

    def eval_vector(self, node: plan.Node, ts: I64) -> Vector:
        """An instant vector's float points: histogram points are dropped, so a handler
        that knows nothing of native histograms never sees one (``eval_vector_h`` keeps
        them)."""
        return self.eval_vector_h(node, ts).floats()[0]

    def eval_vector_h(self, node: plan.Node, ts: I64) -> Vector:
        val = self.eval(node, ts)
        if not isinstance(val, Vector):
            raise ExecutionError(f"expected instant vector, got {type(val).__name__.lower()}")
        return val

    def eval_vector_like(self, node: plan.Node, ts: I64) -> Vector:
        """A vector; a scalar becomes one label-less series (for subqueries)."""
        val = self.eval(node, ts)
        if isinstance(val, Scalar):
            ones = np.ones((1, len(ts)), dtype=bool)
            return Vector([Labels()], val.values[None, :].copy(), ones)
        if not isinstance(val, Vector):
            raise ExecutionError(f"expected instant vector, got {type(val).__name__.lower()}")
        return val

    def eval_scalar(self, node: plan.Node, ts: I64) -> Scalar:
        val = self.eval(node, ts)
        if not isinstance(val, Scalar):
            raise ExecutionError(f"expected scalar, got {type(val).__name__.lower()}")
        return val

    def eval_range(self, node: plan.Node, ts: I64) -> RangeVector:
        """A range vector's float samples (``eval_range_h`` keeps histogram samples)."""
        return selectors.floats_of(self.eval_range_h(node, ts))[0]

    def eval_range_h(self, node: plan.Node, ts: I64) -> RangeVector:
        val = self.eval(node, ts)
        if not isinstance(val, RangeVector):
            raise ExecutionError(f"expected range vector, got {type(val).__name__.lower()}")
        return val

    def eval_string(self, node: plan.Node, ts: I64) -> str:
        val = self.eval(node, ts)
        if not isinstance(val, String):
            raise ExecutionError(f"expected string, got {type(val).__name__.lower()}")
        return val.value

