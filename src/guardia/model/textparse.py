"""Exposition parsing: the Prometheus text format 0.0.4 and OpenMetrics 1.0 text.

This is the slow, strict path: it parses one line completely and says exactly what is wrong
with it (``ParseError`` carries the 1-based line number and the reason).  Scraping only calls
it for lines whose series text it has not seen before (``guardia.scrape.ingest``), so a
steady-state scrape never gets here; backfill (``guardia.storage.tsdb.backfill``) reads a
file through it.  It sits in ``model``, below both, as Prometheus keeps ``model/textparse``.

The two grammars differ in details handled by the ``openmetrics`` flag: OpenMetrics has
timestamps in seconds (float) instead of milliseconds, ``# UNIT``, more metric types,
exemplars after `` # `` (returned with the sample), a mandatory final ``# EOF`` and no
free-form comments.  Label values unescape ``\\\\``, ``\\"`` and ``\\n`` in both.

Both accept Prometheus 3's UTF-8 names: a label name may be a quoted string
(``{"k8s.pod.name"="a"}``), and a metric name that needs quoting is written as the first
quoted string inside the braces (``{"http.server.duration", le="1"} 3``) and quoted in
``# HELP``/``# TYPE``/``# UNIT`` lines.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import NamedTuple

TEXT_TYPES = frozenset({"counter", "gauge", "histogram", "summary", "untyped"})
OM_TYPES = frozenset(
    {"counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown"}
)

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_LABEL_VALUE = re.compile(r'"([^"\\\n]*(?:\\.[^"\\\n]*)*)"')
_WS = re.compile(r"[ \t]*")
_TOKEN = re.compile(r"[^ \t]+")
_ESCAPE = re.compile(r"\\(.)")


class ParseError(ValueError):
    """A malformed exposition: ``line`` is 1-based, ``reason`` says what was expected."""

    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}")


class Exemplar(NamedTuple):
    """An OpenMetrics exemplar: ``timestamp_ms`` is None when the line gave none."""

    labels: tuple[tuple[str, str], ...]
    value: float
    timestamp_ms: int | None


class Sample(NamedTuple):
    """One parsed sample line.  ``series_end`` is where the series text ends in the line."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float
    timestamp_ms: int | None
    series_end: int
    exemplar: Exemplar | None = None


@dataclass(slots=True)
class Metadata:
    """What HELP/TYPE/UNIT said about one metric family."""

    type: str = "unknown"
    help: str = ""
    unit: str = ""


def _unescape_label(raw: str) -> str:
    if "\\" not in raw:
        return raw
    return _ESCAPE.sub(lambda m: {"n": "\n", "\\": "\\", '"': '"'}.get(m.group(1), "\\" + m.group(1)), raw)


def _unescape_help(raw: str) -> str:
    if "\\" not in raw:
        return raw
    return _ESCAPE.sub(lambda m: {"n": "\n", "\\": "\\"}.get(m.group(1), "\\" + m.group(1)), raw)


def parse_float(token: str, line: int, what: str = "value") -> float:
    """Parse as Go's ``strconv.ParseFloat`` would (no ``_`` separators, no spaces)."""
    if "_" in token:
        raise ParseError(line, f"invalid {what} {token!r}")
    try:
        return float(token)
    except ValueError:
        raise ParseError(
            line, f"invalid {what} {token!r}, expected a float such as 1.5, NaN or +Inf"
        ) from None


