"""Promtail's pipeline stages for ingested lines: parse, label, re-time, reshape, drop, limit.

Each stage is an object with ``process(entry) -> bool`` (False drops the entry).  An entry
carries the line, its timestamp, the labels it will be stored under and the ``extracted``
map that parsing stages fill and later stages read, as in Promtail: ``regex``, ``json``,
``logfmt`` extract; ``labels`` and ``static_labels`` set labels; ``timestamp`` sets the time
from an extracted value (Go layouts or ``RFC3339``, ``Unix``, ``UnixMs``...); ``output``
replaces the line; ``drop`` and ``limit`` drop entries; ``docker`` and ``cri`` unwrap container
runtime formats.  ``build_stages`` turns the YAML list into stages and reports bad ones with
their index and field.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from guardia.logs.logql.pipeline import parse_logfmt
from guardia.logs.logql.units import duration_seconds, parse_bytes
from guardia.logs.rewrite_stages import KINDS as REWRITE_KINDS
from guardia.logs.rewrite_stages import build_rewrite, match_stage
from guardia.logs.stage_base import Entry, LabelsStage, Stage, StageConfigError, fields_allowed, to_str
from guardia.model.labels import is_valid_label_name
from guardia.model.re2syntax import translate


def _source(e: Entry, source: str | None) -> str | None:
    if source is None:
        return e.line
    v = e.extracted.get(source)
    return None if v is None else (v if isinstance(v, str) else to_str(v))


class RegexStage(Stage):
    name = "regex"

    def __init__(self, expression: str, source: str | None) -> None:
        self.rx = re.compile(translate(expression))
        if not self.rx.groupindex:
            raise StageConfigError(f"regex expression {expression!r} needs named groups (?P<name>...)")
        self.source = source

    def process(self, e: Entry) -> bool:
        text = _source(e, self.source)
        if text is None:
            return True
        m = self.rx.search(text)
        if m:
            e.extracted.update({k: v for k, v in m.groupdict().items() if v is not None})
        return True


def _jmes(path: str) -> list[str | int]:
    out: list[str | int] = []
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"|([A-Za-z_@][\w@-]*)|\[(\d+)\]', path):
        if m.group(1) is not None:
            out.append(m.group(1))
        elif m.group(2) is not None:
            out.append(m.group(2))
        else:
            out.append(int(m.group(3)))
    return out


class JsonStage(Stage):
    name = "json"

    def __init__(
        self, expressions: Mapping[str, str | None], source: str | None, drop_malformed: bool
    ) -> None:
        self.paths = [(k, _jmes(v or k)) for k, v in expressions.items()]
        self.source = source
        self.drop_malformed = drop_malformed

    def process(self, e: Entry) -> bool:
        text = _source(e, self.source)
        if text is None:
            return True
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            return not self.drop_malformed
        for name, path in self.paths:
            cur: Any = doc
            for step in path:
                if isinstance(step, int):
                    cur = cur[step] if isinstance(cur, list | tuple) and step < len(cur) else None
                else:
                    cur = cur.get(step) if isinstance(cur, dict) else None
                if cur is None:
                    break
            if cur is not None:
                e.extracted[name] = cur
        return True


class LogfmtStage(Stage):
    name = "logfmt"

    def __init__(self, mapping: Mapping[str, str | None], source: str | None) -> None:
        self.mapping = {(v or k): k for k, v in mapping.items()}
        self.source = source

    def process(self, e: Entry) -> bool:
        text = _source(e, self.source)
        if text is None:
            return True
        pairs, _ = parse_logfmt(text)
        for k, v in pairs:
            if k in self.mapping:
                e.extracted[self.mapping[k]] = v
        return True


class StaticLabelsStage(Stage):
    name = "static_labels"

    def __init__(self, labels: Mapping[str, str]) -> None:
        self.labels = dict(labels)

    def process(self, e: Entry) -> bool:
        e.labels.update(self.labels)
        return True


class OutputStage(Stage):
    name = "output"

    def __init__(self, source: str) -> None:
        self.source = source

    def process(self, e: Entry) -> bool:
        v = e.extracted.get(self.source)
        if v is not None:
            e.line = to_str(v)
        return True


_GO_LAYOUT = [
    ("January", "%B"),
    ("Jan", "%b"),
    ("Monday", "%A"),
    ("Mon", "%a"),
    ("2006", "%Y"),
    ("-07:00", "%z"),
    ("-0700", "%z"),
    ("Z07:00", "%z"),
    ("MST", "%Z"),
    ("01", "%m"),
    ("02", "%d"),
    ("_2", "%d"),
    ("15", "%H"),
    ("03", "%I"),
    ("04", "%M"),
    ("05", "%S"),
    ("PM", "%p"),
    ("06", "%y"),
]
_NAMED = {
    "ANSIC": "Mon Jan _2 15:04:05 2006",
    "UnixDate": "Mon Jan _2 15:04:05 MST 2006",
    "RubyDate": "Mon Jan 02 15:04:05 -0700 2006",
    "RFC822": "02 Jan 06 15:04 MST",
    "RFC822Z": "02 Jan 06 15:04 -0700",
    "RFC850": "Monday, 02-Jan-06 15:04:05 MST",
    "RFC1123": "Mon, 02 Jan 2006 15:04:05 MST",
    "RFC1123Z": "Mon, 02 Jan 2006 15:04:05 -0700",
}


def go_layout_to_strptime(layout: str) -> tuple[str, bool]:
    """(strptime format, has fractional seconds) for a Go reference-time layout."""
    out: list[str] = []
    frac = False
    i = 0
    while i < len(layout):
        if layout[i] in ".," and i + 1 < len(layout) and layout[i + 1] in "09":
            j = i + 1
            while j < len(layout) and layout[j] in "09":
                j += 1
            out.append(".%f")
            frac = True
            i = j
            continue
        for go, py in _GO_LAYOUT:
            if layout.startswith(go, i):
                out.append(py)
                i += len(go)
                break
        else:
            out.append("%%" if layout[i] == "%" else layout[i])
            i += 1
    return "".join(out), frac


def _parse_time(value: str, fmt: str, tz: dt.tzinfo | None) -> int:
    v = value.strip()
    if fmt in ("RFC3339", "RFC3339Nano"):
        m = re.fullmatch(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)", v)
        if not m:
            raise ValueError(v)
        off = "+00:00" if m.group(3) == "Z" else m.group(3)
        base = dt.datetime.fromisoformat(m.group(1).replace(" ", "T") + off)
        return int(base.timestamp()) * 1_000_000_000 + int((m.group(2) or "").ljust(9, "0"))
    if fmt == "Unix":
        return round(float(v) * 1e9)
    if fmt == "UnixMs":
        return int(v) * 1_000_000
    if fmt == "UnixUs":
        return int(v) * 1_000
    if fmt == "UnixNs":
        return int(v)
    layout = _NAMED.get(fmt, fmt)
    pyfmt, _ = go_layout_to_strptime(layout)
    if "_2" in layout:
        v = re.sub(r"(?<=\s)\s(?=\d\s)", "0", v)
    parsed = dt.datetime.strptime(v, pyfmt)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz or dt.UTC)
    if "%Y" not in pyfmt and "%y" not in pyfmt:
        parsed = parsed.replace(year=dt.datetime.now(parsed.tzinfo).year)
    return int(parsed.timestamp() * 1_000_000) * 1_000


class TimestampStage(Stage):
    name = "timestamp"

    def __init__(self, source: str, fmt: str, location: str | None, action_on_failure: str) -> None:
        self.source = source
        self.fmt = fmt
        self.tz: dt.tzinfo | None = None
        if location:
            from zoneinfo import ZoneInfo

            self.tz = ZoneInfo(location)
        self.fudge = action_on_failure == "fudge"

    def process(self, e: Entry) -> bool:
        v = e.extracted.get(self.source)
        if v is None:
            return True
        # on failure Promtail keeps the read time ("fudge" and "skip" alike for a single line)
        with contextlib.suppress(ValueError):
            e.ts = _parse_time(to_str(v), self.fmt, self.tz)
        return True


class DropStage(Stage):
    name = "drop"

    def __init__(
        self,
        source: str | None,
        expression: str | None,
        value: str | None,
        older_than_s: float | None,
        longer_than: int | None,
    ) -> None:
        self.source = source
        self.rx = re.compile(translate(expression)) if expression else None
        self.value = value
        self.older_than_ns = int(older_than_s * 1e9) if older_than_s else None
        self.longer_than = longer_than
        self.dropped = 0

    def process(self, e: Entry) -> bool:
        checks: list[bool] = []
        if self.source is not None or self.rx is not None or self.value is not None:
            text = _source(e, self.source)
            if text is None:
                checks.append(False)
            else:
                if self.rx is not None:
                    checks.append(self.rx.search(text) is not None)
                if self.value is not None:
                    checks.append(text == self.value)
                if self.rx is None and self.value is None:
                    checks.append(True)
        if self.older_than_ns is not None:
            checks.append(e.ts < time.time_ns() - self.older_than_ns)
        if self.longer_than is not None:
            checks.append(len(e.line.encode()) > self.longer_than)
        if checks and all(checks):
            self.dropped += 1
            return False
        return True


class LimitStage(Stage):
    """A token bucket of ``rate`` lines/s and ``burst``; over it, lines are dropped (``drop: true``)
    or held back until tokens refill (the default, as Promtail's)."""

    name = "limit"

    def __init__(
        self, rate: float, burst: int, drop: bool, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.drop = drop
        self.tokens = float(burst)
        self.clock = clock
        self.last = clock()
        self.dropped = 0

    def process(self, e: Entry) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        if self.drop:
            self.dropped += 1
            return False
        time.sleep((1 - self.tokens) / self.rate)
        self.tokens = 0.0
        self.last = self.clock()
        return True


class DockerStage(Stage):
    """Docker's json-file lines: ``{"log": "...\\n", "stream": "stdout", "time": "RFC3339Nano"}``."""

    name = "docker"

    def process(self, e: Entry) -> bool:
        try:
            doc = orjson.loads(e.line)
        except orjson.JSONDecodeError:
            return True
        if not isinstance(doc, dict) or "log" not in doc:
            return True
        e.line = str(doc["log"]).rstrip("\n")
        if doc.get("stream"):
            e.labels["stream"] = str(doc["stream"])
        if doc.get("time"):
            with contextlib.suppress(ValueError):
                e.ts = _parse_time(str(doc["time"]), "RFC3339Nano", None)
        return True


class CriStage(Stage):
    """CRI lines: ``<RFC3339Nano> <stdout|stderr> <F|P> <message>``."""

    name = "cri"
    _RX = re.compile(r"(\S+) (stdout|stderr) ([FP]) ?(.*)", re.S)

    def process(self, e: Entry) -> bool:
        m = self._RX.fullmatch(e.line)
        if not m:
            return True
        e.line = m.group(4)
        e.labels["stream"] = m.group(2)
        with contextlib.suppress(ValueError):
            e.ts = _parse_time(m.group(1), "RFC3339Nano", None)
        return True


def build_stages(specs: Sequence[Any], where: str = "pipeline_stages") -> list[Stage]:
    """Promtail's ``pipeline_stages`` YAML (a list of one-key mappings) as stages.

    ``multiline`` is handled by the tailer (it joins lines before the stages run) and is
    skipped here; ``build_multiline`` reads it."""
    out: list[Stage] = []
    for i, spec in enumerate(specs):
        here = f"{where}[{i}]"
        if not isinstance(spec, Mapping) or len(spec) != 1:
            raise StageConfigError(
                f"{here}: each stage is a mapping with one key, e.g. - regex: {{expression: ...}}"
            )
        kind, body = next(iter(spec.items()))
        body = body if body is not None else {}
        loc = f"{here}.{kind}"
        if kind in REWRITE_KINDS or kind == "match":
            try:
                out.append(build_rewrite(str(kind), body, loc) if kind != "match" else
                           match_stage(body, build_stages, loc))
            except re.error as e:
                raise StageConfigError(f"{loc}: invalid regular expression: {e}") from None
            continue
        if not isinstance(body, Mapping):
            raise StageConfigError(f"{here}.{kind}: must be a mapping")
        try:
            stage = _build_one(str(kind), body, loc)
        except re.error as e:
            raise StageConfigError(f"{loc}: invalid regular expression: {e}") from None
        if stage is not None:
            out.append(stage)
    return out


def _build_one(kind: str, body: Mapping[str, Any], loc: str) -> Stage | None:
    if kind == "regex":
        fields_allowed(body, loc, {"expression", "source"})
        if not body.get("expression"):
            raise StageConfigError(f"{loc}.expression is required")
        return RegexStage(str(body["expression"]), body.get("source"))
    if kind == "json":
        fields_allowed(body, loc, {"expressions", "source", "drop_malformed"})
        exprs = body.get("expressions")
        if not isinstance(exprs, Mapping) or not exprs:
            raise StageConfigError(f"{loc}.expressions must map names to JMESPath expressions")
        return JsonStage(exprs, body.get("source"), bool(body.get("drop_malformed", False)))
    if kind == "logfmt":
        fields_allowed(body, loc, {"mapping", "source"})
        mapping = body.get("mapping")
        if not isinstance(mapping, Mapping) or not mapping:
            raise StageConfigError(f"{loc}.mapping must map names to logfmt keys")
        return LogfmtStage(mapping, body.get("source"))
    if kind in ("labels", "static_labels"):
        for name in body:
            if not is_valid_label_name(str(name)):
                raise StageConfigError(f"{loc}: invalid label name {name!r}")
        if kind == "labels":
            return LabelsStage({str(k): (str(v) if v else None) for k, v in body.items()})
        return StaticLabelsStage({str(k): str(v) for k, v in body.items()})
    if kind == "output":
        fields_allowed(body, loc, {"source"})
        if not body.get("source"):
            raise StageConfigError(f"{loc}.source is required")
        return OutputStage(str(body["source"]))
    if kind == "timestamp":
        fields_allowed(body, loc, {"source", "format", "location", "fallback_formats", "action_on_failure"})
        if not body.get("source") or not body.get("format"):
            raise StageConfigError(
                f"{loc}: source and format are required (format: RFC3339, Unix, UnixMs, "
                "or a Go layout such as 02/Jan/2006:15:04:05 -0700)"
            )
        return TimestampStage(
            str(body["source"]),
            str(body["format"]),
            body.get("location"),
            str(body.get("action_on_failure", "fudge")),
        )
    if kind == "drop":
        fields_allowed(
            body, loc, {"source", "expression", "value", "older_than", "longer_than", "drop_counter_reason"}
        )
        if body.get("expression") and body.get("value") is not None:
            raise StageConfigError(f"{loc}: expression and value cannot both be set")
        older = body.get("older_than")
        longer = body.get("longer_than")
        try:
            older_s = duration_seconds(str(older)) if older else None
            longer_b = int(parse_bytes(str(longer))) if isinstance(longer, str) else longer
        except ValueError as e:
            raise StageConfigError(f"{loc}: {e}") from None
        return DropStage(body.get("source"), body.get("expression"), body.get("value"), older_s, longer_b)
    if kind == "limit":
        fields_allowed(body, loc, {"rate", "burst", "drop", "by_label_name", "max_distinct_labels"})
        rate = body.get("rate")
        if not isinstance(rate, int | float) or rate <= 0:
            raise StageConfigError(f"{loc}.rate must be a positive number of lines per second")
        burst = body.get("burst", int(rate))
        return LimitStage(float(rate), int(burst), bool(body.get("drop", False)))
    if kind == "docker":
        return DockerStage()
    if kind == "cri":
        return CriStage()
    if kind == "multiline":
        return None
    raise StageConfigError(
        f"{loc}: unknown stage {kind!r}; guardia supports regex, json, logfmt, labels, "
        "static_labels, timestamp, output, drop, limit, docker, cri, multiline, labeldrop, labelallow, "
        "replace, template, match, structured_metadata, pack, decolorize, sampling"
    )


@dataclass(frozen=True)
class Multiline:
    firstline: re.Pattern[str]
    max_wait_s: float = 3.0
    max_lines: int = 128


def build_multiline(specs: Sequence[Any], where: str = "pipeline_stages") -> Multiline | None:
    for i, spec in enumerate(specs):
        if isinstance(spec, Mapping) and "multiline" in spec:
            body = spec["multiline"] or {}
            loc = f"{where}[{i}].multiline"
            if not isinstance(body, Mapping) or not body.get("firstline"):
                raise StageConfigError(
                    f"{loc}.firstline is required: a regex matching the first line of an entry"
                )
            try:
                rx = re.compile(translate(str(body["firstline"])))
                wait = duration_seconds(str(body.get("max_wait_time", "3s")))
            except (re.error, ValueError) as e:
                raise StageConfigError(f"{loc}: {e}") from None
            return Multiline(rx, wait, int(body.get("max_lines", 128)))
    return None


def run_stages(stages: Sequence[Stage], e: Entry) -> bool:
    return all(st.process(e) for st in stages)


__all__ = ["Entry", "Stage", "StageConfigError", "build_multiline", "build_stages", "run_stages"]
