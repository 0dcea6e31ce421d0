"""Per-line pipeline stages: parsers, label filters, line_format, label_format, drop/keep.

Each stage is compiled once into a function ``(ts, line, labels) -> line | None`` that may
change ``labels`` (a dict) in place; ``None`` drops the line.  A parser that fails on a line
sets ``__error__`` (``JSONParserErr``, ``LogfmtParserErr``, ...) and ``__error_details__``
and keeps the line, so ``| __error__=""`` can drop it, as in Loki.  Extracted labels that
collide with stream labels get an ``_extracted`` suffix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import orjson

from guardia.logs.errors import QueryError
from guardia.logs.logql import ast
from guardia.logs.logql.linefilter import line_predicate
from guardia.logs.logql.patterns import compile_pattern, match_pattern
from guardia.logs.logql.templates import compile_template
from guardia.logs.logql.units import duration_seconds, parse_bytes
from guardia.model.re2syntax import translate

StageFn = Callable[[int, str, dict[str, str]], "str | None"]
ERROR = "__error__"
ERROR_DETAILS = "__error_details__"
_SANITIZE = re.compile(r"[^a-zA-Z0-9_]")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def sanitize(key: str) -> str:
    k = _SANITIZE.sub("_", key)
    if k and k[0].isdigit():
        k = "_" + k
    return k


def _put(labels: dict[str, str], stream: frozenset[str], key: str, value: str) -> None:
    if key in stream:
        key += "_extracted"
    labels[key] = value


def _scalar(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if not v.is_integer() else str(int(v))
    if v is None:
        return ""
    return None


def _flatten(obj: dict[str, Any], prefix: str, out: list[tuple[str, str]]) -> None:
    for k, v in obj.items():
        key = prefix + sanitize(k)
        if isinstance(v, dict):
            _flatten(v, key + "_", out)
        elif isinstance(v, list):
            continue
        else:
            s = _scalar(v)
            if s is not None:
                out.append((key, s))


def json_fields(line: str) -> list[tuple[str, str]] | None:
    """The fields ``| json`` extracts from a line (nested keys joined by ``_``); None when the
    line is not a JSON object."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    out: list[tuple[str, str]] = []
    _flatten(doc, "", out)
    return out


_JSON_PATH = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_\-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


def _json_path(expr: str) -> list[str | int]:
    out: list[str | int] = []
    pos = 0
    while pos < len(expr):
        m = _JSON_PATH.match(expr, pos)
        if not m or m.end() == pos:
            raise QueryError(
                f'invalid json expression {expr!r}: use e.g. request.method, servers[0] or ["key with space"]'
            )
        if m.group(1) is not None:
            out.append(m.group(1))
        elif m.group(2) is not None:
            out.append(int(m.group(2)))
        else:
            out.append(m.group(3))
        pos = m.end()
    return out


def _step(cur: Any, step: str | int) -> Any:
    if isinstance(step, int):
        return cur[step] if isinstance(cur, list) and step < len(cur) else None
    return cur.get(step) if isinstance(cur, dict) else None


def _json_stage(p: ast.Parser, stream: frozenset[str]) -> StageFn:
    paths = [(name, _json_path(expr)) for name, expr in p.params]

    def run(ts: int, line: str, labels: dict[str, str]) -> str | None:
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            labels[ERROR] = "JSONParserErr"
            labels[ERROR_DETAILS] = str(e)
            return line
        if not isinstance(doc, dict):
            labels[ERROR] = "JSONParserErr"
            labels[ERROR_DETAILS] = "Value looks like object, but can't find closing '}' symbol"
            return line
        if paths:
            for name, path in paths:
                cur: Any = doc
                for step in path:
                    cur = _step(cur, step)
                    if cur is None:
                        break
                if cur is None:
                    _put(labels, stream, name, "")
                    continue
                s = _scalar(cur)
                _put(labels, stream, name, s if s is not None else orjson.dumps(cur).decode())
            return line
        flat: list[tuple[str, str]] = []
        _flatten(doc, "", flat)
        for k, v in flat:
            _put(labels, stream, k, v)
        return line

    return run


