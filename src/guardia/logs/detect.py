"""Fields and labels detected in log lines, for Loki's ``detected_fields`` and
``detected_labels`` (Grafana's Logs Drilldown and logcli ``detected-fields`` ask for them).

A line that is a JSON object is read as ``| json`` reads it, any other line as ``| logfmt``;
each field gets the narrowest type every one of its values fits (``int``, ``float``,
``boolean``, ``duration``, ``bytes``, else ``string``) and its number of distinct values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from guardia.logs.logql.pipeline import json_fields, parse_logfmt

_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_DURATION = re.compile(r"^[+-]?(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$")
_BYTES = re.compile(r"^\d+(?:\.\d+)?\s?(?:[KMGTPE]i?)?B$", re.IGNORECASE)
TYPES = ("int", "float", "boolean", "duration", "bytes", "string")
MAX_DISTINCT = 10_000  # cardinality is counted exactly up to here


def value_types(v: str) -> set[str]:
    """Every type ``v`` can be read as (``string`` always)."""
    out = {"string"}
    if _INT.match(v):
        out.update(("int", "float"))
    elif _FLOAT.match(v):
        out.add("float")
    if v in ("true", "false", "True", "False", "TRUE", "FALSE"):
        out.add("boolean")
    if _DURATION.match(v):
        out.add("duration")
    if _BYTES.match(v):
        out.add("bytes")
    return out


@dataclass
class _Field:
    types: set[str] = field(default_factory=lambda: set(TYPES))
    values: set[str] = field(default_factory=set)
    parsers: set[str] = field(default_factory=set)


def detect_fields(
    lines: Iterable[str], stream_labels: Iterable[str] = (), limit: int = 1000
) -> list[dict[str, Any]]:
    """Loki's ``fields`` list: label, type, cardinality, parsers; stream labels are not fields."""
    skip = set(stream_labels)
    found: dict[str, _Field] = {}
    for line in lines:
        pairs = json_fields(line) if line.startswith("{") else None
        parser = "json"
        if pairs is None:
            pairs, _ = parse_logfmt(line)
            parser = "logfmt"
        for k, v in pairs:
            if k in skip or not k:
                continue
            f = found.get(k)
            if f is None:
                if len(found) >= limit:
                    continue
                f = found[k] = _Field()
            f.parsers.add(parser)
            if len(f.values) < MAX_DISTINCT:
                f.values.add(v)
            f.types &= value_types(v)
    out = []
    for name in sorted(found):
        f = found[name]
        kind = next(t for t in TYPES if t in f.types)
        out.append({"label": name, "type": kind, "cardinality": len(f.values),
                    "parsers": sorted(f.parsers)})
    return out


def detect_labels(streams: Iterable[Mapping[str, str]]) -> list[dict[str, Any]]:
    """Loki's ``detectedLabels``: each stream label with its number of distinct values."""
    values: dict[str, set[str]] = {}
    for labels in streams:
        for k, v in labels.items():
            values.setdefault(k, set()).add(v)
    return [{"label": k, "cardinality": len(v)} for k, v in sorted(values.items())]
