"""Check an SLO against the stored data before accepting it.

An SLO whose metric is misspelt, or whose ``job`` label does not match any target, would
otherwise produce no data and never alert: a silent flat line where the team believes it
has a safety net.  Each series selector of the SLI is looked up in the store:

* the metric must have series (else: nobody exposes it);
* every label a matcher names must exist on that metric (else: the labels it does have);
* the selectors that count *all* events (the total, the gauge, the histogram bucket's ``le``)
  must match series (else: the values the label does have).  Selectors of the *errors* may
  match nothing: a service that has not failed yet has no ``status="500"`` series.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from guardia.model import Labels, Matcher
from guardia.model.labels import METRIC_NAME
from guardia.promql import parse
from guardia.promql.plan import Node, VectorSelector
from guardia.slo.period import HOUR_MS
from guardia.slo.spec import SLO

LOOKBACK_MS = 24 * HOUR_MS
_SHOW = 8  # label values listed in a message


def selectors(expr: str) -> Iterator[VectorSelector]:
    stack: list[Any] = [parse(expr)]
    while stack:
        n = stack.pop()
        if isinstance(n, VectorSelector):
            yield n
        elif isinstance(n, Node) and dataclasses.is_dataclass(n):
            for f in dataclasses.fields(n):
                v = getattr(n, f.name)
                if isinstance(v, Node):
                    stack.append(v)
                elif isinstance(v, tuple):
                    stack.extend(x for x in v if isinstance(x, Node))


def _name(sel: VectorSelector) -> str | None:
    if sel.name:
        return sel.name
    for m in sel.matchers:
        if m.name == METRIC_NAME and m.type.name == "EQUAL":
            return m.value
    return None


def _bucket_order(le: str) -> float:
    try:
        return float(le)
    except ValueError:
        return float("inf")


def _values(values: list[str]) -> str:
    shown = ", ".join(repr(v) for v in values[:_SHOW])
    return shown + (f" and {len(values) - _SHOW} more" if len(values) > _SHOW else "")


def check_selector(q: Any, sel: VectorSelector, strict: bool) -> list[str]:
    name = _name(sel)
    if name is None:
        return []  # {__name__=~"..."}: nothing specific to check
    name_m = Matcher.equal(METRIC_NAME, name)
    series = q.series([name_m])
    where = sel.text.removesuffix("{}") or name
    if not series:
        return [f"{where}: no series named {name} in the last {LOOKBACK_MS // HOUR_MS}h; nobody "
                "exposes it (check the metric name and that its target is scraped)"]
    problems = []
    have = sorted({k for ls in series for k, _ in ls if k != METRIC_NAME})
    for m in sel.matchers:
        if m.name == METRIC_NAME or m.matches(""):
            continue
        if m.name not in have:
            problems.append(f"{where}: {name} has no label {m.name!r} (its labels: "
                            f"{', '.join(have) or 'none'})")
            continue
        if (strict or m.name == "le") and not any(m.matches(ls.get(m.name)) for ls in series):
            seen = sorted({ls.get(m.name) for ls in series} - {""},
                          key=_bucket_order if m.name == "le" else None)
            problems.append(f"{where}: no {name} series has {m}; {m.name} is {_values(seen)}")
    together = [name_m, *[m for m in sel.matchers if m.name != METRIC_NAME]]
    if not problems and strict and not q.series(together):
        problems.append(f"{where}: no series matches all of its matchers together")
    return problems


class RemoteSeries:
    """The ``querier`` ``check_slo`` reads, over a remote engine's ``/api/v1/series`` (an SLO
    whose ``source`` names a ``remote_read`` entry): the same checks, on that engine's data."""

    def __init__(self, client: Any) -> None:
        self.client = client  # a storage.remote.PromQLAPIClient
        self._range = (0, 0)

    def querier(self, mint: int, maxt: int) -> RemoteSeries:
        self._range = (mint, maxt)
        return self

    def series(self, matchers: list[Matcher]) -> list[Labels]:
        sel = "{" + ",".join(str(m) for m in matchers) + "}"
        lo, hi = self._range
        data = self.client.call("/api/v1/series", [("match[]", sel), ("start", f"{lo / 1000:.3f}"),
                                                    ("end", f"{hi / 1000:.3f}")])
        return [Labels(d) for d in data or []]

    def close(self) -> None:
        pass


def check_slo(slo: SLO, queryable: Any, now_ms: int) -> list[str]:
    """What in the data makes ``slo`` unusable ([] when every selector finds its series)."""
    ind = slo.indicator
    w = 300_000
    exprs = [(ind.error_ratio_expr(w), True)] if ind.raw else [
        (ind.total_expr(w), True), (ind.errors_expr(w), False)]
    q = queryable.querier(now_ms - LOOKBACK_MS, now_ms)
    problems: list[str] = []
    try:
        seen: set[tuple[str, bool]] = set()
        for expr, strict in exprs:
            for sel in selectors(expr):
                key = (sel.text or str(sel.matchers), strict)
                if key in seen or (sel.text or str(sel.matchers), True) in seen:
                    continue
                seen.add(key)
                problems.extend(check_selector(q, sel, strict))
    finally:
        q.close()
    return list(dict.fromkeys(problems))
