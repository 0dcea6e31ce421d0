"""Annotation texts (warnings and infos) as Prometheus words them.

The position suffix ``(line:col)`` points at the expression that caused it; the parser
binding gives no positions, so it is found by searching the query text.
"""

from __future__ import annotations

import json

INFO = "PromQL info"
WARNING = "PromQL warning"


def _q(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def position(query: str, needle: str) -> str:
    """``line:col`` (1-based) of ``needle`` in ``query``; ``1:1`` when not found."""
    i = query.find(needle) if needle else -1
    if i < 0:
        return "1:1"
    line = query.count("\n", 0, i) + 1
    col = i - (query.rfind("\n", 0, i) + 1) + 1
    return f"{line}:{col}"


def name_position(query: str, name: str) -> str:
    """``line:col`` of a metric name where it stands as a whole name (a selector), so
    ``m`` in ``max_over_time(m[5m])`` is found at the selector, not inside the function name."""
    import re

    m = re.search(rf"(?<![A-Za-z0-9_:]){re.escape(name)}(?![A-Za-z0-9_:])", query) if name else None
    if m is None:
        return position(query, name)
    i = m.start()
    line = query.count("\n", 0, i) + 1
    col = i - (query.rfind("\n", 0, i) + 1) + 1
    return f"{line}:{col}"


def possible_non_counter(metric: str) -> str:
    return (
        f"{INFO}: metric might not be a counter, name does not end in "
        f"_total/_sum/_count/_bucket: {_q(metric)}"
    )


def bad_bucket_label(label: str, metric: str) -> str:
    return (
        f'{WARNING}: bucket label "le" is missing or has a malformed value of {_q(label)} '
        f"for metric name {_q(metric)}"
    )


def invalid_ratio(r: float, capped: float) -> str:
    return f"{WARNING}: ratio value should be between -1 and 1, got {_g(r)}, capping to {_g(capped)}"


def invalid_quantile(q: float) -> str:
    return f"{WARNING}: quantile value should be between 0 and 1, got {_g(q)}"


def forced_monotonicity(metric: str) -> str:
    return (
        f"{INFO}: input to histogram_quantile needed to be fixed for monotonicity "
        "(see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) "
        f"for metric name {_q(metric)}"
    )


def incompatible_types(ltype: str, op: str, rtype: str) -> str:
    return f"{INFO}: incompatible sample types encountered for binary operator {_q(op)}: {ltype} {op} {rtype}"


def incompatible_bucket_layout(op: str) -> str:
    return f"{WARNING}: incompatible bucket layout encountered for binary operator {op}"


def mismatched_custom_buckets(during: str) -> str:
    return f"{INFO}: mismatched custom buckets were reconciled during {during}"


def mixed_exponential_custom(metric: str) -> str:
    return (
        f"{WARNING}: vector contains a mix of histograms with exponential and custom buckets "
        f"schemas for metric name {_q(metric)}"
    )


def mixed_classic_native(metric: str) -> str:
    return f"{WARNING}: vector contains a mix of classic and native histograms for metric name {_q(metric)}"


def mixed_floats_histograms(metric: str) -> str:
    return f"{WARNING}: encountered a mix of histograms and floats for metric name {_q(metric)}"


def mixed_floats_histograms_agg() -> str:
    return f"{WARNING}: encountered a mix of histograms and floats for aggregation"


def histogram_ignored_in_aggregation(op: str) -> str:
    return f"{INFO}: ignored histogram in {op} aggregation"


def histograms_ignored_in_mixed_range(metric: str) -> str:
    return (
        f"{INFO}: ignored histograms in a range containing both floats and histograms "
        f"for metric name {_q(metric)}"
    )


def not_a_counter(metric: str) -> str:
    return f"{WARNING}: this native histogram metric is not a counter: {_q(metric)}"


def not_a_gauge(metric: str) -> str:
    return f"{WARNING}: this native histogram metric is not a gauge: {_q(metric)}"


def sort_ineffective() -> str:
    return f"{WARNING}: sort is ineffective for range queries since results are always ordered by labels"


def _g(v: float) -> str:
    """Go's ``%g``."""
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+Inf" if v > 0 else "-Inf"
    s = f"{v:g}" if abs(v) >= 1e-4 and abs(v) < 1e21 else repr(v)
    return s
