"""Numbers and results in the exact JSON shape of the Prometheus API.

Sample values are strings formatted like Go's ``strconv.FormatFloat(v, 'f', -1, 64)``
(shortest round-trip digits, never an exponent; ``NaN``, ``+Inf``, ``-Inf``), timestamps are
JSON numbers in seconds with millisecond decimals.  Alert values use the ``'e'`` format.
A matrix is formatted one series at a time from its numpy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from guardia.model import Labels, format_rfc3339
from guardia.storage.interface import Series

_INF = math.inf


def fmt_value(v: float) -> str:
    if v != v:
        return "NaN"
    if v == _INF:
        return "+Inf"
    if v == -_INF:
        return "-Inf"
    s = repr(v)
    if "e" in s:
        return str(np.format_float_positional(v, trim="-"))
    if s.endswith(".0"):
        return s[:-2]
    return s


def fmt_value_e(v: float) -> str:
    """Go's ``FormatFloat(v, 'e', -1, 64)``, used for alert values in /api/v1/alerts."""
    if v != v:
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return str(np.format_float_scientific(v, trim="-", exp_digits=2))


def fmt_ts(t: int) -> int | float:
    """Milliseconds to the API's seconds number (an integer when there are no millis)."""
    return t // 1000 if t % 1000 == 0 else t / 1000


def fmt_time(t: int | None) -> str:
    """RFC 3339 for "last scrape"-style fields; Go's zero time when never happened."""
    return "0001-01-01T00:00:00Z" if t is None else format_rfc3339(t)


def labels_dict(labels: Labels) -> dict[str, str]:
    return dict(labels)


def fmt_values(values: npt.NDArray[np.float64]) -> list[str]:
    """``fmt_value`` over an array, with C-speed paths for the common cases."""
    finite = np.isfinite(values)
    if finite.all():
        whole = values == np.floor(values)
        if whole.all() and (np.abs(values) < 2**53).all():
            out = list(map(str, values.astype(np.int64).tolist()))
            if (values == 0).any():  # keep the sign of -0.0 as Go does
                neg0 = np.flatnonzero((values == 0) & np.signbit(values))
                for i in neg0.tolist():
                    out[i] = "-0"
            return out
        reprs = list(map(repr, values.tolist()))
        if not any("e" in r for r in reprs):
            return [r[:-2] if r.endswith(".0") else r for r in reprs]
    return list(map(fmt_value, values.tolist()))


def series_points(s: Series) -> list[tuple[int | float, str]]:
    ts = s.timestamps
    if ts.shape[0] == 0:
        return []
    if not (ts % 1000).any():
        tl: list[Any] = (ts // 1000).tolist()
    else:
        tl = [fmt_ts(t) for t in ts.tolist()]
    return list(zip(tl, fmt_values(s.values), strict=True))


def matrix(series: Iterable[Series]) -> list[dict[str, Any]]:
    return [{"metric": dict(s.labels), "values": series_points(s)} for s in series]


def vector(samples: Iterable[Any]) -> list[dict[str, Any]]:
    """Samples with ``.labels``, ``.t`` (ms) and ``.v``."""
    return [{"metric": dict(s.labels), "value": (fmt_ts(s.t), fmt_value(s.v))} for s in samples]


def result_data(result_type: str, value: Any) -> dict[str, Any]:
    """``data`` of a query answer from an engine result's type and value."""
    if result_type == "vector":
        out: Any = vector(value)
    elif result_type == "matrix":
        out = matrix(value)
    elif result_type == "scalar":
        t, v = value
        out = (fmt_ts(int(t)), fmt_value(float(v)))
    elif result_type == "string":
        t, v = value
        out = (fmt_ts(int(t)), str(v))
    else:
        raise ValueError(f"unknown result type {result_type!r}")
    return {"resultType": result_type, "result": out}