_LOGFMT = re.compile(r'\s*([^\s=]+)(?:=("(?:[^"\\]|\\.)*"|[^\s"]*))?')


def parse_logfmt(line: str) -> tuple[list[tuple[str, str]], str | None]:
    """(pairs, error) of a logfmt line."""
    out: list[tuple[str, str]] = []
    pos = 0
    n = len(line)
    while pos < n:
        m = _LOGFMT.match(line, pos)
        if not m or m.end() == pos:
            if line[pos:].strip():
                return out, f"logfmt syntax error at pos {pos + 1}"
            break
        key, val = m.group(1), m.group(2)
        if val is None:
            val = ""
        elif val.startswith('"'):
            try:
                val = orjson.loads(val)
            except orjson.JSONDecodeError:
                val = val[1:-1]
        out.append((key, val))
        pos = m.end()
        if pos < n and line[pos] == '"':
            return out, f"logfmt syntax error at pos {pos + 1}: unexpected '\"'"
    return out, None


def _logfmt_stage(p: ast.Parser, stream: frozenset[str]) -> StageFn:
    strict = "strict" in p.flags
    keep_empty = "keep-empty" in p.flags
    wanted = {expr: name for name, expr in p.params}

    def run(ts: int, line: str, labels: dict[str, str]) -> str | None:
        pairs, err = parse_logfmt(line)
        if err is not None and strict:
            labels[ERROR] = "LogfmtParserErr"
            labels[ERROR_DETAILS] = err
            return line
        for k, v in pairs:
            if wanted:
                if k in wanted:
                    _put(labels, stream, wanted[k], v)
                continue
            if v == "" and not keep_empty:
                continue
            _put(labels, stream, sanitize(k), v)
        if err is not None and not pairs:
            labels[ERROR] = "LogfmtParserErr"
            labels[ERROR_DETAILS] = err
        return line

    return run


def _regexp_stage(p: ast.Parser, stream: frozenset[str]) -> StageFn:
    rx = re.compile(translate(p.arg))
    names = list(rx.groupindex)

    def run(ts: int, line: str, labels: dict[str, str]) -> str | None:
        m = rx.search(line)
        if m is None:
            return line
        for name in names:
            v = m.group(name)
            if v is not None:
                _put(labels, stream, name, v)
        return line

    return run


def _pattern_stage(p: ast.Parser, stream: frozenset[str]) -> StageFn:
    parts = compile_pattern(p.arg)

    def run(ts: int, line: str, labels: dict[str, str]) -> str | None:
        got = match_pattern(parts, line)
        if got:
            for k, v in got:
                _put(labels, stream, k, v)
        return line

    return run


def _unpack_stage(p: ast.Parser, stream: frozenset[str]) -> StageFn:
    def run(ts: int, line: str, labels: dict[str, str]) -> str | None:
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            labels[ERROR] = "JSONParserErr"
            labels[ERROR_DETAILS] = str(e)
            return line
        if not isinstance(doc, dict):
            labels[ERROR] = "JSONParserErr"
            return line
        entry = line
        for k, v in doc.items():
            if k == "_entry" and isinstance(v, str):
                entry = v
            elif isinstance(v, str):
                _put(labels, stream, sanitize(k), v)
        return entry

    return run