def _parse_labels(
    line: str, pos: int, lineno: int, allow_name: bool = False,
) -> tuple[tuple[tuple[str, str], ...], int, str | None]:
    """Parse ``{a="b",...}`` starting just after ``{``; returns the labels, the position after
    ``}`` and the metric name when ``allow_name`` and one was given as a bare quoted string."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    metric: str | None = None
    n = len(line)
    while True:
        pos = _WS.match(line, pos).end()  # type: ignore[union-attr]
        if pos >= n:
            raise ParseError(lineno, "unexpected end of line inside label set, expected '}'")
        if line[pos] == "}":
            return tuple(pairs), pos + 1, metric
        if line[pos] == '"':
            qm = _LABEL_VALUE.match(line, pos)
            if qm is None:
                raise ParseError(lineno, f"unterminated quoted name at column {pos + 1}")
            name = _unescape_label(qm.group(1))
            after = _WS.match(line, qm.end()).end()  # type: ignore[union-attr]
            if after < n and line[after] in ",}":
                if not allow_name or metric is not None:
                    raise ParseError(lineno, f"unexpected quoted metric name {name!r} at column {pos + 1}: a "
                                     "series has one name, before the braces or first inside them")
                if not name:
                    raise ParseError(lineno, "empty metric name")
                metric = name
                pos = after + 1 if line[after] == "," else after
                continue
            end = qm.end()
        else:
            m = _LABEL_NAME.match(line, pos)
            if m is None:
                raise ParseError(
                    lineno, f"expected a label name at column {pos + 1}, got {line[pos : pos + 10]!r}"
                )
            name = m.group()
            end = m.end()
        if not name:
            raise ParseError(lineno, f"empty label name at column {pos + 1}")
        pos = _WS.match(line, end).end()  # type: ignore[union-attr]
        if pos >= n or line[pos] != "=":
            raise ParseError(lineno, f"expected '=' after label name {name!r} at column {pos + 1}")
        pos = _WS.match(line, pos + 1).end()  # type: ignore[union-attr]
        vm = _LABEL_VALUE.match(line, pos)
        if vm is None:
            raise ParseError(
                lineno,
                f"expected a quoted label value for {name!r} at column {pos + 1} (unterminated string?)",
            )
        if name in seen:
            raise ParseError(lineno, f"duplicate label name {name!r}")
        seen.add(name)
        pairs.append((name, _unescape_label(vm.group(1))))
        pos = _WS.match(line, vm.end()).end()  # type: ignore[union-attr]
        if pos < n and line[pos] == ",":
            pos += 1
        elif pos >= n or line[pos] != "}":
            raise ParseError(
                lineno, f"expected ',' or '}}' after label value of {name!r} at column {pos + 1}"
            )


# The common shape of a sample line in one regex match; anything else goes to the scanner,
# which accepts the rest of the grammar and explains errors.  Quoted values are written as
# runs of plain characters between escapes ("unrolled"), which the regex engine scans as one
# repeat instead of one alternation per character (40 % less time per line, same language).
_SIMPLE_SAMPLE = re.compile(
    r'([a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*(?:\\.[^"\\\n]*)*",?)*\})?'
    r" ([^ \t#]+)(?: ([^ \t#]+))?"
)
_SIMPLE_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\\n]*(?:\\.[^"\\\n]*)*)"')
# The same two patterns for a caller that builds its label sets itself (the scrape's reading
# of new series lines): a line they take apart the way ``_simple`` does parses the same.
SIMPLE_SAMPLE = _SIMPLE_SAMPLE
SIMPLE_LABEL = _SIMPLE_LABEL


def _simple(line: str, lineno: int, openmetrics: bool) -> Sample | None:
    m = _SIMPLE_SAMPLE.fullmatch(line)
    if m is None:
        return None
    name, braces, value, ts = m.groups()
    labels: tuple[tuple[str, str], ...] = ()
    if braces:
        pairs = _SIMPLE_LABEL.findall(braces)
        if openmetrics and braces.endswith(",}"):
            return None
        if len(dict(pairs)) != len(pairs):  # a repeated name: the scanner says which
            return None
        labels = tuple(pairs) if "\\" not in braces else tuple((k, _unescape_label(v)) for k, v in pairs)
    if "_" in value:
        return None
    try:
        v = float(value)
    except ValueError:
        return None
    t = parse_ts(ts, lineno, openmetrics) if ts is not None else None
    return Sample(name, labels, v, t, m.end(2) if braces else m.end(1))


def parse_sample(line: str, lineno: int, openmetrics: bool = False) -> Sample:
    """Parse one sample line completely (name, labels, value, timestamp, exemplar)."""
    simple = _simple(line, lineno, openmetrics)
    if simple is not None:
        return simple
    labels: tuple[tuple[str, str], ...] = ()
    if line.startswith("{"):
        labels, pos, quoted = _parse_labels(line, 1, lineno, allow_name=True)
        if quoted is None:
            raise ParseError(lineno, "expected a metric name: as the first quoted string inside the braces "
                             'when it needs quoting, e.g. {"http.server.duration", le="1"} 3')
        name = quoted
    else:
        m = _METRIC_NAME.match(line)
        if m is None:
            raise ParseError(lineno, f"expected a metric name at the start of the line, got {line[:20]!r}")
        name = m.group()
        pos = m.end()
        if not openmetrics and (line.startswith(" {", pos) or line.startswith("\t{", pos)):
            pos = _WS.match(line, pos).end()  # type: ignore[union-attr]  # the text lexer skips blanks
        if pos < len(line) and line[pos] == "{":
            labels, pos, _ = _parse_labels(line, pos + 1, lineno)
    series_end = pos
    rest = line[pos:]
    exemplar = ""
    if openmetrics and " # " in rest:
        rest, _, exemplar = rest.partition(" # ")
    tokens = rest.split()
    if not rest[:1].isspace() and rest:
        raise ParseError(lineno, f"expected a space after the series {line[:pos]!r}, got {rest[:10]!r}")
    if not tokens:
        raise ParseError(lineno, f"expected a value after the series {line[:pos][:200]!r}")
    if len(tokens) > 2:
        raise ParseError(lineno, f"unexpected {tokens[2]!r} after the value and timestamp")
    value = parse_float(tokens[0], lineno)
    ts: int | None = None
    if len(tokens) == 2:
        ts = parse_ts(tokens[1], lineno, openmetrics)
    ex = _parse_exemplar(exemplar, lineno) if exemplar else None
    return Sample(name, labels, value, ts, series_end, ex)


def parse_ts(token: str, lineno: int, openmetrics: bool) -> int:
    if openmetrics:
        f = parse_float(token, lineno, "timestamp")
        if math.isnan(f) or math.isinf(f):
            raise ParseError(lineno, f"invalid timestamp {token!r}")
        return round(f * 1000)
    try:
        return int(token)
    except ValueError:
        raise ParseError(lineno, f"invalid timestamp {token!r}, expected integer milliseconds") from None


def _parse_exemplar(text: str, lineno: int) -> Exemplar:
    """An exemplar (``{labels} value [timestamp in seconds]``), checked as OpenMetrics says."""
    if not text.startswith("{"):
        raise ParseError(lineno, "expected '{' to start the exemplar's label set")
    labels, pos, _ = _parse_labels(text, 1, lineno)
    if sum(len(k) + len(v) for k, v in labels) > 128:
        raise ParseError(lineno, "exemplar label set is longer than 128 characters")
    tokens = text[pos:].split()
    if not tokens or len(tokens) > 2:
        raise ParseError(lineno, "expected the exemplar's value (and optional timestamp)")
    value = parse_float(tokens[0], lineno, "exemplar value")
    ts: int | None = None
    if len(tokens) == 2:
        f = parse_float(tokens[1], lineno, "exemplar timestamp")
        if math.isnan(f) or math.isinf(f):
            raise ParseError(lineno, f"invalid exemplar timestamp {tokens[1]!r}")
        ts = round(f * 1000)
    return Exemplar(labels, value, ts)


class Comment(NamedTuple):
    kind: str  # "HELP", "TYPE", "UNIT", "EOF" or "" for a free comment
    metric: str
    text: str


def parse_comment(line: str, lineno: int, openmetrics: bool = False) -> Comment:
    """Parse a ``#`` line.  Text format ignores unknown comments; OpenMetrics refuses them."""
    if openmetrics and line == "# EOF":
        return Comment("EOF", "", "")
    parts = line.split(None, 3) if not openmetrics else line.split(" ", 3)
    if (
        len(parts) < 2
        or parts[0] != "#"
        or parts[1] not in ("HELP", "TYPE", "UNIT")
        or (parts[1] == "UNIT" and not openmetrics)
    ):
        if openmetrics:
            raise ParseError(
                lineno,
                f"invalid comment {line[:40]!r}: OpenMetrics allows only # HELP, # TYPE, # UNIT and # EOF",
            )
        return Comment("", "", "")
    kind = parts[1]
    if len(parts) >= 3 and parts[2].startswith('"'):
        metric, text = _quoted_comment_name(line, kind, lineno)
    else:
        if len(parts) < 3 or not _METRIC_NAME.fullmatch(parts[2]):
            raise ParseError(lineno, f"expected a metric name after # {kind}")
        metric = parts[2]
        text = parts[3] if len(parts) > 3 else ""
    if kind == "TYPE":
        t = text.strip()
        allowed = OM_TYPES if openmetrics else TEXT_TYPES
        if t not in allowed:
            raise ParseError(
                lineno,
                f"invalid metric type {t!r} for {metric!r}; expected one of " + ", ".join(sorted(allowed)),
            )
        text = t
    elif kind == "HELP":
        text = _unescape_help(text)
    return Comment(kind, metric, text)


