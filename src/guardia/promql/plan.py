"""guardia's own evaluation plan: a small typed tree the evaluator walks.

The parser's AST objects live in Rust and are awkward to inspect (durations as timedelta,
``@`` as datetime, enum wrappers), so ``parse`` converts them once into these plain
dataclasses with millisecond integers; evaluation never touches the parser again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from guardia.model import Matcher

ValueType = Literal["vector", "matrix", "scalar", "string"]
# ``@`` modifier: a fixed timestamp in ms, or the query's start / end.
AtSpec = int | Literal["start", "end"] | None


@dataclass(frozen=True, slots=True)
class Node:
    pass


@dataclass(frozen=True, slots=True)
class NumberLiteral(Node):
    value: float


@dataclass(frozen=True, slots=True)
class StringLiteral(Node):
    value: str


@dataclass(frozen=True, slots=True)
class VectorSelector(Node):
    name: str | None
    matchers: tuple[Matcher, ...]
    offset_ms: int = 0
    at: AtSpec = None
    text: str = ""


@dataclass(frozen=True, slots=True)
class MatrixSelector(Node):
    selector: VectorSelector
    range_ms: int


@dataclass(frozen=True, slots=True)
class Subquery(Node):
    expr: Node
    range_ms: int
    step_ms: int  # 0: the engine's default resolution
    offset_ms: int = 0
    at: AtSpec = None


@dataclass(frozen=True, slots=True)
class Paren(Node):
    expr: Node


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str  # "-" or "+"
    expr: Node


Cardinality = Literal["one-to-one", "many-to-one", "one-to-many", "many-to-many"]


@dataclass(frozen=True, slots=True)
class VectorMatching:
    card: Cardinality
    on: bool  # True: on(labels); False: ignoring(labels)
    labels: tuple[str, ...]
    include: tuple[str, ...] = ()  # group_left/group_right extra labels


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str
    lhs: Node
    rhs: Node
    return_bool: bool = False
    matching: VectorMatching | None = None


@dataclass(frozen=True, slots=True)
class Aggregate(Node):
    op: str
    expr: Node
    param: Node | None = None
    grouping: tuple[str, ...] = ()
    without: bool = False
    has_grouping: bool = False


@dataclass(frozen=True, slots=True)
class Call(Node):
    func: str
    args: tuple[Node, ...] = field(default_factory=tuple)


def value_type(node: Node) -> ValueType:
    """The static type of an expression, as Prometheus's type checker sees it."""
    if isinstance(node, NumberLiteral):
        return "scalar"
    if isinstance(node, StringLiteral):
        return "string"
    if isinstance(node, VectorSelector):
        return "vector"
    if isinstance(node, MatrixSelector | Subquery):
        return "matrix"
    if isinstance(node, Paren | Unary):
        return value_type(node.expr)
    if isinstance(node, Binary):
        if value_type(node.lhs) == "scalar" and value_type(node.rhs) == "scalar":
            return "scalar"
        return "vector"
    if isinstance(node, Aggregate):
        return "vector"
    if isinstance(node, Call):
        return return_type(node.func)
    raise TypeError(f"unknown plan node {node!r}")


# Functions whose result is a scalar; every other function returns an instant vector.
SCALAR_FUNCS = frozenset({"time", "pi", "scalar", "step", "range", "start", "end", "min_of", "max_of"})


def return_type(name: str) -> ValueType:
    return "scalar" if name in SCALAR_FUNCS else "vector"
