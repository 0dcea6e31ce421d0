"""What a rule's PromQL expression reads and produces, found without running it.

Checks need the same few facts about an expression: its selectors (and which function and
range each feeds), whether an alert's condition compares anything, and which labels its
result can carry (so a template that prints ``$labels.instance`` after ``sum(...)`` is known
to print nothing).  They are computed here, once, on guardia's own parsed plan.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from guardia.model import METRIC_NAME, MatchType
from guardia.promql import parse as parse_promql
from guardia.promql.plan import (
    Aggregate,
    Binary,
    Call,
    MatrixSelector,
    Node,
    NumberLiteral,
    Paren,
    StringLiteral,
    Subquery,
    Unary,
    VectorSelector,
    value_type,
)

COMPARISON = frozenset({"==", "!=", ">", "<", ">=", "<="})
SET_OPS = frozenset({"and", "or", "unless"})
ABSENT = frozenset({"absent", "absent_over_time"})
# functions that need two samples in their range, and those that expect counters
TWO_SAMPLES = frozenset({"rate", "irate", "increase", "delta", "idelta", "deriv", "predict_linear"})
COUNTER_FUNCS = frozenset({"rate", "irate", "increase"})


@dataclass(frozen=True, slots=True)
class SelectorUse:
    """A selector, the function it feeds (``""`` when none) and its range (0 for instant)."""

    selector: VectorSelector
    func: str
    range_ms: int
    in_absent: bool

    @property
    def name(self) -> str | None:
        if self.selector.name:
            return self.selector.name
        for m in self.selector.matchers:
            if m.name == METRIC_NAME and m.type is MatchType.EQUAL:
                return m.value
        return None

    def label_matchers(self) -> list[Any]:
        return [m for m in self.selector.matchers if m.name != METRIC_NAME]

    def equal(self, label: str) -> str | None:
        for m in self.selector.matchers:
            if m.name == label and m.type is MatchType.EQUAL:
                return m.value
        return None

    def text(self) -> str:
        others = self.label_matchers()
        inner = ",".join(str(m) for m in others)
        return f"{self.name or ''}{{{inner}}}" if others or not self.name else self.name


def parse(expr: str) -> Node | None:
    try:
        return parse_promql(expr)
    except Exception:  # a rule that does not parse is check config's error, not an audit finding
        return None


def selector_uses(node: Node) -> list[SelectorUse]:
    out: list[SelectorUse] = []

    def walk(n: Any, func: str, rng: int, absent: bool) -> None:
        if isinstance(n, VectorSelector):
            out.append(SelectorUse(n, func, rng, absent))
        elif isinstance(n, MatrixSelector):
            out.append(SelectorUse(n.selector, func, n.range_ms, absent))
        elif isinstance(n, Call):
            for a in n.args:
                walk(a, n.func, 0, absent or n.func in ABSENT)
        elif isinstance(n, Aggregate):
            walk(n.expr, "", 0, absent)
            if n.param is not None:
                walk(n.param, "", 0, absent)
        elif isinstance(n, Subquery):
            walk(n.expr, "", 0, absent)
        elif dataclasses.is_dataclass(n) and not isinstance(n, type):
            for f in dataclasses.fields(n):
                walk(getattr(n, f.name), "", 0, absent)
        elif isinstance(n, (list, tuple)):
            for x in n:
                walk(x, func, rng, absent)

    walk(node, "", 0, False)
    return out


def has_comparison(node: Node) -> bool:
    """Whether an alert's condition filters (pint's alerts/comparison): without a comparison
    every series the query returns is an alert, whatever its value."""
    if isinstance(node, Paren):
        return has_comparison(node.expr)
    if isinstance(node, Binary):
        if node.op in COMPARISON and not node.return_bool:
            return True
        if node.op in ("and", "unless"):
            return has_comparison(node.lhs) or has_comparison(node.rhs)
        if node.op == "or":
            return has_comparison(node.lhs) and has_comparison(node.rhs)
        return False
    if isinstance(node, Call):
        if node.func in ABSENT:
            return True
        return any(has_comparison(a) for a in node.args if isinstance(a, Node))
    if isinstance(node, Aggregate):
        return has_comparison(node.expr)
    return False


def calls(node: Node, names: frozenset[str]) -> Iterator[Call]:
    """Every call of one of ``names`` in the expression."""
    stack: list[Any] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Call) and n.func in names:
            yield n
        if dataclasses.is_dataclass(n) and not isinstance(n, type):
            stack.extend(getattr(n, f.name) for f in dataclasses.fields(n))
        elif isinstance(n, (list, tuple)):
            stack.extend(n)


def binaries(node: Node) -> Iterator[Binary]:
    stack: list[Any] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Binary):
            yield n
        if dataclasses.is_dataclass(n) and not isinstance(n, type):
            stack.extend(getattr(n, f.name) for f in dataclasses.fields(n))
        elif isinstance(n, (list, tuple)):
            stack.extend(n)


# -- the labels a result can carry ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelSet:
    """``names``: exactly the labels the result may carry (``None``: whatever the series carry,
    except ``dropped``)."""

    names: frozenset[str] | None
    dropped: frozenset[str] = frozenset()

    def may_have(self, label: str) -> bool:
        if self.names is not None:
            return label in self.names
        return label not in self.dropped

    def without(self, labels: frozenset[str]) -> LabelSet:
        if self.names is not None:
            return LabelSet(self.names - labels)
        return LabelSet(None, self.dropped | labels)

    def plus(self, labels: frozenset[str]) -> LabelSet:
        if self.names is not None:
            return LabelSet(self.names | labels)
        return LabelSet(None, self.dropped - labels)

    def describe(self) -> str:
        if self.names is None:
            return "the labels of the series it reads" + (
                f" except {', '.join(sorted(self.dropped))}" if self.dropped else "")
        return "only " + ", ".join(sorted(self.names)) if self.names else "no labels at all"


ANY = LabelSet(None)
NONE = LabelSet(frozenset())
_NAME = frozenset({METRIC_NAME})


def result_labels(node: Node) -> LabelSet:
    if isinstance(node, (NumberLiteral, StringLiteral)):
        return NONE
    if isinstance(node, VectorSelector):
        return ANY
    if isinstance(node, MatrixSelector):
        return ANY
    if isinstance(node, (Paren, Unary)):
        return result_labels(node.expr)
    if isinstance(node, Subquery):
        return result_labels(node.expr)
    if isinstance(node, Aggregate):
        inner = result_labels(node.expr)
        if node.op in ("topk", "bottomk", "limitk"):
            return inner
        if node.without:
            out = inner.without(frozenset(node.grouping) | _NAME)
        else:
            out = LabelSet(frozenset(node.grouping))
        if node.op == "count_values" and isinstance(node.param, StringLiteral):
            out = out.plus(frozenset({node.param.value}))
        return out
    if isinstance(node, Call):
        return _call_labels(node)
    if isinstance(node, Binary):
        return _binary_labels(node)
    return ANY


def _call_labels(node: Call) -> LabelSet:
    if node.func in ABSENT:
        sel = node.args[0] if node.args else None
        if isinstance(sel, MatrixSelector):
            sel = sel.selector
        if isinstance(sel, VectorSelector):
            return LabelSet(frozenset(m.name for m in sel.matchers
                                      if m.type is MatchType.EQUAL and m.name != METRIC_NAME))
        return NONE
    if node.func in ("vector", "time", "scalar", "pi"):
        return NONE
    vec = next((a for a in node.args if isinstance(a, Node) and value_type(a) in ("vector", "matrix")), None)
    inner = result_labels(vec) if vec is not None else NONE
    if node.func in ("label_replace", "label_join") and len(node.args) > 1 \
            and isinstance(node.args[1], StringLiteral):
        return inner.plus(frozenset({node.args[1].value}))
    if node.func == "histogram_quantile":
        return inner.without(frozenset({"le"}))
    return inner


def _binary_labels(node: Binary) -> LabelSet:
    lt, rt = value_type(node.lhs), value_type(node.rhs)
    lhs, rhs = result_labels(node.lhs), result_labels(node.rhs)
    if lt == "scalar":
        return rhs
    if rt == "scalar":
        return lhs
    if node.op == "or":
        if lhs.names is None or rhs.names is None:
            return LabelSet(None, lhs.dropped & rhs.dropped)
        return LabelSet(lhs.names | rhs.names)
    if node.op in SET_OPS:
        return lhs
    m = node.matching
    if m is None or m.card == "one-to-one":
        if m is not None and m.on:
            return LabelSet(frozenset(m.labels))
        if m is not None:
            return lhs.without(frozenset(m.labels))
        return lhs
    include = frozenset(m.include)
    return (lhs if m.card == "many-to-one" else rhs).plus(include)


# -- templates -------------------------------------------------------------------------------

_LABEL_REFS = (
    re.compile(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)"),
    re.compile(r"\.Labels\.([A-Za-z_][A-Za-z0-9_]*)"),
    re.compile(r"index\s+\$labels\s+\"([^\"]+)\""),
)
_VALUE = re.compile(r"\$value\b|\.Value\b")


def template_labels(text: str) -> set[str]:
    out: set[str] = set()
    for rx in _LABEL_REFS:
        out.update(rx.findall(text))
    return out


def uses_value(text: str) -> bool:
    return "{{" in text and bool(_VALUE.search(text))
