"""``/api/v1/query_exemplars``: the exemplars of the series a PromQL expression selects.

As Prometheus answers it: every vector selector of the expression is one set of matchers
(``parser.ExtractSelectors``), exemplars of any series one of them selects within
``[start, end]`` are returned per series, series in label order, as
``{"seriesLabels": {...}, "exemplars": [{"labels": {...}, "value": "6", "timestamp": 1600096945.479}]}``;
an expression without a selector gives no data (the endpoint answers 204, as Prometheus).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from guardia.model import Matcher
from guardia.promql import plan
from guardia.promql.parse import parse
from guardia.storage.exemplars import ExemplarStore
from guardia.web.format import fmt_sample_value, fmt_ts


def selectors(node: Any) -> list[tuple[Matcher, ...]]:
    """Every vector selector's matchers, in the order they appear."""
    out: list[tuple[Matcher, ...]] = []

    def walk(n: Any) -> None:
        if isinstance(n, plan.VectorSelector):
            ms = n.matchers
            if n.name and not any(m.name == "__name__" for m in ms):
                ms = (Matcher.equal("__name__", n.name), *ms)
            out.append(ms)
            return
        if isinstance(n, tuple | list):
            for x in n:
                walk(x)
        elif dataclasses.is_dataclass(n) and not isinstance(n, type):
            for f in dataclasses.fields(n):
                walk(getattr(n, f.name))

    walk(node)
    return out


def query(store: ExemplarStore | None, expr: str, start_ms: int, end_ms: int) -> list[dict[str, Any]] | None:
    """The answer's ``data``; ``parse`` raises the API's bad-data error for invalid PromQL."""
    sels = selectors(parse(expr))
    if not sels:
        return None
    if store is None:
        return []
    return [
        {
            "seriesLabels": dict(s.series),
            "exemplars": [
                {"labels": dict(e.labels), "value": fmt_sample_value(e.value),
                 "timestamp": fmt_ts(e.timestamp_ms)}
                for e in s.exemplars
            ],
        }
        for s in store.select(start_ms, end_ms, sels)
    ]
