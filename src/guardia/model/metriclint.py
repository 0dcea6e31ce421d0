"""Naming lints for an exposition, the ones ``promtool check metrics`` applies.

A team adding metrics to an app (seed 000: ``ggrt_active_connections`` vs the alerts'
``websocket_connections_active``) benefits from the conventions being checked before the
metrics ship: counters end in ``_total``, units are base units and spelled out, every metric
has help text. Problems come as (metric, text), sorted, with promtool's wording, so the two
tools' output can be compared line for line.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from guardia.model.textparse import Metadata, parse

# unit word -> the base unit it should be expressed in
_UNITS = {
    "amperes": "amperes", "bytes": "bytes", "celsius": "celsius", "grams": "grams", "joules": "joules",
    "kelvin": "kelvin", "meters": "meters", "metres": "metres", "seconds": "seconds", "volts": "volts",
    "minutes": "seconds", "hours": "seconds", "days": "seconds", "weeks": "seconds",
    "milliseconds": "seconds", "microseconds": "seconds", "nanoseconds": "seconds",
    "feet": "meters", "inches": "meters", "miles": "meters", "yards": "meters",
    "pounds": "grams", "ounces": "grams", "fahrenheit": "celsius", "rankine": "celsius", "bits": "bytes",
}
_PREFIXES = ("pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega",
             "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi")
_ABBREVIATIONS = {"s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d"}
_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
_CAMEL = re.compile(r"[a-z][A-Z]")
_COMPOSITE_SUFFIXES = ("_bucket", "_sum", "_count", "_created")


class Problem(NamedTuple):
    metric: str
    text: str

    def __str__(self) -> str:
        return f"{self.metric} {self.text}"


def _unit(name: str) -> tuple[str, str] | None:
    for word in name.split("_"):
        if word in _UNITS:
            return word, _UNITS[word]
        for p in _PREFIXES:
            if word.startswith(p) and word[len(p):] in _UNITS:
                return word, _UNITS[word[len(p):]]
    return None


def _family(name: str, meta: dict[str, Metadata]) -> str:
    """The family a sample belongs to: histogram and summary samples carry a suffix."""
    if name in meta:
        return name
    for suffix in _COMPOSITE_SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and meta.get(base, Metadata()).type in ("histogram", "summary"):
            return base
    return name


def _lint_family(name: str, md: Metadata, label_names: set[str]) -> list[str]:
    out: list[str] = []
    kind = md.type if md.type != "unknown" else "untyped"
    if not md.help:
        out.append("no help text")
    if ":" in name:
        out.append("metric names should not contain ':'")
    if _CAMEL.search(name):
        out.append("metric names should be written in 'snake_case' not 'camelCase'")
    if any(_CAMEL.search(n) for n in label_names):
        out.append("label names should be written in 'snake_case' not 'camelCase'")
    unit = _unit(name)
    if unit is not None and unit[0] != unit[1]:
        out.append(f'use base unit "{unit[1]}" instead of "{unit[0]}"')
    if any(w in _ABBREVIATIONS for w in name.split("_")):
        out.append("metric names should not contain abbreviated units")
    if kind == "counter" and not name.endswith("_total"):
        out.append('counter metrics should have "_total" suffix')
    if kind != "counter" and name.endswith("_total"):
        out.append('non-counter metrics should not have "_total" suffix')
    if kind not in ("histogram", "summary"):
        for suffix in ("_count", "_sum", "_bucket"):
            if name.endswith(suffix):
                out.append(f'non-histogram and non-summary metrics should not have "{suffix}" suffix')
        if "quantile" in label_names:
            out.append('non-summary metrics should not have "quantile" label')
    if kind != "histogram" and "le" in label_names:
        out.append('non-histogram metrics should not have "le" label')
    for t in _TYPES:
        if f"_{t}_" in name or name.endswith(f"_{t}"):
            out.append(f"metric name should not include type '{t}'")
    return out


def lint(text: str) -> list[Problem]:
    """Problems in an exposition (text format 0.0.4), sorted by metric then text; raises
    ``textparse.ParseError`` when the text does not parse at all."""
    expo = parse(text)
    families: dict[str, set[str]] = {name: set() for name in expo.metadata}
    for s in expo.samples:
        fam = _family(s.name, expo.metadata)
        families.setdefault(fam, set()).update(k for k, _ in s.labels)
    problems = {Problem(name, t) for name, labels in families.items()
                for t in _lint_family(name, expo.metadata.get(name, Metadata()), labels)}
    return sorted(problems)
