"""The operators' view of probes: every monitor and target with its state, how long it has been
in it, the failure reason and recent state changes.

The public status pages show visitors whether a service works; this page tells the person on
call *why* a probe fails ("connection refused", "status 503 not in valid_status_codes", "down
from 2 of 3 locations") without a query, and links each target to its series in Explore and to
a one-off debug probe (``/probe?...&debug=true``, as the Blackbox exporter offers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from guardia.model import format_duration
from guardia.probes.service import ProbeService
from guardia.web.probe_api import monitors_view
from guardia.web.ui.render import Page, render
from guardia.web.ui.sources import UiSources

_ORDER = {"down": 0, "pending": 1, "unknown": 2, "up": 3}


def _explore(prefix: str, expr: str) -> str:
    return f"{prefix}/explore?{urlencode({'expr': expr, 'range': '1h'})}"


def _matches(m: dict[str, Any], needle: str) -> bool:
    hay = [m["name"], m["description"], m["module"] or "", m["kind"]]
    hay += [t["target"] for t in m["targets"]] + [t["reason"] for t in m["targets"]]
    return any(needle in h.lower() for h in hay)


def arrange(monitors: Sequence[dict[str, Any]], search: str, failing: bool,
            prefix: str) -> list[dict[str, Any]]:
    """Worst first (down, pending, unknown, up), each target with its links; filtered."""
    shown = []
    for m in monitors:
        if search and not _matches(m, search.lower()):
            continue
        if failing and m["status"] not in ("down", "pending"):
            continue
        job = m["name"].replace("\\", "\\\\").replace('"', '\\"')
        targets = []
        for t in sorted(m["targets"], key=lambda t: (_ORDER.get(t["status"], 2), t["target"])):
            inst = t["target"].replace("\\", "\\\\").replace('"', '\\"')
            sel = f'{{job="{job}",instance="{inst}"}}'
            debug = None
            if m["kind"] != "heartbeat" and m["module"]:
                query = {"target": t["target"], "module": m["module"], "debug": "true"}
                debug = f"{prefix}/probe?{urlencode(query)}"
            targets.append({**t, "explore": _explore(prefix, f"probe_success{sel}"),
                            "explore_duration": _explore(prefix, f"probe_duration_seconds{sel}"),
                            "debug": debug,
                            "events": sorted(t["events"], key=lambda e: -e["time"])[:20]})
        every = (f"expects a report every {format_duration(m['heartbeat']['period'])}"
                 f" (+{format_duration(m['heartbeat']['grace'])} grace)") if m.get("heartbeat") else \
            f"every {format_duration(round(m['interval'] * 1000))}"
        shown.append({**m, "targets": targets, "every": every})
    shown.sort(key=lambda m: (_ORDER.get(m["status"], 2), m["name"]))
    return shown


def ui_pages(service: ProbeService) -> list[Page]:
    """``/probes`` in the web UI's layout (listed as "Probes" in its top bar)."""

    async def probes_page(request: Request, ui: UiSources) -> Response:
        monitors = await asyncio.to_thread(monitors_view, service)
        search = request.query_params.get("search", "").strip()
        failing = bool(request.query_params.get("failing"))
        counts = {s: 0 for s in ("up", "down", "pending", "unknown")}
        for m in monitors:
            for t in m["targets"]:
                counts[t["status"] if t["status"] in counts else "unknown"] += 1
        return render(request, ui, "probes.html", title="Probes", total=len(monitors),
                      monitors=arrange(monitors, search, failing, ui.route_prefix),
                      counts=counts, search=search, failing=failing)

    return [Page("/probes", "Probes", probes_page)]
