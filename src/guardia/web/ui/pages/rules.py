"""``/rules``: rule groups with their last evaluation, duration, health and errors."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from guardia.web.ui.render import Page, render
from guardia.web.ui.sources import UiSources


async def rules_page(request: Request, ui: UiSources) -> Response:
    src = ui.rules
    groups = [] if src is None else await asyncio.to_thread(src.rule_groups)
    only = request.query_params.get("type", "")
    unhealthy = bool(request.query_params.get("unhealthy"))
    shown = []
    for g in groups:
        rules = [r for r in g.rules if (not only or r.type == only) and (not unhealthy or r.health == "err")]
        if rules:
            shown.append((g, rules))
    return render(
        request, ui, "rules.html", title="Rules", groups=shown, has_rules=src is not None, only=only,
        unhealthy=unhealthy, errors=sum(r.health == "err" for g in groups for r in g.rules),
    )


PAGES = [Page("/rules", "Rules", rules_page)]
