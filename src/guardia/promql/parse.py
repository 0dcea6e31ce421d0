"""Turn PromQL text into guardia's plan, using the compiled Prometheus grammar.

``promql-parser`` (a Rust port of the Prometheus parser) does the syntax and type checks;
this module only converts its AST into ``guardia.promql.plan`` nodes.  Two quirks of the
binding are worked around here: numeric ``@`` timestamps are read from the query text
(the binding converts them through ``SystemTime`` and cannot represent negative ones),
and parse errors carry no position, so one is derived where the message allows.
"""

from __future__ import annotations

import datetime as _dt
import re
from functools import lru_cache
from typing import Any

import promql_parser as pp

from guardia.model import Matcher, MatchType
from guardia.model.matchers import MatcherError
from guardia.promql import plan
from guardia.promql.errors import ParseError

_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', re.DOTALL)
_COMMENT_RE = re.compile(r"#[^\n]*")
_AT_RE = re.compile(
    r"@\s*(start\s*\(\s*\)|end\s*\(\s*\)|[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|Inf|NaN))",
    re.IGNORECASE,
)
_OPS = [
    (pp.MatchOp.Equal, MatchType.EQUAL),
    (pp.MatchOp.NotEqual, MatchType.NOT_EQUAL),
    (pp.MatchOp.Re, MatchType.REGEX),
    (pp.MatchOp.NotRe, MatchType.NOT_REGEX),
]
_CARD = [
    (pp.VectorMatchCardinality.OneToOne, "one-to-one"),
    (pp.VectorMatchCardinality.ManyToOne, "many-to-one"),
    (pp.VectorMatchCardinality.OneToMany, "one-to-many"),
    (pp.VectorMatchCardinality.ManyToMany, "many-to-many"),
]


def _lookup(table: list[tuple[Any, Any]], key: Any) -> Any:
    """The binding's enums compare but do not hash."""
    for k, v in table:
        if k == key:
            return v
    raise ParseError(f"unknown parser value {key!r}")


def parse(expr: str) -> plan.Node:
    """Parse ``expr`` into a plan; raises ``ParseError`` (``bad_data``) for invalid PromQL."""
    return _parse_cached(expr)


@lru_cache(maxsize=1024)
def _parse_cached(expr: str) -> plan.Node:
    if not expr.strip():
        raise ParseError("no expression found in input", 1, 1)
    try:
        ast = pp.parse(expr)
    except ValueError as e:
        ast = _parse_info_selectors(expr, str(e))
        if ast is None:
            raise _parse_error(expr, str(e)) from None
    except BaseException as e:  # the binding panics on a few malformed inputs
        if isinstance(e, KeyboardInterrupt | SystemExit):
            raise
        raise _parse_error(expr, f"invalid query: {e}") from None
    code = _COMMENT_RE.sub("", _STRING_RE.sub('""', expr))
    ats = [m.group(1) for m in _AT_RE.finditer(code)]
    conv = _Converter(ats, _invalid_utf8_literals(expr))
    return conv.node(ast)


_EMPTY_SELECTOR = "vector selector must contain at least one non-empty matcher"
# A matcher put into ``info()``'s second argument so the binding takes a selector of matchers that
# all match the empty string (``{__name__!="target_info"}``), which Prometheus 3 allows there only
# (``BypassEmptyMatcherCheck``); ``_Converter._selector`` takes it out again.
_INFO_SENTINEL = "__guardia_info_data_labels__"
_INFO_CALL_RE = re.compile(r"\binfo\s*\(")


def _parse_info_selectors(expr: str, msg: str) -> Any:
    """The AST of ``expr`` with every ``info()`` data-label selector marked, or None when that
    is not why the binding refused it (then its error stands, at its own position)."""
    if msg != _EMPTY_SELECTOR or "info" not in expr:
        return None
    code = _COMMENT_RE.sub(lambda m: " " * len(m.group(0)),
                           _STRING_RE.sub(lambda m: " " * len(m.group(0)), expr))
    inserts: list[int] = []
    for call in _INFO_CALL_RE.finditer(code):
        depth, i = 1, call.end()
        while i < len(code) and depth:
            c = code[i]
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
            elif c == "," and depth == 1:  # the second argument starts here
                j = i + 1
                while j < len(code) and code[j].isspace():
                    j += 1
                if code.startswith("{", j):
                    inserts.append(j + 1)
                break
            i += 1
    if not inserts:
        return None
    marked = expr
    for pos in reversed(inserts):
        marked = f'{marked[:pos]}{_INFO_SENTINEL}=~".+",{marked[pos:]}'
    try:
        return pp.parse(marked)
    except ValueError:
        return None


# Messages of the binding that name the offending text: where to look for it.
_TOKEN_IN_MSG = [
    re.compile(r"unexpected character inside braces: '(.+)'$"),
    re.compile(r"bad number or duration syntax: (\S+)$"),
    re.compile(r"unknown function with name '(.+)'$"),
    re.compile(r"in call to function '(.+?)'"),
    re.compile(r"unexpected character: '(.+)'$"),
]


