"""Runner for PromQL test scripts (Prometheus's ``promqltest`` format).

``load``/``load_with_nhcb``/``clear``/``eval`` commands run against a fresh
``MemoryStorage`` per file; every ``eval`` becomes a pass or a failure (with the query and
the difference).  Native histogram points use the ``{{...}}`` notation of
``histogram_text``, in loads and in expectations alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from guardia.model import STALE_NAN, Labels, parse_duration
from guardia.model.durations import DurationError
from guardia.model.gostrings import go_unescape
from guardia.model.histogram import FloatHistogram, HistogramError, from_classic
from guardia.promql import plan
from guardia.promql.engine import Engine, EngineOptions, QueryResult
from guardia.promql.errors import PromQLError
from guardia.promql.histogram_text import HistogramSyntaxError, expand_histogram, split_tokens
from guardia.promql.parse import parse
from guardia.storage.memory import MemoryStorage

Point = float | FloatHistogram | None

_NUM = r"[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[Ii]nf|NaN|nan)"
_UNSIGNED = r"(?:0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[Ii]nf)"
_EXPAND_RE = re.compile(rf"^({_NUM})([+-])({_UNSIGNED})x(\d+)$")
_REPEAT_RE = re.compile(rf"^({_NUM})x(\d+)$")
_GAP_RE = re.compile(r"^_x(\d+)$")
_NUM_RE = re.compile(rf"^{_NUM}$")
_EVAL_INSTANT = re.compile(r"^eval(?:_(fail|warn|info|ordered))?\s+instant\s+at\s+(\S+)\s+(.+)$")
_EVAL_RANGE = re.compile(
    r"^eval(?:_(fail|warn|info|ordered))?\s+range\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)\s+(.+)$"
)
_RANGE_VEC = re.compile(r"^expect\s+range\s+vector\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)$")
EPSILON = 1e-6
T = TypeVar("T")


class ScriptError(ValueError):
    """The test script itself is malformed."""


@dataclass
class Failure:
    file: str
    line: int
    query: str
    diff: str


@dataclass
class FileReport:
    file: str
    passed: int = 0
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)


def _float(s: str) -> float:
    low = s.lower()
    if low in ("inf", "+inf"):
        return math.inf
    if low == "-inf":
        return -math.inf
    if low == "nan":
        return math.nan
    if low.lstrip("+-").startswith("0x"):
        return float(int(s, 16))
    return float(s)


def parse_time(s: str) -> int:
    """A script time: a PromQL duration since the epoch or plain seconds."""
    if _NUM_RE.match(s):
        return round(_float(s) * 1000)
    try:
        return parse_duration(s)
    except DurationError as e:
        raise ScriptError(f"invalid time {s!r}: {e}") from None


def expand_points(tokens: list[str]) -> list[Point]:
    """``0+10x3 _ stale 5 {{count:1}}x2`` → values with ``None`` for gaps (``_``)."""
    out: list[Point] = []
    for tok in tokens:
        if tok.startswith("{{"):
            try:
                out.extend(expand_histogram(tok))
            except HistogramSyntaxError as e:
                raise ScriptError(str(e)) from None
        elif tok == "_":
            out.append(None)
        elif tok == "stale":
            out.append(STALE_NAN)
        elif m := _GAP_RE.match(tok):
            out.extend([None] * int(m.group(1)))
        elif m := _EXPAND_RE.match(tok):
            a, sign, b, n = _float(m.group(1)), m.group(2), _float(m.group(3)), int(m.group(4))
            d = b if sign == "+" else -b
            out.extend(a + d * i for i in range(n + 1))
        elif m := _REPEAT_RE.match(tok):
            out.extend([_float(m.group(1))] * (int(m.group(2)) + 1))
        elif _NUM_RE.match(tok):
            out.append(_float(tok))
        else:
            raise ScriptError(f"invalid point {tok!r}")
    return out


def split_series(text: str) -> tuple[str, str]:
    """Split ``metric{a="b c"} 1 2`` into the series descriptor and the rest."""
    text = text.strip()
    i = 0
    in_str: str | None = None
    brace = False
    while i < len(text):
        c = text[i]
        if in_str:
            if c == "\\":
                i += 2
                continue
            if c == in_str:
                in_str = None
        elif c in "\"'`" and brace:
            in_str = c
        elif c == "{":
            brace = True
        elif c == "}":
            return text[: i + 1], text[i + 1 :].strip()
        elif c.isspace() and not brace:
            return text[:i], text[i:].strip()
        i += 1
    return text, ""


def parse_labels(desc: str) -> Labels:
    if desc.strip() == "{}":
        return Labels()
    node = parse(desc)
    if not isinstance(node, plan.VectorSelector):
        raise ScriptError(f"invalid series {desc!r}")
    return Labels((m.name, m.value) for m in node.matchers)


def _eq(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    if math.isinf(a) or math.isinf(b):
        return False
    diff = abs(a - b)
    abs_sum = abs(a) + abs(b)
    min_normal = 2.2250738585072014e-308
    if a == 0 or b == 0 or abs_sum < min_normal:
        return diff < EPSILON * min_normal
    return diff / min(abs_sum, 1.7976931348623157e308) < EPSILON


@dataclass
class _Eval:
    line: int
    query: str
    instant: bool
    start: int
    end: int
    step: int
    fail: bool = False
    fail_msg: str | None = None
    fail_regex: str | None = None
    ordered: bool = False
    warn: bool | None = None
    warn_msgs: list[str] = field(default_factory=list)
    info: bool | None = None
    info_msgs: list[str] = field(default_factory=list)
    expect_string: str | None = None
    range_vector: tuple[int, int, int] | None = None
    expected: list[tuple[Labels | None, list[Point]]] = field(default_factory=list)


class ScriptRunner:
    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine or Engine(EngineOptions(timeout_s=60.0))

    def run_file(self, path: Path) -> FileReport:
        text = path.read_text(encoding="utf-8")
        return self.run_text(text, str(path))

    def run_text(self, text: str, name: str = "<script>") -> FileReport:
        report = FileReport(name)
        lines = text.split("\n")
        storage = MemoryStorage()
        i = 0
        while i < len(lines):
            raw = lines[i]
            line = raw.strip()
            if not line or line.startswith("#"):
                i += 1
                continue
            body, i2 = self._block(lines, i + 1)
            if line == "clear":
                storage = MemoryStorage()
            elif line.startswith("load"):
                try:
                    self._load(storage, line, body)
                except ScriptError as e:
                    raise ScriptError(f"{name}:{i + 1}: {e}") from None
            elif line.startswith("eval"):
                try:
                    ev = self._parse_eval(line, body, i + 1)
                except ScriptError as e:
                    raise ScriptError(f"{name}:{i + 1}: {e}") from None
                self._run_eval(storage, ev, report, name)
            else:
                raise ScriptError(f"{name}:{i + 1}: unknown command {line!r}")
            i = i2
        return report

    @staticmethod
    def _block(lines: list[str], i: int) -> tuple[list[str], int]:
        body: list[str] = []
        while i < len(lines) and (lines[i][:1] in (" ", "\t") or not lines[i].strip()):
            if lines[i].strip() and not lines[i].strip().startswith("#"):
                body.append(lines[i].strip())
            elif not lines[i].strip():
                # A blank line ends the block.
                break
            i += 1
        return body, i

    def _load(self, storage: MemoryStorage, line: str, body: list[str]) -> None:
        parts = line.split()
        interval = parse_duration(parts[1])
        points: dict[Labels, dict[int, float | FloatHistogram]] = {}
        for b in body:
            desc, rest = split_series(b)
            labels = parse_labels(desc)
            # A series listed twice: the later line's values win (as the reference runner).
            series = points.setdefault(labels, {})
            for k, v in enumerate(expand_points(split_tokens(rest))):
                if v is not None:
                    series[k * interval] = v
        if parts[0] == "load_with_nhcb":
            points.update(_nhcb(points))
        app = storage.appender()
        for labels, pts in points.items():
            ref = app.ref(labels)
            for t, v in pts.items():
                if isinstance(v, FloatHistogram):
                    app.append_histogram(ref, t, v)
                else:
                    app.append(ref, t, v)
        app.commit()

    def _parse_eval(self, line: str, body: list[str], lineno: int) -> _Eval:
        m = _EVAL_INSTANT.match(line)
        if m:
            kind, at, query = m.group(1), m.group(2), m.group(3)
            t = parse_time(at)
            ev = _Eval(lineno, query.strip(), True, t, t, 0)
        else:
            m = _EVAL_RANGE.match(line)
            if not m:
                raise ScriptError(f"line {lineno}: invalid eval command {line!r}")
            kind = m.group(1)
            ev = _Eval(
                lineno, m.group(5).strip(), False, parse_time(m.group(2)), parse_time(m.group(3)),
                parse_time(m.group(4)),
            )
        if kind == "fail":
            ev.fail = True
        elif kind == "warn":
            ev.warn = True
        elif kind == "info":
            ev.info = True
        elif kind == "ordered":
            ev.ordered = True
        for b in body:
            if b.startswith("expect ") or b.startswith("expected_fail"):
                self._expect(ev, b)
                continue
            desc, rest = split_series(b)
            if _NUM_RE.match(desc) and not rest:
                ev.expected.append((None, [_float(desc)]))
                continue
            if desc.startswith("{{"):
                # A histogram expected with no labels at all.
                ev.expected.append((Labels(), expand_points(split_tokens(b))))
                continue
            ev.expected.append((parse_labels(desc), expand_points(split_tokens(rest))))
        return ev

    @staticmethod
    def _expect(ev: _Eval, b: str) -> None:
        if b.startswith("expected_fail_message"):
            ev.fail, ev.fail_msg = True, b.split(None, 1)[1] if " " in b else ""
            return
        if b.startswith("expected_fail_regexp"):
            ev.fail, ev.fail_regex = True, b.split(None, 1)[1] if " " in b else ""
            return
        rest = b[len("expect ") :].strip()
        m = _RANGE_VEC.match(b)
        if m:
            ev.range_vector = (parse_time(m.group(1)), parse_time(m.group(2)), parse_time(m.group(3)))
            return
        word, _, arg = rest.partition(" ")
        arg = arg.strip()
        msg = None
        regex = None
        if arg.startswith("msg:"):
            msg = arg[4:].strip()
        elif arg.startswith("regex:"):
            regex = arg[6:].strip()
        if word == "fail":
            ev.fail, ev.fail_msg, ev.fail_regex = True, msg, regex
        elif word == "ordered":
            ev.ordered = True
        elif word == "warn":
            ev.warn = True
            if msg:
                ev.warn_msgs.append(msg)
        elif word == "no_warn":
            ev.warn = False
        elif word == "info":
            ev.info = True
            if msg:
                ev.info_msgs.append(msg)
        elif word == "no_info":
            ev.info = False
        elif word == "string":
            ev.expect_string = _unquote(arg)
        else:
            raise ScriptError(f"line {ev.line}: unknown expectation {b!r}")

    def _run_eval(self, storage: MemoryStorage, ev: _Eval, report: FileReport, name: str) -> None:
        diff = self._check(storage, ev)
        if diff is None:
            report.passed += 1
        else:
            report.failed += 1
            report.failures.append(Failure(name, ev.line, ev.query, diff))

    def _check(self, storage: MemoryStorage, ev: _Eval) -> str | None:
        try:
            if ev.instant:
                res = self.engine.instant(storage, ev.query, ev.start)
            else:
                res = self.engine.range(storage, ev.query, ev.start, ev.end, ev.step)
        except Exception as e:
            if not isinstance(e, PromQLError):
                return f"internal error: {type(e).__name__}: {e}"
            if not ev.fail:
                return f"unexpected error: {e.message}"
            if ev.fail_msg is not None and e.message != ev.fail_msg:
                return f"expected error {ev.fail_msg!r}, got {e.message!r}"
            if ev.fail_regex is not None and not re.search(ev.fail_regex, e.message):
                return f"expected error matching {ev.fail_regex!r}, got {e.message!r}"
            return None
        if ev.fail:
            return "expected an error, got a result"
        problems = self._annotations(ev, res)
        if problems:
            return problems
        return self._compare(ev, res)

    @staticmethod
    def _annotations(ev: _Eval, res: QueryResult) -> str | None:
        for kind, want, msgs, got in (
            ("warn", ev.warn, ev.warn_msgs, res.warnings),
            ("info", ev.info, ev.info_msgs, res.infos),
        ):
            if want is True and not got:
                return f"expected {kind} annotations, got none"
            if want is False and got:
                return f"expected no {kind} annotations, got {got}"
            for m in msgs:
                if m not in got:
                    return f"expected {kind} {m!r}, got {got}"
        return None

    def _compare(self, ev: _Eval, res: QueryResult) -> str | None:
        if ev.expect_string is not None:
            if res.type != "string" or res.value[1] != ev.expect_string:
                return f"expected string {ev.expect_string!r}, got {res.type} {res.value!r}"
            return None
        if res.type == "scalar":
            if len(ev.expected) != 1 or ev.expected[0][0] is not None:
                return f"expected {len(ev.expected)} series, got scalar {res.value[1]}"
            want = ev.expected[0][1][0]
            if not isinstance(want, float):
                return f"expected {want}, got scalar {res.value[1]}"
            return None if _eq(res.value[1], want) else f"expected scalar {want}, got {res.value[1]}"
        if res.type == "vector":
            if not ev.instant:
                return "range query returned a vector"
            return self._compare_vector(ev, res)
        if res.type == "matrix":
            return self._compare_matrix(ev, res)
        return f"unexpected result type {res.type}"

    def _compare_vector(self, ev: _Eval, res: QueryResult) -> str | None:
        got: dict[Labels, float | FloatHistogram] = {s.labels: s.v if s.h is None else s.h for s in res.value}
        if len(got) != len(res.value):
            return "result has duplicate label sets"
        exp: dict[Labels, float | FloatHistogram] = {}
        for ls, pts in ev.expected:
            if ls is None:
                return f"expected scalar, got vector of {len(res.value)}"
            if len(pts) != 1 or pts[0] is None:
                return f"expected value for {ls} must be one number"
            exp[ls] = pts[0]
        if ev.ordered:
            got_order = [s.labels for s in res.value]
            exp_order = [ls for ls, _ in ev.expected]
            if got_order != exp_order:
                return (
                    f"order differs: expected {[str(x) for x in exp_order]}, "
                    f"got {[str(x) for x in got_order]}"
                )
        return _diff_maps(exp, got, _same_point)

    def _compare_matrix(self, ev: _Eval, res: QueryResult) -> str | None:
        if ev.instant:
            if ev.range_vector is None:
                start, step = 0, 0
                return "instant query returned a range vector without 'expect range vector'"
            start, _end, step = ev.range_vector
        else:
            start, step = ev.start, ev.step
        exp: dict[Labels, list[tuple[int, float | FloatHistogram]]] = {}
        for ls, pts in ev.expected:
            if ls is None:
                return "expected scalar, got matrix"
            exp[ls] = [(start + k * step, v) for k, v in enumerate(pts) if v is not None]
        got: dict[Labels, list[tuple[int, float | FloatHistogram]]] = {}
        for s in res.value:
            if s.labels in got:
                return f"result has duplicate series {s.labels}"
            hs = s.histograms.tolist() if s.histograms is not None else [None] * len(s)
            got[s.labels] = [(t, v if h is None else h)
                             for t, v, h in zip(s.timestamps.tolist(), s.values.tolist(), hs, strict=True)]

        Pts = list[tuple[int, float | FloatHistogram]]

        def same(a: Pts, b: Pts) -> bool:
            return len(a) == len(b) and all(
                x[0] == y[0] and _same_point(x[1], y[1]) for x, y in zip(a, b, strict=True)
            )

        return _diff_maps(exp, got, same)


def _same_point(a: Point, b: Point) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, FloatHistogram) or isinstance(b, FloatHistogram):
        return isinstance(a, FloatHistogram) and isinstance(b, FloatHistogram) and same_histogram(a, b)
    return _eq(a, b)


def same_histogram(exp: FloatHistogram, got: FloatHistogram) -> bool:
    """Prometheus's test comparison: both compacted, floats within the epsilon, the layout
    (schema, custom bounds, zero threshold, bucket indexes) exact; the hint is not compared."""
    a, b = exp.copy().compact(), got.copy().compact()
    if a.schema != b.schema or not _eq(a.count, b.count) or not _eq(a.sum, b.sum):
        return False
    if a.uses_custom_buckets and a.custom_values != b.custom_values:
        return False
    if a.zero_threshold != b.zero_threshold or not _eq(a.zero_count, b.zero_count):
        return False
    for x, y in ((a.positive, b.positive), (a.negative, b.negative)):
        if list(x) != list(y) or not all(_eq(x[i], y[i]) for i in x):
            return False
    return True


Points = dict[Labels, dict[int, float | FloatHistogram]]


def _nhcb(points: Points) -> Points:
    """``load_with_nhcb``: every classic histogram (``_bucket`` series with ``le``, and its
    ``_sum``/``_count``) also as a native histogram with custom buckets, per timestamp."""
    groups: dict[Labels, dict[float, dict[int, float | FloatHistogram]]] = {}
    for ls, pts in points.items():
        if ls.name.endswith("_bucket") and ls.get("le"):
            try:
                le = _float(ls.get("le"))
            except ValueError:
                continue
            key = ls.without("le").set("__name__", ls.name[: -len("_bucket")])
            groups.setdefault(key, {})[le] = pts
    out: dict[Labels, dict[int, float | FloatHistogram]] = {}
    for key, by_le in groups.items():
        bounds = sorted(by_le)
        sums = points.get(key.set("__name__", key.name + "_sum"), {})
        times = sorted({t for pts in by_le.values() for t in pts})
        series: dict[int, float | FloatHistogram] = {}
        for t in times:
            cum = [c for c in (by_le[le].get(t) for le in bounds) if isinstance(c, float)]
            if len(cum) < len(bounds):
                continue
            s = sums.get(t)
            try:
                series[t] = from_classic(list(zip(bounds, cum, strict=True)),
                                         None if bounds[-1] == math.inf else cum[-1],
                                         s if isinstance(s, float) else 0.0)
            except HistogramError:
                continue
        out[key] = series
    return out


def _diff_maps(exp: dict[Labels, T], got: dict[Labels, T], same: Callable[[T, T], bool]) -> str | None:
    lines = []
    for k, v in exp.items():
        if k not in got:
            lines.append(f"  missing {k}: {v}")
        elif not same(v, got[k]):
            lines.append(f"  {k}: expected {v}, got {got[k]}")
    for k, v in got.items():
        if k not in exp:
            lines.append(f"  unexpected {k}: {v}")
    return "\n".join(lines) if lines else None


def _unquote(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'`":
        return go_unescape(s[1:-1]) if s[0] == '"' else s[1:-1]
    return s


__all__ = ["Failure", "FileReport", "ScriptError", "ScriptRunner", "expand_points", "same_histogram"]
