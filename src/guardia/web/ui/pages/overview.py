"""``/``: the first look -- targets up/down by job, firing alerts by severity, recent
notifications and their delivery status, storage figures."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from guardia.web.ui.pages.alerts import firing_rows, severity_key
from guardia.web.ui.pages.notifications import integrations, recent
from guardia.web.ui.pages.targets import group_by_job
from guardia.web.ui.render import Page, render
from guardia.web.ui.sources import UiSources


def _gather(ui: UiSources) -> dict[str, Any]:
    jobs = None if ui.targets is None else group_by_job(ui.targets.active_targets())
    rows = firing_rows(ui)
    by_sev: dict[str, int] = {}
    for r in rows:
        if r.alert.state == "firing":
            by_sev[r.severity] = by_sev.get(r.severity, 0) + 1
    integ = integrations(ui)
    return {
        "jobs": jobs,
        "severities": sorted(by_sev.items(), key=lambda kv: severity_key(kv[0])),
        "firing": sum(by_sev.values()),
        "pending": sum(r.alert.state == "pending" for r in rows),
        "top_alerts": [r for r in rows if r.alert.state == "firing"][:10],
        "integrations": integ,
        "recent": recent(integ or [], 10),
        "failing": [r for r in integ or [] if r.get("lastNotifyAttemptError")],
        "stats": None if ui.storage_stats is None else ui.storage_stats.stats(),
        "has_rules": ui.rules is not None,
    }


async def overview_page(request: Request, ui: UiSources) -> Response:
    ctx = await asyncio.to_thread(_gather, ui)
    return render(request, ui, "overview.html", title="Overview", **ctx)


PAGES = [Page("/", "Overview", overview_page)]
