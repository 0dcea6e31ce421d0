"""The ``data`` of /api/v1/rules and /api/v1/alerts, shaped exactly as Prometheus returns it.

The web layer (helper G) wraps these in the ``{"status": "success", "data": ...}`` envelope.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import promql_parser

from guardia.rules.alerting import Alert, AlertingRule
from guardia.rules.group import Group
from guardia.rules.recording import RecordingRule
from guardia.template.gofmt import format_float

ZERO_TIME = "0001-01-01T00:00:00Z"


class RulesFilterError(ValueError):
    """A bad filter parameter; the API answers 400 bad_data with this message."""


def _time(ms: int) -> str:
    if not ms:
        return ZERO_TIME
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def alert_json(a: Alert) -> dict[str, Any]:
    d: dict[str, Any] = {
        "labels": dict(a.labels),
        "annotations": dict(a.annotations),
        "state": str(a.state),
        "activeAt": _time(a.active_at_ms),
    }
    if a.keep_firing_since_ms:
        d["keepFiringSince"] = _time(a.keep_firing_since_ms)
    d["value"] = format_float(a.value, "e", -1)
    return d


@functools.lru_cache(maxsize=4096)
def _query_text(expr: str) -> str:
    """The expression as Prometheus prints it back (one line, canonical spacing)."""
    try:
        return str(promql_parser.parse(expr))
    except (ValueError, TypeError):
        return expr.strip()


def _rule_json(r: AlertingRule | RecordingRule, exclude_alerts: bool) -> dict[str, Any]:
    h = r.health
    if isinstance(r, AlertingRule):
        d: dict[str, Any] = {
            "state": str(r.state()) if r.active_alerts() else "inactive",
            "name": r.name,
            "query": _query_text(r.expr),
            "duration": r.hold_ms / 1000,
            "keepFiringFor": r.keep_firing_for_ms / 1000,
            "labels": dict(r.labels),
            "annotations": dict(r.annotations),
        }
        if not exclude_alerts:
            d["alerts"] = [alert_json(a) for a in r.active_alerts()]
    else:
        d = {"name": r.name, "query": _query_text(r.expr), "labels": dict(r.labels)}
    d["health"] = h.health
    if h.last_error:
        d["lastError"] = h.last_error
    d["evaluationTime"] = h.evaluation_seconds
    d["lastEvaluation"] = _time(h.last_evaluation_ms)
    d["type"] = "alerting" if isinstance(r, AlertingRule) else "recording"
    return d


def rules_data(groups: Iterable[Group], *, type_: str | None = None,
               rule_names: Sequence[str] = (), rule_groups: Sequence[str] = (),
               files: Sequence[str] = (), exclude_alerts: bool = False) -> dict[str, Any]:
    """``data`` of GET /api/v1/rules with Prometheus's filters (type=alert|record,
    rule_name[], rule_group[], file[], exclude_alerts)."""
    if type_ not in (None, "", "alert", "record"):
        raise RulesFilterError(f"unsupported type {type_!r}; use 'alert' or 'record'")
    filtering = bool(rule_names or rule_groups or files)
    out = []
    for g in groups:
        if rule_groups and g.name not in rule_groups:
            continue
        if files and g.file not in files:
            continue
        rules = []
        for r in g.rules:
            if type_ == "alert" and not isinstance(r, AlertingRule):
                continue
            if type_ == "record" and not isinstance(r, RecordingRule):
                continue
            if rule_names and r.name not in rule_names:
                continue
            rules.append(_rule_json(r, exclude_alerts))
        if filtering and not rules:
            continue
        out.append({
            "name": g.name,
            "file": g.file,
            "rules": rules,
            "interval": g.interval_ms / 1000,
            "limit": g.limit,
            "evaluationTime": g.last_duration_s,
            "lastEvaluation": _time(g.last_eval_ms),
        })
    return {"groups": out}


def alerts_data(groups: Iterable[Group]) -> dict[str, Any]:
    """``data`` of GET /api/v1/alerts: every pending and firing alert."""
    alerts: list[dict[str, Any]] = []
    for g in groups:
        for r in g.rules:
            if isinstance(r, AlertingRule):
                alerts.extend(alert_json(a) for a in r.active_alerts())
    return {"alerts": alerts}
