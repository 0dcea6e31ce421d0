"""``/silences``: active, pending and expired silences; a form to create one with a matcher
editor and a live preview of what it would mute (``?matcher=...`` prefills it, as the alerts
page's "silence this" does); create and expire go through ``/api/v2``, as amtool's do."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from guardia.model.am_matchers import parse_am_matchers
from guardia.model.matchers import MatcherError
from guardia.web.ui.render import Page, render
from guardia.web.ui.sources import UiSources


def prefill(values: list[str]) -> tuple[list[tuple[str, str, str]], str]:
    """Matcher rows (name, op, value) from ``matcher=`` parameters, and an error for bad ones."""
    rows: list[tuple[str, str, str]] = []
    for text in values:
        try:
            rows.extend((m.name, m.type.value, m.value) for m in parse_am_matchers(text))
        except MatcherError as e:
            return rows, f"cannot prefill matcher {text!r}: {e}"
    return rows, ""


async def silences_page(request: Request, ui: UiSources) -> Response:
    am = ui.alertmanager()
    silences: list[dict[str, Any]] = [] if am is None else await asyncio.to_thread(am.silence_list)
    rows, error = prefill(request.query_params.getlist("matcher"))
    by_state: dict[str, list[dict[str, Any]]] = {"active": [], "pending": [], "expired": []}
    for s in silences:
        by_state.setdefault(s["status"]["state"], []).append(s)
    return render(
        request, ui, "silences.html", title="Silences", has_am=am is not None, by_state=by_state,
        rows=rows or [("", "=", "")], error=error, created=request.query_params.get("created", ""),
        open_form=bool(request.query_params.getlist("matcher")) or "new" in request.query_params,
    )


PAGES = [Page("/silences", "Silences", silences_page)]
