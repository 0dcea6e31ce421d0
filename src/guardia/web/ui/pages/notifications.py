"""``/notifications``: every receiver integration with its last attempt, last error, the
notifications queued for it right now (sending or waiting for a retry) and its recent
deliveries."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from guardia.web.ui.render import Page, render
from guardia.web.ui.sources import UiSources


def integrations(ui: UiSources) -> list[dict[str, Any]] | None:
    am = ui.alertmanager()
    if am is None:
        return None
    rows = am.integration_status()
    rows.sort(key=lambda r: (not r.get("lastNotifyAttemptError"), r["receiver"], r["integration"],
                             r["index"]))
    return rows


def recent(rows: list[dict[str, Any]], limit: int = 20) -> list[dict[str, Any]]:
    """The newest deliveries over all integrations, newest first."""
    out = [
        {**attempt, "receiver": r["receiver"], "integration": r["integration"]}
        for r in rows for attempt in r.get("recent", ())
    ]
    out.sort(key=lambda a: a["at"], reverse=True)
    return out[:limit]


async def notifications_page(request: Request, ui: UiSources) -> Response:
    rows = await asyncio.to_thread(integrations, ui)
    return render(
        request, ui, "notifications.html", title="Notifications", rows=rows,
        recent=recent(rows or []), failing=sum(bool(r.get("lastNotifyAttemptError")) for r in rows or []),
    )


PAGES = [Page("/notifications", "Notifications", notifications_page)]
