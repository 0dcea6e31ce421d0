"""Prometheus's template functions for alert labels/annotations and console templates."""

from __future__ import annotations

import functools
import ipaddress
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlsplit

from guardia.template.builtins import BUILTINS, SafeHTML, StringMap
from guardia.template.errors import TemplateError, TemplateFuncError
from guardia.template.gotime import GoDuration
from guardia.template.parse import Tree, parse_text
from guardia.template.template import Template
from guardia.template.textfuncs import (
    go_title,
    humanize,
    humanize1024,
    humanize_duration,
    humanize_percentage,
    humanize_timestamp,
    match,
    re_replace_all,
    time_from_seconds,
    to_float,
)


@dataclass(slots=True)
class QuerySample:
    """One element of a ``query`` result as templates see it (``.Labels``, ``.Value``)."""

    Labels: dict[str, str]
    Value: float


QueryFunc = Callable[[str], Iterable[Any]]


def _to_sample(s: Any) -> QuerySample:
    if isinstance(s, QuerySample):
        return s
    if isinstance(s, tuple) and len(s) == 2 and not hasattr(s, "labels"):
        labels, value = s
    else:
        labels = getattr(s, "labels", None)
        value = getattr(s, "v", getattr(s, "value", None))
    if labels is None or value is None:
        raise TemplateFuncError(f"query returned an unsupported sample {s!r}")
    return QuerySample(StringMap(labels), float(value))


def _split_host_port(hp: str) -> tuple[str, str] | None:
    """net.SplitHostPort; None when it is not host:port."""
    if hp.startswith("["):
        end = hp.find("]")
        if end < 0 or not hp[end + 1:].startswith(":"):
            return None
        return hp[1:end], hp[end + 2:]
    if hp.count(":") != 1:
        return None
    host, port = hp.split(":")
    return host, port


def strip_port(hp: str) -> str:
    sp = _split_host_port(hp)
    return hp if sp is None else sp[0]


def strip_domain(hp: str) -> str:
    sp = _split_host_port(hp)
    host, port = (hp, "") if sp is None else sp
    try:
        ipaddress.ip_address(host)
        return hp
    except ValueError:
        pass
    host = host.split(".")[0]
    if port:
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host


def graph_link(expr: str) -> str:
    return f"/graph?g0.expr={quote_plus(expr, safe='')}&g0.tab=0"


def table_link(expr: str) -> str:
    return f"/graph?g0.expr={quote_plus(expr, safe='')}&g0.tab=1"


def parse_duration_seconds(d: str) -> float:
    from guardia.model import DurationError, parse_duration

    try:
        return parse_duration(d) / 1000.0
    except DurationError as e:
        raise TemplateFuncError(str(e)) from None


def _args(*args: Any) -> dict[str, Any]:
    return {f"arg{i}": a for i, a in enumerate(args)}


def prometheus_funcs(query_func: QueryFunc | None = None,
                     external_url: str = "",
                     eval_time_ms: int | None = None) -> dict[str, Callable[..., Any]]:
    """The function map Prometheus gives alert and console templates.

    ``query_func(expr)`` runs an instant query at the evaluation time and returns samples
    (objects with ``.labels`` and ``.v``/``.value``, or ``(labels, value)`` pairs).
    ``eval_time_ms`` is what ``now`` returns (the rule's evaluation time; default: the clock).
    """
    url = urlsplit(external_url)

    def query(q: str) -> list[QuerySample]:
        if query_func is None:
            raise TemplateFuncError("no query function available in this context")
        return [_to_sample(s) for s in query_func(q)]

    def first(v: list[QuerySample]) -> QuerySample:
        if v:
            return v[0]
        raise TemplateFuncError("first() called on vector with no elements")

    def label(name: str, s: QuerySample | None) -> str:
        if s is None:
            raise TemplateFuncError("invalid memory address or nil pointer dereference")
        return s.Labels.get(name, "")

    def value(s: QuerySample | None) -> float:
        if s is None:
            raise TemplateFuncError("invalid memory address or nil pointer dereference")
        return s.Value

    def strvalue(s: QuerySample) -> str:
        return s.Labels.get("__value__", "")

    def sort_by_label(name: str, v: list[QuerySample]) -> list[QuerySample]:
        v.sort(key=lambda s: s.Labels.get(name, ""))
        return v

    def to_time(i: Any) -> Any:
        v = to_float(i)
        if math.isnan(v) or math.isinf(v):
            raise TemplateFuncError(f"cannot convert {v} to time")
        return time_from_seconds(v)

    def to_duration(i: Any) -> GoDuration:
        v = to_float(i)
        if math.isnan(v) or math.isinf(v):
            raise TemplateFuncError(f"cannot convert {v} to duration")
        return GoDuration.from_seconds(v)

    def now() -> float:
        return (eval_time_ms if eval_time_ms is not None else int(time.time() * 1000)) / 1000

    return {
        "toDuration": to_duration,
        "now": now,
        "query": query,
        "first": first,
        "label": label,
        "value": value,
        "strvalue": strvalue,
        "args": _args,
        "reReplaceAll": re_replace_all,
        "safeHtml": SafeHTML,
        "match": match,
        "title": go_title,
        "toUpper": lambda s: s.upper(),
        "toLower": lambda s: s.lower(),
        "graphLink": graph_link,
        "tableLink": table_link,
        "sortByLabel": sort_by_label,
        "stripPort": strip_port,
        "stripDomain": strip_domain,
        "humanize": humanize,
        "humanize1024": humanize1024,
        "humanizeDuration": humanize_duration,
        "humanizePercentage": humanize_percentage,
        "humanizeTimestamp": humanize_timestamp,
        "toTime": to_time,
        "pathPrefix": lambda: url.path,
        "externalURL": lambda: external_url,
        "parseDuration": parse_duration_seconds,
    }


