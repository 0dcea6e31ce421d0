"""LogQL syntax tree: log selectors with pipelines, range and vector aggregations, binary ops."""

from __future__ import annotations

from dataclasses import dataclass, field

from guardia.model.matchers import Matcher

# ---------------------------------------------------------------- pipeline stages


@dataclass(frozen=True)
class LineFilter:
    """``|= "a" or "b"``: ``op`` is one of ``|=``, ``!=``, ``|~``, ``!~``; ``values`` are or-ed."""

    op: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Parser:
    """``json``, ``logfmt``, ``regexp "re"``, ``pattern "p"``, ``unpack``; ``params`` are the
    ``label="expression"`` extractions of json/logfmt, ``flags`` logfmt's ``--strict``/``--keep-empty``."""

    kind: str
    arg: str = ""
    params: tuple[tuple[str, str], ...] = ()
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelCmp:
    """``name op value``: string ops ``= != =~ !~``; numeric ``== != > >= < <=`` against a
    number, a duration (seconds) or a byte size."""

    name: str
    op: str
    value: str | float
    kind: str = "string"  # string, number, duration, bytes


@dataclass(frozen=True)
class LabelBool:
    op: str  # and, or
    left: LabelExpr
    right: LabelExpr


LabelExpr = LabelCmp | LabelBool


@dataclass(frozen=True)
class LabelFilter:
    expr: LabelExpr


@dataclass(frozen=True)
class LineFormat:
    template: str


@dataclass(frozen=True)
class LabelFormat:
    """``dst=src`` renames (``is_template`` False) or ``dst="{{...}}"`` templates."""

    items: tuple[tuple[str, str, bool], ...]


@dataclass(frozen=True)
class DropKeep:
    """``drop a, b="v"`` / ``keep a, b="v"``: names, or name + matcher."""

    keep: bool
    items: tuple[tuple[str, Matcher | None], ...]


@dataclass(frozen=True)
class Decolorize:
    pass


Stage = LineFilter | Parser | LabelFilter | LineFormat | LabelFormat | DropKeep | Decolorize


@dataclass(frozen=True)
class LogSelector:
    matchers: tuple[Matcher, ...]
    stages: tuple[Stage, ...] = ()


# ---------------------------------------------------------------- metric expressions


@dataclass(frozen=True)
class Unwrap:
    label: str
    conversion: str = ""  # "", duration, duration_seconds, bytes
    post_filters: tuple[LabelFilter, ...] = ()


@dataclass(frozen=True)
class RangeAgg:
    op: str
    selector: LogSelector
    range_ns: int
    offset_ns: int = 0
    unwrap: Unwrap | None = None
    param: float | None = None
    grouping: Grouping | None = None


@dataclass(frozen=True)
class Grouping:
    without: bool
    labels: tuple[str, ...]


@dataclass(frozen=True)
class VectorAgg:
    op: str
    expr: MetricExpr
    grouping: Grouping | None = None
    param: float | None = None


@dataclass(frozen=True)
class VectorMatching:
    on: bool = False
    labels: tuple[str, ...] = ()
    card: str = "one-to-one"  # one-to-one, group_left, group_right
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class BinOp:
    op: str
    lhs: MetricExpr
    rhs: MetricExpr
    bool_mod: bool = False
    matching: VectorMatching = field(default_factory=VectorMatching)


@dataclass(frozen=True)
class NumberLit:
    value: float


@dataclass(frozen=True)
class LabelReplace:
    expr: MetricExpr
    dst: str
    replacement: str
    src: str
    regex: str


@dataclass(frozen=True)
class VectorLit:
    value: float


MetricExpr = RangeAgg | VectorAgg | BinOp | NumberLit | LabelReplace | VectorLit
Expr = LogSelector | MetricExpr
