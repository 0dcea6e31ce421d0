"""The agent's ``/metrics`` body, written without ``prometheus_client.exposition``.

That module alone pulls in ``http.server``, ``urllib.request``, ``wsgiref``, ``email`` and
``certifi`` (about 3 MiB of resident memory), none of which an agent otherwise loads, only for
``generate_latest``.  This writer produces the same bytes under the same content type: the
Prometheus text format with prometheus_client's munging (``_total`` on counters, ``_info``,
``untyped``, ``_created``/``_gsum``/``_gcount`` as gauges after their family).  A metric or label
name outside the legacy character set (which guardia's own metrics never use) is handed to
``generate_latest`` itself, so its escaping stays prometheus_client's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

# what ``prometheus_client.exposition.CONTENT_TYPE_LATEST`` says (tests/web check the two agree)
CONTENT_TYPE = "text/plain; version=1.0.0; charset=utf-8"

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_TYPES = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram", "unknown": "untyped"}
_SEPARATE = ("_created", "_gsum", "_gcount")  # OpenMetrics-only samples: gauges of their own


class _NotLegacy(Exception):
    """A name needs escaping: leave the whole body to prometheus_client."""


def go_float(v: float) -> str:
    """A value as Go's ``strconv.FormatFloat(v, 'g', -1, 64)`` would write it for the values
    Prometheus clients write (``+Inf``, ``NaN``; exponent from 1e+06 up for positive values)."""
    v = float(v)
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if math.isnan(v):
        return "NaN"
    s = repr(v)
    dot = s.find(".")
    if v > 0 and dot > 6:
        mantissa = f"{s[0]}.{s[1:dot]}{s[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return s


def _help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _label_value(v: str) -> str:
    return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')


def _line(s: Sample) -> str:
    if not _METRIC_NAME.match(s.name):
        raise _NotLegacy
    labels = ""
    if s.labels:
        parts = []
        for k, v in sorted(s.labels.items()):
            if not _LABEL_NAME.match(k):
                raise _NotLegacy
            parts.append(f'{k}="{_label_value(v)}"')
        labels = "{" + ",".join(parts) + "}"
    ts = "" if s.timestamp is None else f" {int(float(s.timestamp) * 1000):d}"  # type: ignore[arg-type]
    return f"{s.name}{labels} {go_float(s.value)}{ts}\n"


def _family(metric: Metric, out: list[str]) -> None:
    name, kind = metric.name, metric.type
    if kind == "counter":
        name += "_total"
    elif kind == "info":
        name += "_info"
    if not _METRIC_NAME.match(name):
        raise _NotLegacy
    doc = _help(metric.documentation)
    out.append(f"# HELP {name} {doc}\n# TYPE {name} {_TYPES.get(kind, kind)}\n")
    separate: dict[str, list[str]] = {}
    for s in metric.samples:
        for suffix in _SEPARATE:
            if s.name == metric.name + suffix:
                separate.setdefault(suffix, []).append(_line(s))
                break
        else:
            out.append(_line(s))
    for suffix, lines in sorted(separate.items()):
        out.append(f"# HELP {metric.name}{suffix} {doc}\n# TYPE {metric.name}{suffix} gauge\n")
        out.extend(lines)


def text_exposition(registry: Collector) -> bytes:
    """``generate_latest(registry)``, byte for byte, without importing it."""
    metrics: Iterable[Metric] = registry.collect()
    out: list[str] = []
    try:
        for metric in metrics:
            _family(metric, out)
    except _NotLegacy:
        from prometheus_client.exposition import generate_latest

        return generate_latest(registry)
    return "".join(out).encode()
