"""Build an SLI's error and total queries from what the user wrote.

A ratio given as two selectors, a latency objective given as a histogram and a threshold,
a probe or a 0/1 gauge all become per-second rates of bad and of all events over
``{{.window}}``, so the recording rules, the traffic guard and the budget treat them alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from guardia.model.labels import escape_label_value, is_valid_label_name
from guardia.promql import ParseError, parse
from guardia.promql.plan import VectorSelector
from guardia.slo.spec import Indicator, has_window, render, unknown_placeholders


class IndicatorError(ValueError):
    """An SLI that cannot be turned into queries; the message says what to write instead.

    ``field`` names the sub-field at fault (``errors``, ``total``) when there is one, so the
    error points at its line.
    """

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def _by(grouping: Sequence[str]) -> str:
    return f" by ({', '.join(grouping)})" if grouping else ""


def check_query(text: str, what: str, field: str = "") -> None:
    """The query must parse once ``{{.window}}`` is filled in."""
    bad = unknown_placeholders(text)
    if bad:
        raise IndicatorError(f"{what}: unknown template variable {{{{.{bad[0]}}}}}; only "
                             "{{.window}} is filled in", field)
    try:
        parse(render(text, 300_000))
    except ParseError as e:
        raise IndicatorError(f"{what}: {e}", field) from None


def is_selector(text: str) -> bool:
    try:
        return isinstance(parse(text), VectorSelector)
    except ParseError:
        return False


def _rate_of(text: str, what: str, grouping: Sequence[str]) -> str:
    """A selector becomes ``sum(rate(SEL[{{.window}}]))``; a query must use ``{{.window}}``."""
    text = text.strip()
    if not text:
        raise IndicatorError(f"{what} must be set", what)
    if "{{" not in text and is_selector(text):
        return f"sum{_by(grouping)}(rate({text}[{{{{.window}}}}]))"
    if not has_window(text):
        raise IndicatorError(
            f"{what}: {text!r} is neither a series selector (like http_requests_total{{job=\"api\"}}) "
            "nor a query using {{.window}} (like sum(rate(http_requests_total[{{.window}}])))", what)
    check_query(text, what, what)
    return text


def ratio(errors: str, total: str, grouping: Sequence[str] = ()) -> Indicator:
    e = _rate_of(errors, "errors", grouping)
    t = _rate_of(total, "total", grouping)
    if not grouping and "{{" not in errors:
        # No error series yet (no 5xx since the process started) means no errors, not no SLI.
        e = f"{e} or vector(0)"
    return Indicator("ratio", errors=e, total=t, source=f"errors: {errors.strip()}\ntotal: {total.strip()}")


def raw(error_ratio: str) -> Indicator:
    if not has_window(error_ratio):
        raise IndicatorError("error_ratio_query must use {{.window}} in its range, e.g. "
                             "[{{.window}}]")
    check_query(error_ratio, "error_ratio_query")
    return Indicator("raw", raw=error_ratio.strip(), source=error_ratio.strip())


def _format_le(threshold: float) -> str:
    """Bucket bounds as client libraries write them (``0.5``, ``1.0``, ``+Inf``)."""
    if threshold == float("inf"):
        return "+Inf"
    text = repr(float(threshold))
    return text


def _with_matcher(selector: str, name: str, extra: Mapping[str, str]) -> str:
    """``{job="api"}`` + metric name + ``le="0.5"`` → ``name{job="api",le="0.5"}``."""
    sel = selector.strip()
    inner = ""
    if sel:
        if not (sel.startswith("{") and sel.endswith("}")):
            raise IndicatorError(f"selector {selector!r} must be label matchers in braces, "
                                 'like {job="api"}')
        inner = sel[1:-1].strip().rstrip(",")
    parts = [inner] if inner else []
    parts += [f'{k}="{escape_label_value(v)}"' for k, v in extra.items()]
    out = f"{name}{{{','.join(parts)}}}"
    try:
        node = parse(out)
    except ParseError as e:
        raise IndicatorError(f"selector {selector!r}: {e}") from None
    if not isinstance(node, VectorSelector):
        raise IndicatorError(f"selector {selector!r} must be label matchers in braces")
    return out


def latency(metric: str, threshold: float, selector: str = "", grouping: Sequence[str] = (),
            le: str | None = None) -> Indicator:
    """Requests slower than ``threshold`` seconds are errors: count minus the bucket at it."""
    base = metric.strip()
    for suffix in ("_bucket", "_count", "_sum"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    if not base:
        raise IndicatorError("latency needs metric: the histogram's name, e.g. "
                             "http_request_duration_seconds")
    bound = le if le is not None else _format_le(threshold)
    good = _with_matcher(selector, f"{base}_bucket", {"le": bound})
    total = _with_matcher(selector, f"{base}_count", {})
    g = _by(grouping)
    errors = (f"sum{g}(rate({total}[{{{{.window}}}}]))\n-\n"
              f"sum{g}(rate({good}[{{{{.window}}}}]))")
    return Indicator("latency", errors=errors, total=f"sum{g}(rate({total}[{{{{.window}}}}]))",
                     source=f"{base} slower than {bound}s {selector.strip()}".strip())


def latency_buckets(success: str, total: str, grouping: Sequence[str] = ()) -> Indicator:
    """pyrra's form: the bucket selector (with ``le``) and the count selector."""
    for what, sel in (("success", success), ("total", total)):
        if not is_selector(sel):
            raise IndicatorError(f"latency {what}.metric must be a series selector, got {sel!r}")
    g = _by(grouping)
    t = f"sum{g}(rate({total.strip()}[{{{{.window}}}}]))"
    errors = f"{t}\n-\nsum{g}(rate({success.strip()}[{{{{.window}}}}]))"
    return Indicator("latency", errors=errors, total=t,
                     source=f"success: {success.strip()}\ntotal: {total.strip()}")


def bool_gauge(selector: str, grouping: Sequence[str] = (), kind: str = "bool_gauge") -> Indicator:
    """Every sample of a 0/1 gauge is an event; a 0 is a bad one."""
    sel = selector.strip()
    if not is_selector(sel):
        raise IndicatorError(f"{kind} must be a series selector such as up{{job=\"api\"}}, got {selector!r}")
    g = _by(grouping)
    w = "[{{.window}}]"
    secs = "{{.window_seconds}}"
    total = f"sum{g}(count_over_time({sel}{w})) / {secs}"
    errors = f"sum{g}(count_over_time({sel}{w}) - sum_over_time({sel}{w})) / {secs}"
    return Indicator(kind, errors=errors, total=total, source=sel)


def probe(matchers: Mapping[str, str] | str, grouping: Sequence[str] = ()) -> Indicator:
    """``probe_success`` of a probe: by label matchers, or by the probe's name (its job)."""
    labels = {"job": matchers} if isinstance(matchers, str) else dict(matchers)
    if not labels:
        raise IndicatorError("probe needs the probe's name or label matchers, e.g. "
                             "{job: blackbox, instance: https://api.example.org/health}")
    for k in labels:
        if not is_valid_label_name(k):
            raise IndicatorError(f"probe: invalid label name {k!r}")
    sel = "probe_success{" + ",".join(f'{k}="{escape_label_value(str(v))}"'
                                      for k, v in labels.items()) + "}"
    return bool_gauge(sel, grouping, kind="probe")
