"""pyrra's ``ServiceLevelObjective`` (``apiVersion: pyrra.dev/v1alpha1``) as it is.

pyrra names the SLO by ``metadata.name`` and has no service field; guardia takes the service
from ``metadata.labels.service``, else the namespace, else the name, so its series and
alerts group the way the rest of guardia's SLOs do.  Native-histogram latency
(``latencyNative``) is refused with a message: guardia's store keeps float samples only.
"""

from __future__ import annotations

from typing import Any

from guardia.config.errors import Path as FieldPath
from guardia.slo import indicators
from guardia.slo.own import read_period
from guardia.slo.reader import Reader
from guardia.slo.spec import SLO, Alerting, AlertSpec, Indicator


def read_pyrra(r: Reader, doc: dict[str, Any], path: FieldPath) -> list[SLO]:
    before = len(r.issues)
    meta = r.mapping(doc.get("metadata"), (*path, "metadata"), "metadata") or {}
    mp = (*path, "metadata")
    name = r.text(meta, "name", mp, required=True)
    meta_labels = r.labels(meta, "labels", mp)
    service = meta_labels.get("service") or r.text(meta, "namespace", mp) or name
    sp = (*path, "spec")
    spec = r.mapping(doc.get("spec"), sp, "spec")
    if spec is None:
        r.err(sp, "a ServiceLevelObjective needs a spec")
        return []
    r.known(spec, sp, {"target", "window", "description", "indicator", "alerting",
                       "serviceLevel"}, "spec", "warning")
    objective = r.objective_percent(spec, "target", sp)
    period = read_period(r, spec.get("window", "28d"), (*sp, "window"))
    ind, grouping = _read_indicator(r, spec.get("indicator"), (*sp, "indicator"))
    alerting = _read_alerting(r, spec.get("alerting"), (*sp, "alerting"))
    if any(i.severity == "error" for i in r.issues[before:]):
        return []
    assert objective is not None and period is not None and ind is not None
    # pyrra's own labels for Prometheus Operator selection are not SLO labels.
    labels = {k: v for k, v in meta_labels.items() if k not in ("prometheus", "role", "service")}
    return [SLO(service=service, name=name, objective=objective, period=period, indicator=ind,
                description=r.text(spec, "description", sp), labels=labels, alerting=alerting,
                grouping=grouping, file=r.src.file, format="pyrra")]


def _metric(r: Reader, d: dict[str, Any], key: str, p: FieldPath) -> str:
    m = r.mapping(d.get(key), (*p, key), key)
    if m is None:
        r.err((*p, key), f"{key}.metric is required")
        return ""
    return r.text(m, "metric", (*p, key), required=True)


def _read_indicator(r: Reader, value: Any, p: FieldPath) -> tuple[Indicator | None, tuple[str, ...]]:
    d = r.mapping(value, p, "indicator")
    if d is None:
        r.err(p, "indicator is required (ratio, latency or boolGauge)")
        return None, ()
    if "latencyNative" in d:
        r.err((*p, "latencyNative"), "native-histogram latency is not supported (guardia stores "
              "float samples); use latency with the classic _bucket and _count series")
        return None, ()
    with r.catching(p, indicators.IndicatorError):
        for kind in ("ratio", "latency", "boolGauge"):
            body = r.mapping(d.get(kind), (*p, kind), kind)
            if body is None:
                continue
            kp = (*p, kind)
            grouping = r.names(body, "grouping", kp)
            if kind == "boolGauge":
                return indicators.bool_gauge(_metric_text(r, body, kp), grouping), grouping
            if kind == "ratio":
                e, t = _metric(r, body, "errors", kp), _metric(r, body, "total", kp)
                if not e or not t:
                    return None, ()
                return indicators.ratio(e, t, grouping), grouping
            s, t = _metric(r, body, "success", kp), _metric(r, body, "total", kp)
            if not s or not t:
                return None, ()
            return indicators.latency_buckets(s, t, grouping), grouping
        r.err(p, "indicator needs ratio, latency or boolGauge")
    return None, ()


def _metric_text(r: Reader, body: dict[str, Any], p: FieldPath) -> str:
    return r.text(body, "metric", p, required=True)


def _read_alerting(r: Reader, value: Any, p: FieldPath) -> Alerting:
    d = r.mapping(value, p, "alerting") or {}
    disabled = r.flag(d, "disabled", p)
    burnrates = r.flag(d, "burnrates", p, True)
    off = AlertSpec(disable=not burnrates)
    return Alerting(name=r.text(d, "name", p, default="ErrorBudgetBurn"), page=off, ticket=off,
                    absent=r.flag(d, "absent", p, True), disable=disabled)
