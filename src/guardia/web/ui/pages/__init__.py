"""One module per page; ``ALL`` is the order of the top bar."""

from __future__ import annotations

from guardia.web.ui.pages import (
    alerts,
    dashboards,
    explore,
    notifications,
    overview,
    rules,
    silences,
    status,
    targets,
)
from guardia.web.ui.render import Page

ALL: list[Page] = [
    *overview.PAGES,
    *targets.PAGES,
    *alerts.PAGES,
    *rules.PAGES,
    *silences.PAGES,
    *explore.PAGES,
    *dashboards.PAGES,
    *notifications.PAGES,
    *status.PAGES,
]
