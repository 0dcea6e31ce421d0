"""OTLP metric and attribute names to Prometheus names, as Prometheus 3's OTLP receiver builds them.

``otlp.translation_strategy`` decides two things: whether names are escaped to the legacy
character set (``[a-zA-Z0-9_:]``, attributes ``[a-zA-Z0-9_]``) and whether type and unit
suffixes (``_total``, ``_seconds``, ``_ratio``, ``_per_second``) are appended.  Prometheus's
users query these names, so every rule here follows Prometheus's translator (and the
OpenTelemetry specification's "OTLP Metric points to Prometheus" section) rather than taste:
the unit table, the tokenising of the escaped form, ``key_`` for attributes starting with a
digit or a single underscore.
"""

from __future__ import annotations

import re
from enum import Enum, StrEnum
from functools import lru_cache

import numpy as np


class Strategy(StrEnum):
    """The values of ``otlp.translation_strategy`` (Prometheus 3 spells them this way)."""

    UNDERSCORE_ESCAPING_WITH_SUFFIXES = "UnderscoreEscapingWithSuffixes"
    UNDERSCORE_ESCAPING_WITHOUT_SUFFIXES = "UnderscoreEscapingWithoutSuffixes"
    NO_UTF8_ESCAPING_WITH_SUFFIXES = "NoUTF8EscapingWithSuffixes"
    NO_TRANSLATION = "NoTranslation"

    @property
    def escapes(self) -> bool:
        return self.value.startswith("UnderscoreEscaping")

    @property
    def suffixes(self) -> bool:
        return self in (Strategy.UNDERSCORE_ESCAPING_WITH_SUFFIXES, Strategy.NO_UTF8_ESCAPING_WITH_SUFFIXES)


class Kind(Enum):
    """The metric kinds naming depends on (a monotonic sum is a counter, a non-monotonic one a gauge)."""

    GAUGE = "gauge"
    COUNTER = "counter"
    NON_MONOTONIC_SUM = "non_monotonic_sum"
    HISTOGRAM = "histogram"
    EXPONENTIAL_HISTOGRAM = "exponential_histogram"
    SUMMARY = "summary"


# UCUM units (as OpenTelemetry writes them) to the plural words Prometheus names use.
_UNITS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds",
    "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tibibytes",
    "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams",
    "Cel": "celsius", "Hz": "hertz", "1": "", "%": "percent",
}
# The unit after a '/' is singular: "m/s" is meters_per_second.
_PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}

_NOT_NAME_TOKEN = re.compile(r"[^a-zA-Z0-9:]+")
_NOT_METRIC_CHAR = re.compile(r"[^a-zA-Z0-9:_]+")
_NOT_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9_]")
_NOT_UNIT_CHAR = re.compile(r"[^a-zA-Z0-9:]")
_RUNS_OF_UNDERSCORES = re.compile(r"__+")


def unit_suffixes(unit: str) -> tuple[str, str]:
    """The main and "per" suffixes for a UCUM unit; annotations (``{requests}``) give none."""
    main_otel, _, per_otel = unit.partition("/")
    main = per = ""
    main_otel = main_otel.strip()
    if main_otel and "{" not in main_otel and "}" not in main_otel:
        word = _UNITS.get(main_otel, main_otel)
        main = _RUNS_OF_UNDERSCORES.sub("_", _NOT_UNIT_CHAR.sub("_", word)).removeprefix("_")
    per_otel = per_otel.strip()
    if per_otel and "{" not in per_otel and "}" not in per_otel:
        per = "per_" + _PER_UNITS.get(per_otel, per_otel)
    if per:
        main = main.removesuffix("_")
    return main, per


def metric_name(name: str, unit: str, kind: Kind, strategy: Strategy) -> str:
    """The Prometheus metric (family) name for an OTLP metric."""
    if strategy.escapes:
        return _escaped_name(name, unit, kind, strategy.suffixes)
    if not strategy.suffixes:
        return name
    # UTF-8 kept: the name as sent, suffixes appended once each (an existing one is moved last).
    out = name
    tail: list[str] = []
    if unit == "1" and kind is Kind.GAUGE:
        out = _trim_suffix(out, "ratio")
        tail.insert(0, "ratio")
    if kind is Kind.COUNTER:
        out = _trim_suffix(out, "total")
        tail.insert(0, "total")
    main, per = unit_suffixes(unit)
    if per:
        out = _trim_suffix(out, per)
        tail.insert(0, per)
    if main and not out.endswith(main):
        out = f"{out}_{main}"
    return "_".join([out, *tail])


def _trim_suffix(name: str, suffix: str) -> str:
    if name.endswith("_" + suffix):
        return name[: -len(suffix) - 1]
    return name


def _escaped_name(name: str, unit: str, kind: Kind, suffixes: bool) -> str:
    if not suffixes:
        out = "_".join(t for t in _NOT_METRIC_CHAR.split(name) if t)
        return "_" + out if out[:1].isdigit() else out
    tokens = [t for t in _NOT_NAME_TOKEN.split(name) if t]
    main, per = unit_suffixes(unit)
    if main and main not in tokens:
        tokens.append(main)
    if per and per not in tokens:
        tokens.append(per)
    if kind is Kind.COUNTER:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind is Kind.GAUGE:
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    out = "_".join(tokens)
    return "_" + out if out[:1].isdigit() else out


@lru_cache(maxsize=4096)
def label_name(name: str, strategy: Strategy) -> str:
    """The Prometheus label name for an attribute key (UTF-8 strategies keep it as sent);
    cached: a sender repeats the same few keys on every point."""
    if not name or not strategy.escapes:
        return name
    out = _NOT_LABEL_CHAR.sub("_", name)
    if out[0].isdigit():
        return "key_" + out
    if out.startswith("_") and not out.startswith("__"):
        return "key" + out
    return out


def format_float(v: float) -> str:
    """A bucket bound or quantile as Go's ``FormatFloat(v, 'f', -1, 64)``: "0.005", "1", "+Inf"."""
    if v == float("inf"):
        return "+Inf"
    if v == float("-inf"):
        return "-Inf"
    if v != v:
        return "NaN"
    return str(np.format_float_positional(v, trim="-"))
