"""Text forms of query results as promtool prints them (Prometheus's Go client's ``String``
methods), so scripts written around ``promtool query`` read ``guardia query`` the same.

Values use Go's shortest decimal form without an exponent (``strconv.FormatFloat(v, 'f', -1)``),
label values Go's ``%q`` quoting, timestamps seconds with up to three decimals.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import numpy as np


def go_float(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return str(np.format_float_positional(v, trim="-"))


def go_quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def timestamp(t: float | str) -> str:
    """model.Time: milliseconds, printed as seconds with the trailing zeros dropped."""
    ms = round(float(t) * 1000)
    sec, frac = divmod(ms, 1000)
    return f"{sec}.{frac:03d}".rstrip("0").rstrip(".") if frac else str(sec)


def metric(labels: dict[str, str]) -> str:
    """model.Metric: ``name{a="b", c="d"}``, the name alone, or ``{}``."""
    name = labels.get("__name__", "")
    rest = sorted(f"{k}={go_quote(v)}" for k, v in labels.items() if k != "__name__")
    if not rest:
        return name or "{}"
    return f"{name}{{{', '.join(rest)}}}"


def label_set(labels: dict[str, str]) -> str:
    """model.LabelSet: every label, ``__name__`` included, sorted by name."""
    return "{" + ", ".join(f"{k}={go_quote(labels[k])}" for k in sorted(labels)) + "}"


def _before(a: dict[str, str], b: dict[str, str]) -> int:
    """model.LabelSet.Before as a comparison: fewer labels first, then by the first differing
    label in name order."""
    if len(a) != len(b):
        return -1 if len(a) < len(b) else 1
    for name in sorted(set(a) | set(b)):
        if name not in a:
            return -1
        if name not in b:
            return 1
        if a[name] != b[name]:
            return -1 if a[name] < b[name] else 1
    return 0


def result_text(data: dict[str, Any]) -> str:
    """The text of an API ``data`` object (``resultType`` + ``result``), as promtool prints it."""
    kind, result = data.get("resultType"), data.get("result")
    if kind == "vector":
        return "\n".join(f"{metric(s['metric'])} => {go_float(float(s['value'][1]))} "
                         f"@[{timestamp(s['value'][0])}]" for s in result or [])
    if kind == "matrix":
        order = functools.cmp_to_key(lambda x, y: _before(x["metric"], y["metric"]))  # type: ignore[index]
        streams = sorted(result or [], key=order)
        return "\n".join(
            f"{metric(s['metric'])} =>\n" + "\n".join(
                f"{go_float(float(v))} @[{timestamp(t)}]" for t, v in s.get("values") or [])
            for s in streams)
    if kind == "scalar" and result:
        t, v = result
        return f"scalar: {go_float(float(v))} @[{timestamp(t)}]"
    if kind == "string" and result:
        t, v = result
        return f"{v} @[{timestamp(t)}]"
    return json.dumps(result)
