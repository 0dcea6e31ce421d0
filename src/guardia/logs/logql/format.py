"""A parsed LogQL query written back in one canonical spelling (``/loki/api/v1/format_query``).

Spacing is normalised (``{foo=   "bar"}`` -> ``{foo="bar"}``), strings are double-quoted with
Go escapes, durations are spelt as Prometheus spells them and binary operands that are
themselves operations are parenthesised, so the text parses back to the same query.
"""

from __future__ import annotations

import numpy as np

from guardia.logs.logql import ast
from guardia.model.durations import format_duration


def format_expr(e: ast.Expr) -> str:
    if isinstance(e, ast.LogSelector):
        return _selector(e)
    if isinstance(e, ast.RangeAgg):
        return _range(e)
    if isinstance(e, ast.VectorAgg):
        param = f"{_num(e.param)}, " if e.param is not None else ""
        return f"{e.op}{_grouping(e.grouping)}({param}{format_expr(e.expr)})"
    if isinstance(e, ast.BinOp):
        mod = " bool" if e.bool_mod else ""
        m = e.matching
        match = ""
        if m.on or m.labels:
            match = f" {'on' if m.on else 'ignoring'}({', '.join(m.labels)})"
        if m.card != "one-to-one":
            match += f" {m.card}({', '.join(m.include)})"
        return f"{_operand(e.lhs)} {e.op}{mod}{match} {_operand(e.rhs)}"
    if isinstance(e, ast.NumberLit):
        return _num(e.value)
    if isinstance(e, ast.VectorLit):
        return f"vector({_num(e.value)})"
    assert isinstance(e, ast.LabelReplace)
    args = ", ".join(_q(a) for a in (e.dst, e.replacement, e.src, e.regex))
    return f"label_replace({format_expr(e.expr)}, {args})"


def _operand(e: ast.Expr) -> str:
    text = format_expr(e)
    return f"({text})" if isinstance(e, ast.BinOp) else text


def _q(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{out}"'


def _num(v: float) -> str:
    return str(np.format_float_positional(v, trim="-"))


def _dur_ns(ns: int) -> str:
    return format_duration(ns // 1_000_000) if ns % 1_000_000 == 0 else f"{ns}ns"


def _grouping(g: ast.Grouping | None) -> str:
    if g is None:
        return ""
    return f" {'without' if g.without else 'by'} ({', '.join(g.labels)}) "


def _selector(s: ast.LogSelector) -> str:
    matchers = ", ".join(f"{m.name}{m.type.value}{_q(m.value)}" for m in s.matchers)
    return "{" + matchers + "}" + "".join(_stage(st) for st in s.stages)


def _stage(st: ast.Stage) -> str:
    if isinstance(st, ast.LineFilter):
        return f" {st.op} " + " or ".join(_q(v) for v in st.values)
    if isinstance(st, ast.Parser):
        if st.kind in ("regexp", "pattern"):
            return f" | {st.kind} {_q(st.arg)}"
        flags = "".join(f" --{f}" for f in st.flags)
        params = ", ".join(n if n == x else f"{n}={_q(x)}" for n, x in st.params)
        return f" | {st.kind}{flags}" + (f" {params}" if params else "")
    if isinstance(st, ast.LabelFilter):
        return f" | {_label_expr(st.expr, top=True)}"
    if isinstance(st, ast.LineFormat):
        return f" | line_format {_q(st.template)}"
    if isinstance(st, ast.LabelFormat):
        return " | label_format " + ", ".join(
            f"{dst}={_q(src) if tmpl else src}" for dst, src, tmpl in st.items
        )
    if isinstance(st, ast.DropKeep):
        items = ", ".join(name if m is None else f"{name}{m.type.value}{_q(m.value)}" for name, m in st.items)
        return f" | {'keep' if st.keep else 'drop'} {items}"
    assert isinstance(st, ast.Decolorize)
    return " | decolorize"


def _label_expr(e: ast.LabelExpr, top: bool = False) -> str:
    if isinstance(e, ast.LabelBool):
        text = f"{_label_expr(e.left)} {e.op} {_label_expr(e.right)}"
        return text if top else f"({text})"
    if e.kind == "string":
        assert isinstance(e.value, str)
        return f"{e.name}{e.op}{_q(e.value)}"
    v = float(e.value)
    if e.kind == "duration":
        ns = round(v * 1e9)
        value = _dur_ns(ns) if ns else "0s"
    elif e.kind == "bytes":
        value = f"{_num(v)}B"
    else:
        value = _num(v)
    return f"{e.name}{e.op}{value}"


def _range(r: ast.RangeAgg) -> str:
    param = f"{_num(r.param)}, " if r.param is not None else ""
    unwrap = ""
    if r.unwrap is not None:
        u = r.unwrap
        label = f"{u.conversion}({u.label})" if u.conversion else u.label
        unwrap = f" | unwrap {label}" + "".join(f" | {_label_expr(f.expr, top=True)}" for f in u.post_filters)
    offset = f" offset {_dur_ns(r.offset_ns)}" if r.offset_ns else ""
    grouping = _grouping(r.grouping).rstrip()
    return f"{r.op}({param}{_selector(r.selector)}{unwrap} [{_dur_ns(r.range_ns)}]{offset}){grouping}"
