"""Builds the UI's sources from what the serving process already has for the API."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from guardia.web import api_v1
from guardia.web.api_v1 import ApiDeps
from guardia.web.ui.sources import AlertmanagerView, UiSources


class ApiTSDBStatus:
    """The figures of ``/api/v1/status/tsdb``: the store's own, else computed by querying."""

    def __init__(self, api: ApiDeps) -> None:
        self._api = api

    def tsdb_status(self, limit: int) -> Mapping[str, Any]:
        if self._api.tsdb_status is not None:
            return self._api.tsdb_status.tsdb_status(limit)
        now = self._api.now_ms()
        window = (now - api_v1.STATUS_WINDOW_MS, now)
        return api_v1._generic_tsdb_status(self._api.storage, limit, window)


def sources_from_api(
    api: ApiDeps,
    *,
    alertmanager: Callable[[], AlertmanagerView | None] = lambda: None,
    dashboards: Any = None,
    route_prefix: str = "",
    scrape_interval_ms: Callable[[], int] = lambda: 15_000,
    remote_readers: Callable[[], Mapping[str, Any]] = lambda: {},
) -> UiSources:
    stats = api.storage if callable(getattr(api.storage, "stats", None)) else None
    return UiSources(
        storage=api.storage,
        engine=api.engine,
        targets=api.targets,
        rules=api.rules,
        status=api.status,
        tsdb_status=ApiTSDBStatus(api),
        storage_stats=stats,  # type: ignore[arg-type]
        alertmanager=alertmanager,
        dashboards=dashboards,
        route_prefix=route_prefix,
        query_timeout_s=api.query_timeout_s,
        now_ms=api.now_ms,
        scrape_interval_ms=scrape_interval_ms,
        remote_readers=remote_readers,
    )
