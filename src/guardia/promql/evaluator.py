"""Walk a plan and evaluate each node for a whole array of steps."""

from __future__ import annotations

import numpy as np

from guardia.model import Labels
from guardia.promql import aggregations, binops, functions, plan, selectors
from guardia.promql.context import EvalContext
from guardia.promql.dedupe import drop_name, merge_duplicates
from guardia.promql.errors import ExecutionError
from guardia.promql.values import I64, RangeVector, Scalar, String, Value, Vector


class Evaluator:
    def __init__(self, ctx: EvalContext) -> None:
        self.ctx = ctx

    def eval(self, node: plan.Node, ts: I64) -> Value:
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
                return merge_duplicates(Vector(drop_name(val.labels), -val.values, val.present))
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
        val = self.eval(node, ts)
        if not isinstance(val, RangeVector):
            raise ExecutionError(f"expected range vector, got {type(val).__name__.lower()}")
        return val

    def eval_string(self, node: plan.Node, ts: I64) -> str:
        val = self.eval(node, ts)
        if not isinstance(val, String):
            raise ExecutionError(f"expected string, got {type(val).__name__.lower()}")
        return val.value

