"""guardia's own SLO form (an entry of ``slos:`` in guardia.yml, or of an SLO file).

::

    - name: availability
      service: api
      objective: 99.9            # percent (or 0.999)
      window: 30d                # any duration, or month / week (calendar, UTC)
      indicator:
        ratio:
          errors: http_requests_total{job="api",status=~"5.."}
          total: http_requests_total{job="api"}
      alerting: {name: APIErrorBudgetBurn, page: {labels: {team: backend}}}
"""

from __future__ import annotations

from typing import Any

from guardia.config.errors import Path as FieldPath
from guardia.slo import indicators
from guardia.slo.period import Period, PeriodError
from guardia.slo.reader import Reader
from guardia.slo.spec import DEFAULT_MIN_EVENTS, SLO, Alerting, AlertSpec, Indicator

_FIELDS = {"name", "service", "objective", "window", "description", "labels", "indicator",
           "alerting", "min_events", "source"}
_INDICATORS = {"ratio", "latency", "probe", "bool_gauge", "raw"}


def read_own(r: Reader, d: dict[str, Any], path: FieldPath) -> SLO | None:
    before = len(r.issues)
    r.known(d, path, _FIELDS, "an SLO")
    name = r.text(d, "name", path, required=True)
    service = r.text(d, "service", path, required=True)
    objective = r.objective_percent(d, "objective", path, allow_ratio=True) if "objective" in d else None
    if "objective" not in d:
        r.err(path, "objective is required (a percentage such as 99.9)")
    period = read_period(r, d.get("window", "30d"), (*path, "window"))
    min_events = DEFAULT_MIN_EVENTS
    if "min_events" in d:
        v = d["min_events"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            r.err((*path, "min_events"), "min_events must be a whole number of events, 0 or more")
        else:
            min_events = v
    ind, grouping = read_indicator(r, d.get("indicator"), (*path, "indicator"))
    alerting = read_alerting(r, d.get("alerting"), (*path, "alerting"))
    if len(r.issues) > before and any(i.severity == "error" for i in r.issues[before:]):
        return None
    assert objective is not None and period is not None and ind is not None
    return SLO(service=service, name=name, objective=objective, period=period, indicator=ind,
               description=r.text(d, "description", path), labels=r.labels(d, "labels", path),
               alerting=alerting, grouping=grouping, min_events=min_events, file=r.src.file,
               source=r.text(d, "source", path))


def read_period(r: Reader, value: Any, path: FieldPath) -> Period | None:
    if isinstance(value, dict):
        # window: {calendar: month}
        cal = value.get("calendar")
        if isinstance(cal, str):
            value = cal
    try:
        return Period.parse(str(value))
    except PeriodError as e:
        r.err(path, str(e))
        return None


def read_indicator(r: Reader, value: Any, path: FieldPath) -> tuple[Indicator | None, tuple[str, ...]]:
    d = r.mapping(value, path, "indicator")
    if d is None:
        if value is None:
            r.err(path, "indicator is required: one of ratio, latency, probe, bool_gauge, raw")
        return None, ()
    kinds = [k for k in d if k in _INDICATORS]
    r.known(d, path, _INDICATORS | {"grouping"}, "indicator")
    if len(kinds) != 1:
        r.err(path, "indicator needs exactly one of ratio, latency, probe, bool_gauge, raw"
              + (f" (found {', '.join(kinds)})" if kinds else ""))
        return None, ()
    kind = kinds[0]
    grouping = r.names(d, "grouping", path)
    body = d[kind]
    p = (*path, kind)
    with r.catching(p, indicators.IndicatorError):
        if kind == "ratio":
            m = r.mapping(body, p, "ratio")
            if m is None:
                return None, ()
            r.known(m, p, {"errors", "total", "grouping"}, "ratio")
            grouping = grouping or r.names(m, "grouping", p)
            errors, total = r.text(m, "errors", p, required=True), r.text(m, "total", p, required=True)
            if not errors or not total:
                return None, ()
            return indicators.ratio(errors, total, grouping), grouping
        if kind == "latency":
            m = r.mapping(body, p, "latency")
            if m is None:
                return None, ()
            r.known(m, p, {"metric", "threshold", "selector", "le", "grouping"}, "latency")
            grouping = grouping or r.names(m, "grouping", p)
            thr = r.number(m, "threshold", p) if "le" not in m or "threshold" in m else 0.0
            if thr is None:
                return None, ()
            le = r.text(m, "le", p) if "le" in m else None
            return indicators.latency(r.text(m, "metric", p, required=True), thr,
                                      r.text(m, "selector", p), grouping, le=le), grouping
        if kind == "probe":
            if isinstance(body, dict):
                return indicators.probe({str(k): str(v) for k, v in body.items()}, grouping), grouping
            return indicators.probe(str(body), grouping), grouping
        if kind == "bool_gauge":
            sel = body.get("metric", "") if isinstance(body, dict) else body
            return indicators.bool_gauge(str(sel), grouping), grouping
        return indicators.raw(str(body)), grouping
    return None, ()


def read_alert_spec(r: Reader, value: Any, path: FieldPath, keys: tuple[str, str, str]) -> AlertSpec:
    """``keys``: the names of the disable, labels and annotations fields in this format."""
    d = r.mapping(value, path, "alert")
    if d is None:
        return AlertSpec()
    disable_key, labels_key, ann_key = keys
    r.known(d, path, set(keys), "alert")
    return AlertSpec(disable=r.flag(d, disable_key, path), labels=r.labels(d, labels_key, path),
                     annotations=r.labels(d, ann_key, path))


def read_alerting(r: Reader, value: Any, path: FieldPath) -> Alerting:
    d = r.mapping(value, path, "alerting")
    if d is None:
        return Alerting()
    r.known(d, path, {"name", "labels", "annotations", "page", "ticket", "absent", "disable"},
            "alerting")
    keys = ("disable", "labels", "annotations")
    return Alerting(
        name=r.text(d, "name", path, default="SLOErrorBudgetBurn"),
        labels=r.labels(d, "labels", path),
        annotations=r.labels(d, "annotations", path),
        page=read_alert_spec(r, d.get("page"), (*path, "page"), keys),
        ticket=read_alert_spec(r, d.get("ticket"), (*path, "ticket"), keys),
        absent=r.flag(d, "absent", path, True),
        disable=r.flag(d, "disable", path),
    )
