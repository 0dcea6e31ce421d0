"""sloth's SLO files as they are: ``version: prometheus/v1`` and the Kubernetes
``apiVersion: sloth.slok.dev/v1`` / ``kind: PrometheusServiceLevel`` form.

The two differ only in spelling (``error_query`` vs ``errorQuery``, ``page_alert`` vs
``pageAlert``) and in where the service sits, so one reader takes a key-spelling table.
sloth has no period field: its CLI defaults to 30 days, and so does guardia.
"""

from __future__ import annotations

from typing import Any

from guardia.config.errors import Path as FieldPath
from guardia.slo import indicators
from guardia.slo.own import read_alert_spec
from guardia.slo.period import Period
from guardia.slo.reader import Reader
from guardia.slo.spec import SLO, Alerting, Indicator

_SNAKE = {"error_query": "error_query", "total_query": "total_query",
          "error_ratio_query": "error_ratio_query", "page_alert": "page_alert",
          "ticket_alert": "ticket_alert"}
_CAMEL = {"error_query": "errorQuery", "total_query": "totalQuery",
          "error_ratio_query": "errorRatioQuery", "page_alert": "pageAlert",
          "ticket_alert": "ticketAlert"}

SLOTH_PERIOD = Period.parse("30d")


def read_sloth(r: Reader, doc: dict[str, Any], path: FieldPath, k8s: bool) -> list[SLO]:
    names = _CAMEL if k8s else _SNAKE
    if k8s:
        meta = r.mapping(doc.get("metadata"), (*path, "metadata"), "metadata") or {}
        spec_path: FieldPath = (*path, "spec")
        spec = r.mapping(doc.get("spec"), spec_path, "spec")
        if spec is None:
            r.err(spec_path, "a PrometheusServiceLevel needs a spec")
            return []
        r.known(spec, spec_path, {"service", "labels", "slos"}, "spec", "warning")
        del meta  # metadata labels are for Kubernetes; the operator uses spec.labels
        file_labels = r.labels(spec, "labels", spec_path)
    else:
        spec_path = path
        spec = doc
        r.known(spec, spec_path, {"version", "service", "labels", "slos"}, "a sloth spec", "warning")
        file_labels = r.labels(spec, "labels", spec_path)
    service = r.text(spec, "service", spec_path, required=True)
    slos = spec.get("slos")
    if not isinstance(slos, list) or not slos:
        r.err((*spec_path, "slos"), "slos must be a non-empty list")
        return []
    out = []
    for i, raw in enumerate(slos):
        p = (*spec_path, "slos", i)
        d = r.mapping(raw, p, "an SLO")
        if d is None:
            continue
        slo = _read_one(r, d, p, service, file_labels, names)
        if slo is not None:
            out.append(slo)
    return out


def _read_one(r: Reader, d: dict[str, Any], p: FieldPath, service: str,
              file_labels: dict[str, str], names: dict[str, str]) -> SLO | None:
    before = len(r.issues)
    r.known(d, p, {"name", "objective", "description", "labels", "sli", "alerting"}, "an SLO",
            "warning")
    name = r.text(d, "name", p, required=True)
    objective = r.objective_percent(d, "objective", p)
    ind = _read_sli(r, d.get("sli"), (*p, "sli"), names)
    alerting = _read_alerting(r, d.get("alerting"), (*p, "alerting"), names)
    if any(i.severity == "error" for i in r.issues[before:]):
        return None
    assert objective is not None and ind is not None
    return SLO(service=service, name=name, objective=objective, period=SLOTH_PERIOD,
               indicator=ind, description=r.text(d, "description", p),
               labels={**file_labels, **r.labels(d, "labels", p)}, alerting=alerting,
               file=r.src.file, format="sloth")


def _read_sli(r: Reader, value: Any, p: FieldPath, names: dict[str, str]) -> Indicator | None:
    d = r.mapping(value, p, "sli")
    if d is None:
        r.err(p, "sli is required (events or raw)")
        return None
    if "plugin" in d:
        r.err((*p, "plugin"), "sloth SLI plugins are not supported by guardia; write the plugin's "
              "queries as sli.events (error and total queries) or sli.raw")
        return None
    with r.catching(p, indicators.IndicatorError):
        if isinstance(d.get("events"), dict):
            ev = d["events"]
            ep = (*p, "events")
            e = r.text(ev, names["error_query"], ep, required=True)
            t = r.text(ev, names["total_query"], ep, required=True)
            if not e or not t:
                return None
            for what, q in (("error query", e), ("total query", t)):
                if "{{" not in q:
                    r.err(ep, f"the {what} must use {{{{.window}}}} in its range, as sloth requires")
                    return None
                indicators.check_query(q, what)
            return Indicator("ratio", errors=e.strip(), total=t.strip(),
                             source=f"errors: {e.strip()}\ntotal: {t.strip()}")
        if isinstance(d.get("raw"), dict):
            q = r.text(d["raw"], names["error_ratio_query"], (*p, "raw"), required=True)
            return indicators.raw(q) if q else None
    if not r.failed:
        r.err(p, "sli needs events (error and total queries) or raw (an error ratio query)")
    return None


def _read_alerting(r: Reader, value: Any, p: FieldPath, names: dict[str, str]) -> Alerting:
    d = r.mapping(value, p, "alerting")
    if d is None:
        r.err(p, "alerting is required (at least its name), as in sloth")
        return Alerting()
    name = r.text(d, "name", p, required=True)
    keys = ("disable", "labels", "annotations")
    return Alerting(
        name=name or "SLOErrorBudgetBurn",
        labels=r.labels(d, "labels", p),
        annotations=r.labels(d, "annotations", p),
        page=read_alert_spec(r, d.get(names["page_alert"]), (*p, names["page_alert"]), keys),
        ticket=read_alert_spec(r, d.get(names["ticket_alert"]), (*p, names["ticket_alert"]), keys),
    )
