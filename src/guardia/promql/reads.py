"""What a query will read from storage, worked out from its plan before it runs.

The engine opens one querier per query, over the union of what every selector reads
(Prometheus's ``FindMinMaxTime``): each selector's lookback or range window, shifted by
its ``offset`` and pinned by ``@``, through any enclosing subqueries.  Each selector then
selects its own part with ``SelectHints`` naming the function or aggregation it feeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from guardia.promql import plan

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


@dataclass(slots=True)
class Reads:
    """The time range a query reads (empty when it has no selector) and the hint
    function of each selector, by ``id`` of its ``VectorSelector`` node."""

    mint: int = INT64_MAX
    maxt: int = INT64_MIN
    funcs: dict[int, str] = field(default_factory=dict)

    def add(self, mint: int, maxt: int) -> None:
        self.mint = min(self.mint, mint)
        self.maxt = max(self.maxt, maxt)

    def covers(self, mint: int, maxt: int) -> bool:
        return self.mint <= mint and maxt <= self.maxt


def reads(node: plan.Node, start: int, end: int, lookback_ms: int) -> Reads:
    """What evaluating ``node`` at steps within ``[start, end]`` reads."""
    out = Reads()
    _walk(out, node, start, end, start, end, lookback_ms, "")
    return out


def _eval_range(at: plan.AtSpec, offset_ms: int, lo: int, hi: int, start: int, end: int) -> tuple[int, int]:
    """The storage times a selector or subquery evaluated at steps ``[lo, hi]`` reads at
    (``selectors.eval_times`` over a range of steps)."""
    if at is not None:
        lo = hi = start if at == "start" else end if at == "end" else int(at)
    return lo - offset_ms, hi - offset_ms


def _walk(
    out: Reads, node: plan.Node, lo: int, hi: int, start: int, end: int, lookback_ms: int, func: str
) -> None:
    if isinstance(node, plan.VectorSelector):
        a, b = _eval_range(node.at, node.offset_ms, lo, hi, start, end)
        out.add(a - lookback_ms + 1, b)
        out.funcs[id(node)] = func
    elif isinstance(node, plan.MatrixSelector):
        vs = node.selector
        a, b = _eval_range(vs.at, vs.offset_ms, lo, hi, start, end)
        out.add(a - node.range_ms + 1, b)
        out.funcs[id(vs)] = func
    elif isinstance(node, plan.Subquery):
        # The inner expression runs at steps from the window's start to its end.
        a, b = _eval_range(node.at, node.offset_ms, lo, hi, start, end)
        _walk(out, node.expr, a - node.range_ms, b, start, end, lookback_ms, "")
    elif isinstance(node, plan.Paren):
        _walk(out, node.expr, lo, hi, start, end, lookback_ms, func)
    elif isinstance(node, plan.Unary):
        _walk(out, node.expr, lo, hi, start, end, lookback_ms, "")
    elif isinstance(node, plan.Binary):
        _walk(out, node.lhs, lo, hi, start, end, lookback_ms, "")
        _walk(out, node.rhs, lo, hi, start, end, lookback_ms, "")
    elif isinstance(node, plan.Aggregate):
        _walk(out, node.expr, lo, hi, start, end, lookback_ms, node.op)
        if node.param is not None:
            _walk(out, node.param, lo, hi, start, end, lookback_ms, "")
    elif isinstance(node, plan.Call):
        for arg in node.args:
            _walk(out, arg, lo, hi, start, end, lookback_ms, node.func)
