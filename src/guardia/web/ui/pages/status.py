"""``/status``: build, runtime, flags, the loaded configuration (secrets redacted) and TSDB
cardinality."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from guardia import __version__
from guardia.web.ui.render import Page, render
from guardia.web.ui.sources import UiSources


def _tsdb(ui: UiSources) -> Mapping[str, Any] | None:
    if ui.tsdb_status is None:
        return None
    return ui.tsdb_status.tsdb_status(10)


def _stats(ui: UiSources) -> Mapping[str, int] | None:
    return None if ui.storage_stats is None else ui.storage_stats.stats()


async def status_page(request: Request, ui: UiSources) -> Response:
    st = ui.status
    tsdb, stats = await asyncio.gather(asyncio.to_thread(_tsdb, ui), asyncio.to_thread(_stats, ui))
    return render(
        request, ui, "status.html", title="Status", version=__version__,
        runtime=None if st is None else st.runtime(), flags={} if st is None else dict(st.flags()),
        config_yaml="" if st is None else st.config_yaml(), tsdb=tsdb, stats=stats,
    )


PAGES = [Page("/status", "Status", status_page)]