@dataclass(slots=True)
class AlertTemplateData:
    """What ``.`` is in an alert's label and annotation templates."""

    Labels: Mapping[str, str]
    ExternalLabels: Mapping[str, str]
    ExternalURL: str
    Value: float

    def __post_init__(self) -> None:
        self.Labels = StringMap(self.Labels)
        self.ExternalLabels = StringMap(self.ExternalLabels)


ALERT_DEFS = ("{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}"
              "{{$externalURL := .ExternalURL}}{{$value := .Value}}")


def expand_alert_template(
    text: str,
    alert_name: str,
    data: AlertTemplateData,
    query_func: QueryFunc | None = None,
    external_url: str = "",
    eval_time_ms: int | None = None,
) -> str:
    """Expand one label/annotation template exactly as Prometheus's alerting rule does.

    A template that fails yields ``<error expanding template: ...>`` as the value instead of
    raising, so one bad annotation never stops rule evaluation.
    """
    name = "__alert_" + alert_name
    tmpl = _template_for(query_func, external_url, eval_time_ms)
    try:
        tmpl.name = name
        tmpl.trees = dict(_parsed_alert_template(text, name))
    except TemplateError as e:
        return f"<error expanding template: error parsing template {name}: {e}>"
    try:
        return tmpl.execute(data)
    except TemplateError as e:
        return f"<error expanding template: error executing template {name}: {e}>"


def _template_for(query_func: QueryFunc | None, external_url: str,
                  eval_time_ms: int | None) -> Template:
    """A Template with Prometheus's functions; reused while the query function is the same
    (one rule evaluation), since building the function map is most of a small expansion."""
    cached: tuple[QueryFunc | None, str, int | None, Template] | None = getattr(
        _LAST, "t", None)
    if (cached is not None and cached[0] is query_func and cached[1] == external_url
            and cached[2] == eval_time_ms):
        return cached[3]
    tmpl = Template(prometheus_funcs(query_func, external_url, eval_time_ms))
    # Per thread: groups evaluate in parallel worker threads.
    _LAST.t = (query_func, external_url, eval_time_ms, tmpl)
    return tmpl


_LAST = threading.local()

_FUNC_NAMES = frozenset(prometheus_funcs()) | frozenset(BUILTINS)


@functools.lru_cache(maxsize=4096)
def _parsed_alert_template(text: str, name: str) -> dict[str, Tree]:
    """Parse once per (template, rule): every evaluation of every alert reuses the tree."""
    return parse_text(ALERT_DEFS + text, name, _FUNC_NAMES)


def check_alert_template(text: str, alert_name: str) -> str | None:
    """The parse error of a rule's template (as ``promtool check rules`` reports it), or None."""
    try:
        Template(prometheus_funcs()).parse(ALERT_DEFS + text, "__alert_" + alert_name)
    except TemplateError as e:
        return str(e)
    return None
