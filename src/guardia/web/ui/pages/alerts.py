"""``/alerts``: firing and pending alerts from the rules, with their annotations, runbook
links, active-since times and a prefilled "silence this" link; silenced ones are marked from
the embedded Alertmanager's view."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from guardia.web.protocols import AlertView, RuleGroupView
from guardia.web.ui.render import Page, render
from guardia.web.ui.sources import UiSources

SEVERITY_ORDER = {
    "critical": 0, "page": 0, "error": 1, "high": 1, "warning": 2, "medium": 2, "info": 3, "low": 3,
}


@dataclass(frozen=True, slots=True)
class AlertRow:
    rule: str
    group: str
    alert: AlertView
    severity: str
    silenced_by: tuple[str, ...]

    @property
    def silence_link(self) -> str:
        return "?" + urlencode([("matcher", f'{k}="{v}"') for k, v in sorted(self.alert.labels.items())])


def severity_of(labels: Any) -> str:
    return str(labels.get("severity", "") or "none")


def severity_key(sev: str) -> tuple[int, str]:
    return (SEVERITY_ORDER.get(sev.lower(), 4), sev)


def collect(groups: list[RuleGroupView] | Any, silenced: dict[frozenset[tuple[str, str]], tuple[str, ...]]
            ) -> list[AlertRow]:
    rows: list[AlertRow] = []
    for g in groups:
        for r in g.rules:
            for a in r.alerts:
                key = frozenset(a.labels.items())
                rows.append(AlertRow(r.name, g.name, a, severity_of(a.labels), silenced.get(key, ())))
    rows.sort(key=lambda x: (x.alert.state != "firing", severity_key(x.severity), x.rule,
                             sorted(x.alert.labels.items())))
    return rows


def silenced_index(ui: UiSources) -> dict[frozenset[tuple[str, str]], tuple[str, ...]]:
    """Label set -> silence ids muting it, from the embedded Alertmanager (empty without one)."""
    am = ui.alertmanager()
    if am is None:
        return {}
    out: dict[frozenset[tuple[str, str]], tuple[str, ...]] = {}
    for a in am.alerts(active=False, silenced=True, inhibited=False, unprocessed=False):
        ids = tuple(a.get("status", {}).get("silencedBy") or ())
        if ids:
            labels = {k: v for k, v in a["labels"].items()}
            out[frozenset(labels.items())] = ids
    return out


def firing_rows(ui: UiSources) -> list[AlertRow]:
    if ui.rules is None:
        return []
    return collect(ui.rules.rule_groups(), silenced_index(ui))


async def alerts_page(request: Request, ui: UiSources) -> Response:
    rows = await asyncio.to_thread(firing_rows, ui)
    state = request.query_params.get("state", "")
    if state in ("firing", "pending"):
        rows = [r for r in rows if r.alert.state == state]
    counts: dict[str, int] = {}
    for r in rows:
        if r.alert.state == "firing":
            counts[r.severity] = counts.get(r.severity, 0) + 1
    return render(
        request, ui, "alerts.html", title="Alerts", rows=rows, state=state, has_rules=ui.rules is not None,
        counts=sorted(counts.items(), key=lambda kv: severity_key(kv[0])),
        firing=sum(r.alert.state == "firing" for r in rows),
        pending=sum(r.alert.state == "pending" for r in rows),
    )


PAGES = [Page("/alerts", "Alerts", alerts_page)]
