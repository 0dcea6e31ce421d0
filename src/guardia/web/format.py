"""Numbers and results in the exact JSON shape of the Prometheus API.

Sample values are strings formatted like Go's ``strconv.FormatFloat(v, 'f', -1, 64)``
(shortest round-trip digits, never an exponent; ``NaN``, ``+Inf``, ``-Inf``), timestamps are
JSON numbers in seconds with millisecond decimals.  Alert values use the ``'e'`` format.
A matrix is encoded one series at a time from its numpy arrays straight to JSON text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from guardia.model import Labels, format_rfc3339
from guardia.model.histogram import FloatHistogram
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


def fmt_sample_value(v: float) -> str:
    """A float as Prometheus's HTTP API writes sample values, histogram numbers and
    exemplar values: Go's ``'f'`` format, except below 1e-6 or from 1e21 in magnitude, where
    it switches to ``'e'`` (``1e-07``, ``2.5e+22``), as the JSON encoder it follows does.
    Loki's API keeps ``'f'`` throughout (``fmt_value``)."""
    if v != 0 and v == v and (abs(v) < 1e-6 or 1e21 <= abs(v) < _INF):
        return repr(v)  # Python's repr is Go's shortest 'e' form here: "1.5e-07", "1e+22"
    return fmt_value(v)


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


def _float_texts(values: npt.NDArray[np.float64], one: Callable[[float], str] = fmt_value) -> list[str]:
    """Go's 'f' format for an array in one orjson call (shortest round-trip digits, the same
    as ``repr``): "1.0" loses its ".0" in one string replace; the rare exponent forms
    (below 1e-4 or from 1e16) and non-finite values (orjson's ``null``) go through
    ``one`` one by one."""
    if values.shape[0] == 0:
        return []
    body = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    body = ("," + body[1:-1] + ",").replace(".0,", ",")
    out = body[1:-1].split(",")
    if "e" in body or "n" in body:  # "1e-7", "null"
        vals = values.tolist()
        out = [one(v) if ("e" in x or x == "null") else x for x, v in zip(out, vals, strict=True)]
    return out


def fmt_values(values: npt.NDArray[np.float64]) -> list[str]:
    """``fmt_sample_value`` over an array without a Python call per value."""
    return _float_texts(np.asarray(values, dtype=np.float64), fmt_sample_value)


def fmt_ts_texts(ts: npt.NDArray[np.int64]) -> list[str]:
    """JSON number text of ``fmt_ts`` for a whole array: seconds with at most three decimals
    (``t / 1000`` prints as its shortest round-trip digits, which never need more)."""
    return _float_texts(ts / 1000.0)


def points_json(
    ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64], ts_texts: list[str] | None = None
) -> str:
    """``[[t,"v"],...]`` for one series, joined in C from the two formatted columns
    (``ts_texts``: ``fmt_ts_texts(ts)`` when the caller has it already)."""
    if ts.shape[0] == 0:
        return "[]"
    pairs = zip(fmt_ts_texts(ts) if ts_texts is None else ts_texts, fmt_values(values), strict=True)
    return "[[" + '"],['.join(map(',"'.join, pairs)) + '"]]'


# Prometheus's bucket boundary rules, by (lower inclusive, upper inclusive).
_RULES = {(False, True): 0, (True, False): 1, (False, False): 2, (True, True): 3}


def histogram_json(h: FloatHistogram) -> str:
    """A native histogram as the API writes it: count and sum as strings, and every
    non-empty bucket as ``[boundary rule, "lower", "upper", "count"]`` (rule 0: ``(l,u]``,
    1: ``[l,u)``, 3: ``[l,u]``; the positive, negative and zero buckets respectively)."""
    f = fmt_sample_value
    out = '{"count":"' + f(h.count) + '","sum":"' + f(h.sum) + '"'
    buckets = []
    for b in h.all_buckets():
        if b.count == 0:
            continue
        rule = _RULES[(b.lower_inclusive, b.upper_inclusive)]
        buckets.append(f'[{rule},"{f(b.lower)}","{f(b.upper)}","{f(b.count)}"]')
    if buckets:
        out += ',"buckets":[' + ",".join(buckets) + "]"
    return out + "}"


def _labels_json(labels: Labels) -> str:
    return orjson.dumps(dict(labels)).decode()


def matrix_json(series: Iterable[Series]) -> str:
    """Series after series; the series of a range answer usually share the step grid, so a
    series with the same timestamps as the one before reuses their texts."""
    parts = []
    last_ts: npt.NDArray[np.int64] | None = None
    last_texts: list[str] = []
    for s in series:
        ts = s.timestamps
        if last_ts is None or not np.array_equal(ts, last_ts):
            last_ts, last_texts = ts, fmt_ts_texts(ts)
        if s.histograms is None:
            points = points_json(ts, s.values, last_texts)
            parts.append('{"metric":' + _labels_json(s.labels) + ',"values":' + points + "}")
            continue
        parts.append(_mixed_series_json(s, last_texts))
    return "[" + ",".join(parts) + "]"


def _mixed_series_json(s: Series, ts_texts: list[str]) -> str:
    """A series holding histogram points: its floats under ``values`` and its histograms
    under ``histograms``, each key only when it has points (as Prometheus writes them)."""
    assert s.histograms is not None
    is_h = np.asarray(s.histograms != None, dtype=bool)  # noqa: E711 (element-wise)
    out = '{"metric":' + _labels_json(s.labels)
    if not is_h.all():
        keep = ~is_h
        out += ',"values":' + points_json(s.timestamps[keep], s.values[keep])
    hs = [
        "[" + ts_texts[i] + "," + histogram_json(h) + "]"
        for i, h in enumerate(s.histograms.tolist()) if h is not None
    ]
    return out + ',"histograms":[' + ",".join(hs) + "]}"


def vector_json(samples: Sequence[Any]) -> str:
    """Samples with ``.labels``, ``.t`` (ms) and ``.v``; numbers formatted column-wise."""
    if not samples:
        return "[]"
    ts = fmt_ts_texts(np.fromiter((s.t for s in samples), np.int64, len(samples)))
    vs = fmt_values(np.fromiter((s.v for s in samples), np.float64, len(samples)))
    return "[" + ",".join(
        '{"metric":' + _labels_json(s.labels) + ',"value":[' + t + ',"' + v + '"]}'
        if getattr(s, "h", None) is None
        else '{"metric":' + _labels_json(s.labels) + ',"histogram":[' + t + "," + histogram_json(s.h) + "]}"
        for s, t, v in zip(samples, ts, vs, strict=True)
    ) + "]"


def result_json(result_type: str, value: Any) -> bytes:
    """``data`` of a query answer as JSON bytes, from an engine result's type and value.

    A range answer can hold millions of points: each series is one pre-formatted fragment
    built from its numpy columns, never a Python list or tuple per point."""
    if result_type == "vector":
        out = vector_json(list(value))
    elif result_type == "matrix":
        out = matrix_json(value)
    elif result_type == "scalar":
        t, v = value
        # a scalar is written in 'f' form whatever its size (Prometheus's Scalar marshals
        # itself, without the vector encoder's switch to 'e')
        out = orjson.dumps((fmt_ts(int(t)), fmt_value(float(v)))).decode()
    elif result_type == "string":
        t, v = value
        out = orjson.dumps((fmt_ts(int(t)), str(v))).decode()
    else:
        raise ValueError(f"unknown result type {result_type!r}")
    return ('{"resultType":"' + result_type + '","result":' + out + "}").encode()
