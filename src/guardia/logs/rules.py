"""LogQL for the rule manager: Loki ruler files are Prometheus rule files with LogQL in ``expr``.

The rule manager checks each ``expr`` with ``rule_expr_error`` and evaluates it through
``instant_vector``; the composition root wraps the result in its sample type, so rules never
see the log store, as they never see the TSDB.
"""

from __future__ import annotations

from guardia.logs.errors import LogsError
from guardia.logs.logql import LogQLEngine, MatrixResult, ScalarResult, parse
from guardia.logs.logql import ast as logql_ast
from guardia.model.labels import Labels


def rule_expr_error(expr: str) -> str | None:
    """What is wrong with a LogQL rule expression, or None."""
    try:
        node = parse(expr)
    except LogsError as e:
        return f"could not parse LogQL expression: {e}"
    if isinstance(node, logql_ast.LogSelector):
        return (
            "a rule needs a LogQL metric query, not a log query: wrap it, e.g. "
            f"sum(count_over_time({expr} [5m])) > 0"
        )
    return None


def instant_vector(engine: LogQLEngine, expr: str, t_ms: int) -> list[tuple[Labels, float]]:
    """The metric query's samples at ``t_ms`` (a number becomes one sample without labels)."""
    res = engine.query_instant(expr, t_ms * 1_000_000)
    if isinstance(res, ScalarResult):
        return [(Labels(), res.value)]
    assert isinstance(res, MatrixResult)
    return [
        (Labels(key), float(row[0]))
        for key, row in zip(res.labels, res.values, strict=True)
        if row[0] == row[0]
    ]