def _parse_error(expr: str, msg: str) -> ParseError:
    """Attach a 1-based position where the message allows finding it: the end of the
    input for incomplete queries, or the offending text the message quotes."""
    lines = expr.split("\n")
    if "end of input" in msg or "unclosed" in msg:
        return ParseError(msg, len(lines), len(lines[-1]) + 1)
    if msg.startswith("unterminated quoted string"):
        quote = msg.rstrip()[-1]
        return _at(expr, msg, expr.rfind(quote))
    for pattern in _TOKEN_IN_MSG:
        m = pattern.search(msg)
        if m:
            found = _STRING_RE.sub(lambda s: " " * len(s.group(0)), expr).find(m.group(1))
            if found >= 0:
                return _at(expr, msg, found)
    return _located(expr, msg)


# Tokens, roughly as the PromQL lexer cuts them: enough to find where a query stops making sense.
_TOKEN_RE = re.compile(
    r"\s+|#[^\n]*|" + _STRING_RE.pattern
    + r"|[A-Za-z_:][\w:.]*|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[a-zA-Z]*(?:\d+[a-zA-Z]+)*"
    + r"|==|!=|>=|<=|=~|!~|\S"
)
# Text after a prefix that a viable prefix can be completed with (an operand, closing brackets).
_COMPLETIONS = ("", " 0", " x", " x)", " (x)", " (x) x", " (x) (x)", "x) (x)", ") (x)", "x)", ")",
                "x[5m])", "[5m])", "5m])", "]", "5m]", "5m])", "}", '"")', '=""}', '""}', " 5m")


def _viable(prefix: str) -> bool:
    for tail in _COMPLETIONS:
        try:
            pp.parse(prefix + tail)
            return True
        except ValueError as e:
            if not tail and ("end of input" in str(e) or "unclosed" in str(e)):
                return True
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt | SystemExit):
                raise
    return False


def _located(expr: str, msg: str) -> ParseError:
    """The binding's generic "invalid promql query" has no position: find the first token after
    which no completion of the query parses (``1 +* 2`` -> the ``*``), or else the end of the
    input (``up +``), and say what was found there, as Prometheus does."""
    spans = [m.span() for m in _TOKEN_RE.finditer(expr)
             if not m.group(0).isspace() and not m.group(0).startswith("#")]
    for start, end in spans:
        if not _viable(expr[:end]):
            token = expr[start:end]
            return _at(expr, f'unexpected "{token}"' if msg == "invalid promql query" else msg, start)
    lines = expr.split("\n")
    unexpected = "unexpected end of input" if msg == "invalid promql query" else msg
    return ParseError(unexpected, len(lines), len(lines[-1].rstrip()) + 1)


def _at(expr: str, msg: str, offset: int) -> ParseError:
    if offset < 0:
        return ParseError(msg)
    line = expr.count("\n", 0, offset) + 1
    col = offset - (expr.rfind("\n", 0, offset) + 1) + 1
    return ParseError(msg, line, col)


def _duration_ms(td: Any) -> int:
    if td is None:
        return 0
    if isinstance(td, _dt.timedelta):
        return (td.days * 86_400_000) + td.seconds * 1000 + td.microseconds // 1000
    return int(td)


_ESC_RE = re.compile(r"\\(x[0-9a-fA-F]{2}|[0-7]{3}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.DOTALL)
_SIMPLE_ESC = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}


def _invalid_utf8_literals(expr: str) -> dict[str, str]:
    """String literals whose escapes (``"\\xff"``) make invalid UTF-8, as Go sees them.

    The binding turns ``\\xNN`` into the code point U+00NN; Go into the byte NN.  For
    literals where that matters the parser's value is mapped to a Python string carrying
    the raw bytes as surrogate escapes, so label-name checks can refuse it as Prometheus.
    """
    out: dict[str, str] = {}
    for m in _STRING_RE.finditer(expr):
        lit = m.group(0)
        if lit[0] == "`" or "\\" not in lit:
            continue
        body = lit[1:-1]
        raw = bytearray()
        parser_value: list[str] = []
        pos = 0
        for e in _ESC_RE.finditer(body):
            chunk = body[pos : e.start()]
            raw += chunk.encode()
            parser_value.append(chunk)
            esc = e.group(1)
            if esc[0] == "x" or (len(esc) == 3 and esc.isdigit()):
                code = int(esc[1:], 16) if esc[0] == "x" else int(esc, 8)
                raw.append(code)
                parser_value.append(chr(code))
            elif esc[0] in "uU" and len(esc) > 1:
                ch = chr(int(esc[1:], 16))
                raw += ch.encode()
                parser_value.append(ch)
            else:
                ch = chr(_SIMPLE_ESC[esc]) if esc in _SIMPLE_ESC else esc
                raw += ch.encode()
                parser_value.append(ch)
            pos = e.end()
        raw += body[pos:].encode()
        parser_value.append(body[pos:])
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            out["".join(parser_value)] = bytes(raw).decode("utf-8", "surrogateescape")
    return out


