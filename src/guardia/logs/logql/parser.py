"""A recursive-descent LogQL parser: errors name the column and what was expected.

Grammar as Loki documents it: a log query is a stream selector followed by pipeline stages;
a metric query wraps a log range (``selector [5m]`` or ``{...} | stages [5m]``, optionally
``| unwrap label``) in a range aggregation, then vector aggregations, binary operators with
``bool``/``on``/``ignoring``/``group_left``/``group_right``, numbers, ``vector()`` and
``label_replace()``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from guardia.logs.errors import QueryError
from guardia.logs.logql import ast
from guardia.logs.logql.patterns import compile_pattern
from guardia.logs.logql.units import duration_seconds, parse_bytes
from guardia.model.durations import DurationError, parse_duration
from guardia.model.gostrings import go_unescape
from guardia.model.labels import is_valid_label_name
from guardia.model.matchers import Matcher, MatcherError

RANGE_OPS = frozenset(
    {
        "count_over_time",
        "rate",
        "rate_counter",
        "bytes_over_time",
        "bytes_rate",
        "absent_over_time",
        "sum_over_time",
        "avg_over_time",
        "min_over_time",
        "max_over_time",
        "stddev_over_time",
        "stdvar_over_time",
        "quantile_over_time",
        "first_over_time",
        "last_over_time",
    }
)
UNWRAP_OPS = frozenset(
    {
        "sum_over_time",
        "avg_over_time",
        "min_over_time",
        "max_over_time",
        "stddev_over_time",
        "stdvar_over_time",
        "quantile_over_time",
        "first_over_time",
        "last_over_time",
        "rate_counter",
    }
)
NO_UNWRAP_OPS = frozenset({"count_over_time", "bytes_over_time", "bytes_rate", "absent_over_time"})
VECTOR_OPS = frozenset(
    {"sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk", "sort", "sort_desc"}
)
PARSERS = frozenset({"json", "logfmt", "regexp", "pattern", "unpack"})
BIN_PREC = {
    "or": 1,
    "and": 2,
    "unless": 2,
    "==": 3,
    "!=": 3,
    ">": 3,
    ">=": 3,
    "<": 3,
    "<=": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
    "^": 6,
}
COMPARISONS = frozenset({"==", "!=", ">", ">=", "<", "<="})

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)
  | (?P<dur>(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d|w|y))+(?![A-Za-z_]))
  | (?P<bytes>\d+(?:\.\d+)?(?:[KMGTPE]i?B|B|[kmgtpe]i?b|b)(?![A-Za-z_]))
  | (?P<num>(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|[Nn]a[Nn]|[Ii]nf))
  | (?P<op>\|=|\|~|\|>|!=|!~|!>|=~|==|>=|<=|--|[{}()\[\],|=<>+\-*/%^])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Tok:
    kind: str
    text: str
    pos: int


def tokenize(text: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    while pos < len(text):
        if text.startswith("#", pos):
            nl = text.find("\n", pos)
            pos = len(text) if nl < 0 else nl + 1
            continue
        m = _TOKEN.match(text, pos)
        if not m:
            raise QueryError(f"parse error at line 1, col {pos + 1}: unexpected character {text[pos]!r}")
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append(Tok(kind, m.group(), pos))
        pos = m.end()
    out.append(Tok("eof", "", len(text)))
    return out


def unquote(tok: Tok) -> str:
    if tok.text.startswith("`"):
        return tok.text[1:-1]
    try:
        return go_unescape(tok.text[1:-1])
    except ValueError as e:
        raise QueryError(f"parse error at col {tok.pos + 1}: invalid string {tok.text}: {e}") from None


class _P:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def peek(self, n: int = 1) -> Tok:
        return self.toks[min(self.i + n, len(self.toks) - 1)]

    def next(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def fail(self, msg: str, tok: Tok | None = None) -> QueryError:
        t = tok or self.tok
        got = t.text or "end of query"
        return QueryError(f"parse error at line 1, col {t.pos + 1}: {msg}, got {got!r}")

    def expect(self, text: str) -> Tok:
        if self.tok.text != text:
            raise self.fail(f"expected {text!r}")
        return self.next()

    def is_(self, *texts: str) -> bool:
        return self.tok.text in texts and self.tok.kind in ("op", "ident")

    # ------------------------------------------------------------ top level

    def parse(self) -> ast.Expr:
        e = self.expr(0)
        if self.tok.kind != "eof":
            raise self.fail("unexpected token after the end of the query")
        return e

    def expr(self, min_prec: int) -> ast.Expr:
        lhs = self.unary()
        while True:
            op = self.tok.text
            if self.tok.kind not in ("op", "ident") or op not in BIN_PREC or BIN_PREC[op] < min_prec:
                return lhs
            self.next()
            bool_mod = False
            if self.is_("bool"):
                if op not in COMPARISONS:
                    raise self.fail("bool is only allowed after a comparison operator")
                self.next()
                bool_mod = True
            matching = self.matching()
            prec = BIN_PREC[op]
            rhs = self.expr(prec if op == "^" else prec + 1)
            if isinstance(lhs, ast.LogSelector) or isinstance(rhs, ast.LogSelector):
                raise QueryError(
                    f"binary operator {op!r} needs metric queries on both sides; a log query "
                    "(selector and pipeline) can only stand alone or inside a range aggregation "
                    "such as count_over_time({...}[5m])"
                )
            lhs = ast.BinOp(op, lhs, rhs, bool_mod, matching)

    def matching(self) -> ast.VectorMatching:
        if not self.is_("on", "ignoring"):
            return ast.VectorMatching()
        on = self.next().text == "on"
        labels = self.label_list()
        card = "one-to-one"
        include: tuple[str, ...] = ()
        if self.is_("group_left", "group_right"):
            card = self.next().text
            if self.tok.text == "(":
                include = self.label_list()
        return ast.VectorMatching(on, labels, card, include)

    def unary(self) -> ast.Expr:
        t = self.tok
        if t.text == "-" and t.kind == "op":
            self.next()
            inner = self.unary()
            if isinstance(inner, ast.NumberLit):
                return ast.NumberLit(-inner.value)
            if isinstance(inner, ast.LogSelector):
                raise self.fail("unary minus needs a metric query", t)
            return ast.BinOp("*", inner, ast.NumberLit(-1.0))
        if t.text == "+" and t.kind == "op":
            self.next()
            return self.unary()
        if t.text == "(":
            self.next()
            e = self.expr(0)
            self.expect(")")
            return e
        if t.kind == "num":
            self.next()
            return ast.NumberLit(
                float(t.text) if not t.text.lower().startswith("0x") else float(int(t.text, 16))
            )
        if t.text == "{":
            sel = self.log_selector()
            if self.tok.text == "[":
                raise self.fail(
                    "a log range like {...}[5m] must be inside a range aggregation "
                    "such as count_over_time or rate"
                )
            return sel
        if t.kind == "ident":
            name = t.text
            if name in RANGE_OPS:
                return self.range_agg()
            if name in VECTOR_OPS:
                return self.vector_agg()
            if name == "label_replace":
                return self.label_replace()
            if name == "vector":
                self.next()
                self.expect("(")
                v = self.next()
                if v.kind != "num":
                    raise self.fail("vector() takes a number", v)
                self.expect(")")
                return ast.VectorLit(float(v.text))
            raise self.fail(
                f"unknown function {name!r}; LogQL range aggregations are " + ", ".join(sorted(RANGE_OPS))
            )
        raise self.fail("expected a stream selector {...}, an aggregation or a number")

    # ------------------------------------------------------------ selectors and pipelines

    def matchers(self) -> tuple[Matcher, ...]:
        self.expect("{")
        out: list[Matcher] = []
        while self.tok.text != "}":
            name = self.next()
            if name.kind != "ident" or not is_valid_label_name(name.text):
                raise self.fail("expected a label name", name)
            op = self.next()
            if op.text not in ("=", "!=", "=~", "!~"):
                raise self.fail("expected one of = != =~ !~", op)
            val = self.next()
            if val.kind != "str":
                raise self.fail("expected a quoted label value", val)
            try:
                out.append(Matcher.parse(name.text, op.text, unquote(val)))
            except MatcherError as e:
                raise QueryError(f"parse error at col {val.pos + 1}: {e}") from None
            if self.tok.text == ",":
                self.next()
            elif self.tok.text != "}":
                raise self.fail("expected ',' or '}'")
        self.next()
        if not out:
            raise QueryError(
                'queries require at least one label matcher in the stream selector, e.g. {job="app"}'
            )
        if all(m.matches("") for m in out):
            raise QueryError(
                "queries require at least one matcher that does not match the empty "
                'string, e.g. {job="app"} rather than {job=~".*"}'
            )
        return tuple(out)

    def log_selector(self) -> ast.LogSelector:
        ms = self.matchers()
        stages: list[ast.Stage] = []
        while True:
            st = self.stage()
            if st is None:
                break
            stages.append(st)
        return ast.LogSelector(ms, tuple(stages))

    def stage(self) -> ast.Stage | None:
        t = self.tok
        if t.kind == "op" and t.text in ("|=", "!=", "|~", "!~"):
            self.next()
            values = [self.string("a quoted string after the line filter")]
            while self.is_("or") and self.peek().kind == "str":
                self.next()
                values.append(self.string("a string"))
            if t.text in ("|~", "!~"):
                for v in values:
                    try:
                        re.compile(_py_regex(v))
                    except re.error as e:
                        raise QueryError(
                            f"parse error at col {t.pos + 1}: invalid regex {v!r}: {e}"
                        ) from None
            return ast.LineFilter(t.text, tuple(values))
        if t.text != "|" or self.peek().text == "unwrap":
            return None
        self.next()
        t = self.tok
        if t.kind == "ident" and t.text in PARSERS:
            return self.parser_stage()
        if t.kind == "ident" and t.text == "line_format":
            self.next()
            return ast.LineFormat(self.string("a template string after line_format"))
        if t.kind == "ident" and t.text == "label_format":
            self.next()
            items: list[tuple[str, str, bool]] = []
            while True:
                dst = self.label_name()
                self.expect("=")
                if self.tok.kind == "str":
                    items.append((dst, self.string("a template"), True))
                else:
                    items.append((dst, self.label_name(), False))
                if self.tok.text != ",":
                    break
                self.next()
            return ast.LabelFormat(tuple(items))
        if t.kind == "ident" and t.text in ("drop", "keep"):
            self.next()
            dk: list[tuple[str, Matcher | None]] = []
            while True:
                name = self.label_name()
                m: Matcher | None = None
                if self.tok.text in ("=", "!=", "=~", "!~") and self.peek().kind == "str":
                    op = self.next().text
                    m = Matcher.parse(name, op, self.string("a value"))
                dk.append((name, m))
                if self.tok.text != ",":
                    break
                self.next()
            return ast.DropKeep(t.text == "keep", tuple(dk))
        if t.kind == "ident" and t.text == "decolorize":
            self.next()
            return ast.Decolorize()
        if t.kind == "ident" or t.text == "(":
            return ast.LabelFilter(self.label_expr())
        raise self.fail("expected a parser, label filter, line_format, label_format, drop or keep after '|'")

    def string(self, what: str) -> str:
        t = self.next()
        if t.kind != "str":
            raise self.fail(f"expected {what}", t)
        return unquote(t)

    def label_name(self) -> str:
        t = self.next()
        if t.kind != "ident" or not is_valid_label_name(t.text):
            raise self.fail("expected a label name", t)
        return t.text

    def parser_stage(self) -> ast.Parser:
        kind = self.next().text
        if kind in ("regexp", "pattern"):
            arg = self.string(f"a quoted expression after {kind}")
            if kind == "regexp":
                try:
                    rx = re.compile(_py_regex(arg))
                except re.error as e:
                    raise QueryError(f"invalid regexp {arg!r}: {e}") from None
                if not rx.groupindex:
                    raise QueryError(f"regexp {arg!r} needs at least one named capture group (?P<name>...)")
            else:
                compile_pattern(arg)
            return ast.Parser(kind, arg)
        flags: list[str] = []
        params: list[tuple[str, str]] = []
        while self.tok.text == "--":
            self.next()
            flags.append(self.next().text)
        if kind in ("json", "logfmt") and self.tok.kind == "ident":
            while True:
                name = self.label_name()
                if self.tok.text != "=":
                    params.append((name, name))
                elif self.peek().kind == "str":
                    self.next()
                    params.append((name, self.string("an expression")))
                else:
                    self.next()
                    params.append((name, self.label_name()))
                if self.tok.text != ",":
                    break
                self.next()
        return ast.Parser(kind, "", tuple(params), tuple(flags))

    def label_expr(self) -> ast.LabelExpr:
        left = self.label_and()
        while self.is_("or"):
            self.next()
            left = ast.LabelBool("or", left, self.label_and())
        return left

    def label_and(self) -> ast.LabelExpr:
        left = self.label_atom()
        while self.is_("and") or self.tok.text == ",":
            self.next()
            left = ast.LabelBool("and", left, self.label_atom())
        return left

    def label_atom(self) -> ast.LabelExpr:
        if self.tok.text == "(":
            self.next()
            e = self.label_expr()
            self.expect(")")
            return e
        name = self.label_name()
        op = self.next()
        if op.text not in ("=", "!=", "=~", "!~", "==", ">", ">=", "<", "<="):
            raise self.fail("expected a comparison (=, !=, =~, !~, ==, >, >=, <, <=)", op)
        val = self.next()
        if val.kind == "str":
            if op.text in (">", ">=", "<", "<=", "=="):
                raise self.fail(f"{op.text} compares numbers; remove the quotes", val)
            s = unquote(val)
            if op.text in ("=~", "!~"):
                Matcher.parse(name, op.text, s)
            return ast.LabelCmp(name, op.text, s, "string")
        if op.text in ("=~", "!~"):
            raise self.fail("a regex match needs a quoted pattern", val)
        if op.text == "=":
            # `status=200` is numeric equality in Loki
            op = Tok(op.kind, "==", op.pos)
        try:
            if val.kind == "num":
                return ast.LabelCmp(name, op.text, float(val.text), "number")
            if val.kind == "dur":
                return ast.LabelCmp(name, op.text, duration_seconds(val.text), "duration")
            if val.kind == "bytes":
                return ast.LabelCmp(name, op.text, parse_bytes(val.text), "bytes")
        except ValueError as e:
            raise QueryError(f"parse error at col {val.pos + 1}: {e}") from None
        raise self.fail("expected a string, number, duration or byte size", val)

    def label_list(self) -> tuple[str, ...]:
        self.expect("(")
        out: list[str] = []
        while self.tok.text != ")":
            out.append(self.label_name())
            if self.tok.text == ",":
                self.next()
            elif self.tok.text != ")":
                raise self.fail("expected ',' or ')'")
        self.next()
        return tuple(out)

    def grouping(self) -> ast.Grouping | None:
        if self.is_("by", "without"):
            without = self.next().text == "without"
            return ast.Grouping(without, self.label_list())
        return None

    # ------------------------------------------------------------ aggregations

    def duration(self, what: str) -> int:
        t = self.next()
        if t.kind not in ("dur", "num"):
            raise self.fail(f"expected a duration for {what}, e.g. 5m", t)
        try:
            return parse_duration(t.text) * 1_000_000
        except DurationError as e:
            raise QueryError(f"parse error at col {t.pos + 1}: {e}") from None

    def range_agg(self) -> ast.RangeAgg:
        op_tok = self.next()
        op = op_tok.text
        self.expect("(")
        param: float | None = None
        if op == "quantile_over_time":
            p = self.next()
            if p.kind != "num":
                raise self.fail("quantile_over_time takes a quantile first, e.g. 0.99", p)
            param = float(p.text)
            self.expect(",")
        depth = 0
        while self.tok.text == "(":
            self.next()
            depth += 1
        sel = self.log_selector()
        rng: int | None = None
        if self.tok.text == "[":
            self.next()
            rng = self.duration("the range")
            self.expect("]")
            # Loki also allows the range between the selector and the pipeline
            more: list[ast.Stage] = []
            while (st := self.stage()) is not None:
                more.append(st)
            sel = ast.LogSelector(sel.matchers, sel.stages + tuple(more))
        unwrap: ast.Unwrap | None = None
        if self.tok.text == "|" and self.peek().text == "unwrap":
            self.next()
            self.next()
            conv = ""
            if self.tok.text in ("duration", "duration_seconds", "bytes") and self.peek().text == "(":
                conv = self.next().text
                self.expect("(")
                label = self.label_name()
                self.expect(")")
            else:
                label = self.label_name()
            post: list[ast.LabelFilter] = []
            while self.tok.text == "|" and self.peek().text != "unwrap":
                self.next()
                post.append(ast.LabelFilter(self.label_expr()))
            unwrap = ast.Unwrap(label, conv, tuple(post))
        for _ in range(depth):
            self.expect(")")
        if rng is None:
            if self.tok.text != "[":
                raise self.fail(f'{op} needs a range, e.g. {op}({{job="app"}}[5m])')
            self.next()
            rng = self.duration("the range")
            self.expect("]")
        offset = 0
        if self.is_("offset"):
            self.next()
            offset = self.duration("offset")
        self.expect(")")
        grouping = self.grouping()
        if op in UNWRAP_OPS and unwrap is None:
            raise QueryError(f"{op} needs an unwrapped label: {op}({{...}} | unwrap latency [5m])")
        if op in NO_UNWRAP_OPS and unwrap is not None:
            raise QueryError(f"{op} counts lines and cannot be used with unwrap")
        if grouping is not None and unwrap is None:
            raise QueryError(
                f"grouping after {op}(...) is only allowed with unwrap; use sum by (...) ({op}(...)) instead"
            )
        return ast.RangeAgg(op, sel, rng, offset, unwrap, param, grouping)

    def vector_agg(self) -> ast.VectorAgg:
        op = self.next().text
        grouping = self.grouping()
        self.expect("(")
        param: float | None = None
        if op in ("topk", "bottomk"):
            p = self.next()
            if p.kind != "num":
                raise self.fail(f"{op} takes a number first, e.g. {op}(5, ...)", p)
            param = float(p.text)
            self.expect(",")
        inner = self.expr(0)
        if isinstance(inner, ast.LogSelector):
            raise QueryError(
                f"{op} aggregates metric queries; wrap the log query in a range "
                f"aggregation: {op}(count_over_time({{...}}[5m]))"
            )
        self.expect(")")
        if grouping is None:
            grouping = self.grouping()
        return ast.VectorAgg(op, inner, grouping, param)

    def label_replace(self) -> ast.LabelReplace:
        self.next()
        self.expect("(")
        inner = self.expr(0)
        if isinstance(inner, ast.LogSelector):
            raise QueryError("label_replace takes a metric query")
        args: list[str] = []
        for _ in range(4):
            self.expect(",")
            args.append(self.string("a string argument"))
        self.expect(")")
        return ast.LabelReplace(inner, args[0], args[1], args[2], args[3])


def _py_regex(pattern: str) -> str:
    from guardia.model.re2syntax import translate

    return translate(pattern)


def parse(text: str) -> ast.Expr:
    """Parse a LogQL query; ``QueryError`` says where and what was expected."""
    if not text.strip():
        raise QueryError('empty query: write a stream selector such as {job="app"}')
    return _P(text).parse()