_CMP: dict[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def label_predicate(e: ast.LabelExpr) -> Callable[[dict[str, str]], bool]:
    """Label filter; a value that does not convert sets ``__error__=LabelFilterErr`` and passes."""
    if isinstance(e, ast.LabelBool):
        left, right = label_predicate(e.left), label_predicate(e.right)
        if e.op == "and":
            return lambda labels: left(labels) and right(labels)
        return lambda labels: left(labels) or right(labels)
    name = e.name
    if e.kind == "string":
        from guardia.model.matchers import Matcher

        m = Matcher.parse(name, e.op, str(e.value))
        return lambda labels: m.matches(labels.get(name, ""))
    cmp = _CMP[e.op]
    want = float(e.value)
    conv: Callable[[str], float]
    if e.kind == "duration":
        conv = duration_seconds
    elif e.kind == "bytes":
        conv = parse_bytes
    else:
        conv = float

    def run(labels: dict[str, str]) -> bool:
        v = labels.get(name)
        if v is None:
            return False
        try:
            got = conv(v)
        except ValueError:
            labels[ERROR] = "LabelFilterErr"
            labels[ERROR_DETAILS] = f"{v!r} is not a {e.kind}"
            return True
        return cmp(got, want)

    return run


def compile_stage(st: ast.Stage, stream: frozenset[str]) -> StageFn:
    if isinstance(st, ast.Parser):
        return {
            "json": _json_stage,
            "logfmt": _logfmt_stage,
            "regexp": _regexp_stage,
            "pattern": _pattern_stage,
            "unpack": _unpack_stage,
        }[st.kind](st, stream)
    if isinstance(st, ast.LineFilter):
        pred = line_predicate(st)
        return lambda ts, line, labels: line if pred(line) else None
    if isinstance(st, ast.LabelFilter):
        lp = label_predicate(st.expr)
        return lambda ts, line, labels: line if lp(labels) else None
    if isinstance(st, ast.LineFormat):
        render = compile_template(st.template)

        def fmt(ts: int, line: str, labels: dict[str, str]) -> str | None:
            return render(ts, line, labels)

        return fmt
    if isinstance(st, ast.LabelFormat):
        renders = {dst: compile_template(src) for dst, src, is_t in st.items if is_t}
        renames = [(dst, src) for dst, src, is_t in st.items if not is_t]

        def lfmt(ts: int, line: str, labels: dict[str, str]) -> str | None:
            updates: dict[str, str] = {dst: r(ts, line, labels) for dst, r in renders.items()}
            renamed: list[str] = []
            for dst, src in renames:
                updates[dst] = labels.get(src, "")
                if src != dst:
                    renamed.append(src)
            for r in renamed:
                labels.pop(r, None)
            labels.update(updates)
            return line

        return lfmt
    if isinstance(st, ast.DropKeep):
        if st.keep:
            names = {n for n, m in st.items if m is None}
            matched = [(n, m) for n, m in st.items if m is not None]

            def keep(ts: int, line: str, labels: dict[str, str]) -> str | None:
                for k in list(labels):
                    if k in names:
                        continue
                    if any(k == n and m.matches(labels[k]) for n, m in matched):
                        continue
                    del labels[k]
                return line

            return keep

        def drop(ts: int, line: str, labels: dict[str, str]) -> str | None:
            for n, m in st.items:
                if n in labels and (m is None or m.matches(labels[n])):
                    del labels[n]
            return line

        return drop
    if isinstance(st, ast.Decolorize):
        return lambda ts, line, labels: _ANSI.sub("", line)
    raise QueryError(f"unsupported pipeline stage {st!r}")


class Pipeline:
    """The per-line part of a log selector's stages, compiled for one stream's labels."""

    def __init__(self, stages: tuple[ast.Stage, ...], stream_labels: frozenset[str]) -> None:
        self.fns = [compile_stage(s, stream_labels) for s in stages]

    def run(self, ts: int, line: str, labels: dict[str, str]) -> str | None:
        cur = line
        for fn in self.fns:
            out = fn(ts, cur, labels)
            if out is None:
                return None
            cur = out
        return cur


def unwrap_value(labels: dict[str, str], u: ast.Unwrap) -> float | None:
    """The unwrapped sample value; ``None`` (with ``__error__=SampleExtractionErr``) if it fails."""
    v = labels.get(u.label)
    if v is None:
        labels[ERROR] = "SampleExtractionErr"
        return None
    try:
        if u.conversion in ("duration", "duration_seconds"):
            return duration_seconds(v)
        if u.conversion == "bytes":
            return parse_bytes(v)
        f = float(v.strip())
        if math.isnan(f) and v.strip().lower() != "nan":
            raise ValueError(v)
        return f
    except ValueError:
        labels[ERROR] = "SampleExtractionErr"
        labels[ERROR_DETAILS] = f"cannot convert {v!r} to a number"
        return None
