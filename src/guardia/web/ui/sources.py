"""What the UI reads, as narrow protocols: the pages never import scrape, rules or alerting.

The API's retrievers (targets, rules, status, TSDB status) are reused as they are; the UI
adds the few views the API does not need: the embedded Alertmanager as a read/list surface,
storage figures, and the dashboard store.  Every source but the query engine is optional: a
page whose source is absent says so instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from guardia.storage.interface import Queryable
from guardia.web.protocols import (
    QueryEngine,
    RulesRetriever,
    StatusRetriever,
    TargetRetriever,
    TSDBStatusRetriever,
)


class AlertmanagerView(Protocol):
    """The embedded Alertmanager as pages read it (``guardia.alerting.Alertmanager`` fits).

    Shapes are the API v2 JSON ones (``gettableAlert``, ``gettableSilence``), so the pages and
    ``/api/v2`` show the same facts; writes (create/expire silences) go through ``/api/v2``.
    """

    def alerts(self, *, matchers: Any = None, active: bool = True, silenced: bool = True,
               inhibited: bool = True, unprocessed: bool = True, receiver: str | None = None
               ) -> list[dict[str, Any]]: ...

    def silence_list(self, matchers: Any = None) -> list[dict[str, Any]]: ...

    def integration_status(self) -> list[dict[str, Any]]: ...

    def receiver_names(self) -> list[str]: ...


class StorageStats(Protocol):
    """Head and block figures of the store (``guardia.storage.tsdb.TSDB.stats`` fits)."""

    def stats(self) -> Mapping[str, int]: ...


@dataclass
class UiSources:
    storage: Queryable
    engine: QueryEngine | None = None
    targets: TargetRetriever | None = None
    rules: RulesRetriever | None = None
    status: StatusRetriever | None = None
    tsdb_status: TSDBStatusRetriever | None = None
    storage_stats: StorageStats | None = None
    alertmanager: Callable[[], AlertmanagerView | None] = lambda: None
    dashboards: Any = None  # guardia.web.ui.dashboards.store.DashboardStore
    route_prefix: str = ""
    build: Mapping[str, str] = field(default_factory=dict)
    query_timeout_s: float = 30.0
    # the global scrape interval: dashboards' default step floor and $__rate_interval base
    scrape_interval_ms: Callable[[], int] = lambda: 15_000
    now_ms: Callable[[], int] | None = None
    extra_nav: Sequence[tuple[str, str]] = ()
    # remote engines by ``remote_read`` name: what a dashboard's ``datasource`` may name
    remote_readers: Callable[[], Mapping[str, Any]] = lambda: {}
