"""``/targets``: scrape targets by job, with health, timing, errors and relabeling."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from guardia.web.protocols import TargetView
from guardia.web.ui.render import Page, render
from guardia.web.ui.sources import UiSources


@dataclass
class Job:
    name: str
    targets: list[TargetView] = field(default_factory=list)
    up: int = 0


def group_by_job(targets: Sequence[TargetView]) -> list[Job]:
    jobs: dict[str, Job] = {}
    for t in targets:
        job = jobs.setdefault(t.scrape_pool, Job(t.scrape_pool))
        job.targets.append(t)
        job.up += t.health == "up"
    for job in jobs.values():
        job.targets.sort(key=lambda t: (t.health == "up", t.scrape_url))
    return sorted(jobs.values(), key=lambda j: j.name)


def _matches(t: TargetView, needle: str) -> bool:
    if needle in t.scrape_url.lower() or needle in t.scrape_pool.lower():
        return True
    return any(needle in f"{k}={v}".lower() for k, v in t.labels.items())


async def targets_page(request: Request, ui: UiSources) -> Response:
    if ui.targets is None:
        return render(request, ui, "targets.html", title="Targets", targets=None)
    src = ui.targets
    active, dropped, errors = await asyncio.to_thread(
        lambda: (src.active_targets(), src.dropped_targets(), src.discovery_errors())
    )
    search = request.query_params.get("search", "").strip()
    unhealthy = bool(request.query_params.get("unhealthy"))
    shown = [
        t for t in active
        if (not search or _matches(t, search.lower())) and (not unhealthy or t.health != "up")
    ]
    return render(
        request, ui, "targets.html", title="Targets", targets=active, jobs=group_by_job(shown),
        dropped=dropped, discovery_errors=errors, search=search, unhealthy=unhealthy,
        total_up=sum(t.health == "up" for t in active), total_down=sum(t.health == "down" for t in active),
        total_unknown=sum(t.health not in ("up", "down") for t in active),
    )


PAGES = [Page("/targets", "Targets", targets_page)]