def _quoted_comment_name(line: str, kind: str, lineno: int) -> tuple[str, str]:
    """``# HELP "a.b" text``: the quoted name and the text after it."""
    start = line.index('"', line.index(kind) + len(kind))
    qm = _LABEL_VALUE.match(line, start)
    if qm is None or not qm.group(1):
        raise ParseError(lineno, f"expected a metric name after # {kind} (unterminated quoted name?)")
    rest = line[qm.end():]
    if rest and not rest[0].isspace():
        raise ParseError(lineno, f"expected a space after the quoted metric name in # {kind}")
    return _unescape_label(qm.group(1)), rest[1:] if rest else ""


class Exposition(NamedTuple):
    samples: list[Sample]
    metadata: dict[str, Metadata]


def parse(text: str, openmetrics: bool = False) -> Exposition:
    """Parse a whole exposition (tests, tools): every sample and the metadata."""
    samples: list[Sample] = []
    meta: dict[str, Metadata] = {}
    lines = text.split("\n")
    if openmetrics:
        check_eof(lines)
    for i, line in enumerate(lines, 1):
        if not line:
            continue
        if line[0] == "#":
            c = parse_comment(line, i, openmetrics)
            if c.kind == "EOF":
                break
            if c.kind:
                apply_comment(meta, c)
            continue
        samples.append(parse_sample(line, i, openmetrics))
    return Exposition(samples, meta)


def apply_comment(meta: dict[str, Metadata], c: Comment) -> None:
    md = meta.get(c.metric)
    if md is None:
        md = meta[c.metric] = Metadata()
    if c.kind == "TYPE":
        md.type = c.text
    elif c.kind == "HELP":
        md.help = c.text
    elif c.kind == "UNIT":
        md.unit = c.text


def check_eof(lines: list[str]) -> None:
    """OpenMetrics must end with ``# EOF`` (optionally followed by one newline)."""
    last = len(lines)
    while last > 0 and lines[last - 1] == "":
        last -= 1
    if last == 0 or lines[last - 1] != "# EOF":
        raise ParseError(max(last, 1), "data does not end with # EOF")
    if len(lines) - last > 1:
        raise ParseError(last + 1, "unexpected content after # EOF")