class _Converter:
    def __init__(self, ats: list[str], strings: dict[str, str]) -> None:
        self._ats = ats
        self._at_i = 0
        self._strings = strings

    def _at(self, at: Any) -> plan.AtSpec:
        if at is None:
            return None
        text = self._ats[self._at_i] if self._at_i < len(self._ats) else None
        self._at_i += 1
        if at.type == pp.AtModifierType.Start:
            return "start"
        if at.type == pp.AtModifierType.End:
            return "end"
        if text is not None and not text.lower().startswith(("start", "end")):
            v = float(int(text, 16)) if text.lower().lstrip("+-").startswith("0x") else float(text)
            if v != v or v in (float("inf"), float("-inf")):
                raise ParseError(f"timestamp out of bounds for @ modifier: {v}")
            return round(v * 1000)
        ts = at.at
        return round(ts.timestamp() * 1000)

    def _selector(self, vs: Any) -> plan.VectorSelector:
        matchers: list[Matcher] = []
        if vs.name:
            matchers.append(Matcher("__name__", MatchType.EQUAL, vs.name))
        ms = vs.matchers
        if ms.or_matchers:
            raise ParseError("'or' inside label matchers is not PromQL")
        marked = False
        for m in ms.matchers:
            if m.name == _INFO_SENTINEL:  # see _parse_info_selectors
                marked = True
                continue
            mt = _lookup(_OPS, m.op)
            try:
                matchers.append(Matcher(m.name, mt, m.value))
            except MatcherError as e:
                raise ParseError(str(e)) from None
        if not marked and all(m.matches_empty for m in matchers):
            raise ParseError(_EMPTY_SELECTOR)
        at = self._at(vs.at)
        text = str(vs)
        if marked:
            text = text.replace(f'{_INFO_SENTINEL}=~".+",', "").replace(f'{_INFO_SENTINEL}=~".+"', "")
        return plan.VectorSelector(vs.name, tuple(matchers), _duration_ms(vs.offset), at, text)

    def node(self, e: Any) -> plan.Node:
        if isinstance(e, pp.NumberLiteral):
            return plan.NumberLiteral(float(e.val))
        if isinstance(e, pp.StringLiteral):
            val = str(e.val)
            return plan.StringLiteral(self._strings.get(val, val))
        if isinstance(e, pp.VectorSelector):
            return self._selector(e)
        if isinstance(e, pp.MatrixSelector):
            sel = self._selector(e.vector_selector)
            return plan.MatrixSelector(sel, _duration_ms(e.range))
        if isinstance(e, pp.SubqueryExpr):
            inner = self.node(e.expr)
            at = self._at(e.at)
            rng, step, off = _duration_ms(e.range), _duration_ms(e.step), _duration_ms(e.offset)
            return plan.Subquery(inner, rng, step, off, at)
        if isinstance(e, pp.ParenExpr):
            return plan.Paren(self.node(e.expr))
        if isinstance(e, pp.UnaryExpr):
            return plan.Unary("-", self.node(e.expr))
        if isinstance(e, pp.BinaryExpr):
            lhs = self.node(e.lhs)
            rhs = self.node(e.rhs)
            mod = e.modifier
            op = str(e.op)
            matching = None
            return_bool = False
            if mod is not None:
                return_bool = bool(mod.return_bool)
                card: plan.Cardinality = _lookup(_CARD, mod.card)
                on = False
                labels: tuple[str, ...] = ()
                if mod.matching is not None:
                    on = mod.matching.type == pp.LabelModifierType.Include
                    labels = tuple(mod.matching.labels)
                include = tuple(mod.group_labels or ())
                matching = plan.VectorMatching(card, on, labels, include)
            if op in ("and", "or", "unless"):
                lm = matching or plan.VectorMatching("many-to-many", False, ())
                matching = plan.VectorMatching("many-to-many", lm.on, lm.labels, ())
            return plan.Binary(op, lhs, rhs, return_bool, matching)
        if isinstance(e, pp.AggregateExpr):
            op = str(e.op)
            param = self.node(e.param) if e.param is not None else None
            expr = self.node(e.expr)
            amod = e.modifier
            grouping: tuple[str, ...] = ()
            without = False
            has = False
            if amod is not None:
                has = True
                grouping = tuple(amod.labels)
                without = amod.type == pp.AggModifierType.Without
            return plan.Aggregate(op, expr, param, grouping, without, has)
        if isinstance(e, pp.Call):
            args = tuple(self.node(a) for a in e.args)
            return plan.Call(str(e.func.name), args)
        raise ParseError(f"unsupported expression {e!r}")
