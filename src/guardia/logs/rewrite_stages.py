"""Promtail's label and line rewriting stages: ``labeldrop``, ``labelallow``, ``replace``,
``template``, ``match``, ``structured_metadata``, ``pack``, ``decolorize``, ``sampling``.

Templates (``replace``, ``template``) are Go text/template with the functions LogQL's
``line_format`` has; their data is the values extracted so far plus ``.Value`` (the value
being rewritten).  ``match`` runs its own stages on the entries its LogQL selector (with line
filters if any) accepts, or drops them with ``action: drop``.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from guardia.logs.errors import LogsError
from guardia.logs.logql import ast as logql_ast
from guardia.logs.logql import parse
from guardia.logs.logql.pipeline import Pipeline
from guardia.logs.logql.templates import compile_template
from guardia.logs.stage_base import Entry, LabelsStage, Stage, StageConfigError, fields_allowed, to_str
from guardia.model.labels import is_valid_label_name
from guardia.model.re2syntax import translate

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _names(body: Any, loc: str) -> list[str]:
    if not isinstance(body, list | tuple) or not body:
        raise StageConfigError(f"{loc}: must be a list of label names, e.g. [filename, stream]")
    for n in body:
        if not isinstance(n, str) or not is_valid_label_name(n):
            raise StageConfigError(f"{loc}: {n!r} is not a label name")
    return [str(n) for n in body]


class LabelDropStage(Stage):
    name = "labeldrop"

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)

    def process(self, e: Entry) -> bool:
        for n in self.names:
            e.labels.pop(n, None)
        return True


class LabelAllowStage(Stage):
    name = "labelallow"

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def process(self, e: Entry) -> bool:
        for n in [n for n in e.labels if n not in self.names]:
            del e.labels[n]
        return True


def _data(e: Entry, value: str) -> dict[str, str]:
    data = {k: to_str(v) for k, v in e.extracted.items()}
    data["Value"] = value
    return data


class ReplaceStage(Stage):
    """Each captured group of ``expression`` in the line (or ``source``) is replaced by the
    rendered ``replace``; named groups are also extracted."""

    name = "replace"

    def __init__(self, expression: str, source: str | None, replace: str, loc: str) -> None:
        self.rx = re.compile(translate(expression))
        if not self.rx.groups:
            raise StageConfigError(f"{loc}.expression needs at least one capture group")
        self.source = source
        try:
            self.render = compile_template(replace)
        except LogsError as e:
            raise StageConfigError(f"{loc}.replace: {e}") from None

    def process(self, e: Entry) -> bool:
        text = e.line if self.source is None else e.extracted.get(self.source)
        if text is None:
            return True
        text = to_str(text)
        out: list[str] = []
        pos = 0
        for m in self.rx.finditer(text):
            for name, v in m.groupdict().items():
                if v is not None:
                    e.extracted[name] = v
            for g in range(1, self.rx.groups + 1):
                a, b = m.span(g)
                if a < 0 or a < pos:
                    continue
                out.append(text[pos:a])
                out.append(self.render(e.ts, e.line, _data(e, text[a:b])))
                pos = b
        if pos == 0 and not out:
            return True
        out.append(text[pos:])
        result = "".join(out)
        if self.source is None:
            e.line = result
        else:
            e.extracted[self.source] = result
        return True


class TemplateStage(Stage):
    name = "template"

    def __init__(self, source: str, template: str, loc: str) -> None:
        self.source = source
        try:
            self.render = compile_template(template)
        except LogsError as e:
            raise StageConfigError(f"{loc}.template: {e}") from None

    def process(self, e: Entry) -> bool:
        cur = e.extracted.get(self.source)
        e.extracted[self.source] = self.render(e.ts, e.line, _data(e, "" if cur is None else to_str(cur)))
        return True


class MatchStage(Stage):
    name = "match"

    def __init__(self, selector: str, stages: list[Stage], drop: bool, loc: str) -> None:
        try:
            expr = parse(selector)
        except LogsError as e:
            raise StageConfigError(f"{loc}.selector: {e}") from None
        if not isinstance(expr, logql_ast.LogSelector):
            raise StageConfigError(f"{loc}.selector must be a log selector such as {{app=\"web\"}} |= \"x\"")
        self.matchers = expr.matchers
        self.filters = Pipeline(expr.stages, frozenset()) if expr.stages else None
        self.stages = stages
        self.drop = drop

    def process(self, e: Entry) -> bool:
        if not all(m.matches(e.labels.get(m.name, "")) for m in self.matchers):
            return True
        if self.filters is not None and self.filters.run(e.ts, e.line, dict(e.labels)) is None:
            return True
        if self.drop:
            return False
        return all(st.process(e) for st in self.stages)


class StructuredMetadataStage(LabelsStage):
    """``labels``, but into the line's structured metadata (no new stream per value)."""

    name = "structured_metadata"

    def target(self, e: Entry) -> dict[str, str]:
        return e.metadata


class PackStage(Stage):
    """The line becomes ``{"label": "value", ..., "_entry": "<line>"}`` and the named labels
    (or extracted values) leave the stream: fewer streams, the data kept in the line."""

    name = "pack"

    def __init__(self, labels: Sequence[str], ingest_timestamp: bool) -> None:
        self.labels = tuple(labels)
        self.ingest_timestamp = ingest_timestamp

    def process(self, e: Entry) -> bool:
        doc: dict[str, str] = {}
        for n in self.labels:
            if n in e.labels:
                doc[n] = e.labels.pop(n)
            elif n in e.extracted:
                doc[n] = to_str(e.extracted[n])
        doc["_entry"] = e.line
        e.line = orjson.dumps(doc).decode()
        if self.ingest_timestamp:
            # as Promtail: packed lines of many streams interleave, so they get the time now
            e.ts = time.time_ns()
        return True


class DecolorizeStage(Stage):
    name = "decolorize"

    def process(self, e: Entry) -> bool:
        e.line = _ANSI.sub("", e.line)
        return True


class SamplingStage(Stage):
    name = "sampling"

    def __init__(self, rate: float, seed: int | None = None) -> None:
        self.rate = rate
        self.rng = random.Random(seed)

    def process(self, e: Entry) -> bool:
        return self.rng.random() < self.rate


KINDS = ("labeldrop", "labelallow", "replace", "template", "structured_metadata", "pack", "decolorize",
         "sampling")


def match_stage(body: Any, build: Callable[[Sequence[Any], str], list[Stage]], loc: str) -> Stage:
    """``match``; ``build`` turns its nested ``stages`` into stages (the caller's builder)."""
    if not isinstance(body, Mapping):
        raise StageConfigError(f"{loc}: must be a mapping")
    fields_allowed(body, loc, {"selector", "stages", "action", "pipeline_name", "drop_counter_reason"})
    if not body.get("selector"):
        raise StageConfigError(f"{loc}.selector is required, e.g. '{{app=\"web\"}} |= \"health\"'")
    action = str(body.get("action", "keep"))
    if action not in ("keep", "drop"):
        raise StageConfigError(f"{loc}.action must be keep or drop")
    specs = body.get("stages") or []
    if action == "keep" and not specs:
        raise StageConfigError(f"{loc}.stages is required when action is keep")
    return MatchStage(str(body["selector"]), build(specs, f"{loc}.stages"), action == "drop", loc)


def build_rewrite(kind: str, body: Any, loc: str) -> Stage:
    """One of ``KINDS`` from its YAML body (a list for labeldrop/labelallow)."""
    if kind == "labeldrop":
        return LabelDropStage(_names(body, loc))
    if kind == "labelallow":
        return LabelAllowStage(_names(body, loc))
    if not isinstance(body, Mapping):
        raise StageConfigError(f"{loc}: must be a mapping")
    if kind == "replace":
        fields_allowed(body, loc, {"expression", "source", "replace"})
        if not body.get("expression"):
            raise StageConfigError(f"{loc}.expression is required")
        return ReplaceStage(str(body["expression"]), body.get("source"), str(body.get("replace", "")), loc)
    if kind == "template":
        fields_allowed(body, loc, {"source", "template"})
        if not body.get("source") or body.get("template") is None:
            raise StageConfigError(f"{loc}: source and template are required")
        return TemplateStage(str(body["source"]), str(body["template"]), loc)
    if kind == "structured_metadata":
        for name in body:
            if not is_valid_label_name(str(name)):
                raise StageConfigError(f"{loc}: invalid name {name!r}")
        return StructuredMetadataStage({str(k): (str(v) if v else None) for k, v in body.items()})
    if kind == "pack":
        fields_allowed(body, loc, {"labels", "ingest_timestamp"})
        names = _names(body.get("labels"), f"{loc}.labels")
        return PackStage(names, bool(body.get("ingest_timestamp", True)))
    if kind == "decolorize":
        return DecolorizeStage()
    fields_allowed(body, loc, {"rate", "drop_counter_reason"})
    rate = body.get("rate")
    if not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise StageConfigError(f"{loc}.rate must be a number from 0 to 1 (the share of lines kept)")
    return SamplingStage(float(rate))
