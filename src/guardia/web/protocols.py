"""What the HTTP API needs from the rest of guardia, and nothing more.

Each ``*Retriever`` is a one-job protocol returning the plain view types below.  The composition
root (``guardia.server``, through ``guardia.web.adapters``) adapts the real subsystems to them;
tests hand in small fakes or the in-memory store.  The API module never imports scrape, rules or
alerting directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from guardia.model import Labels
from guardia.storage.interface import Queryable


class QueryEngine(Protocol):
    """The PromQL engine as the API uses it (``guardia.promql.Engine`` satisfies it)."""

    def instant(
        self, storage: Queryable, expr: str, t_ms: int, *, timeout_s: float | None = None,
        cancel: Any = None, memo: Any = None,
    ) -> Any: ...

    def range(
        self,
        storage: Queryable,
        expr: str,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        *,
        timeout_s: float | None = None,
        cancel: Any = None,
        memo: Any = None,
    ) -> Any: ...


@dataclass(frozen=True, slots=True)
class MetricMetadata:
    type: str
    help: str
    unit: str = ""


@dataclass(frozen=True, slots=True)
class TargetView:
    discovered_labels: Labels
    labels: Labels
    scrape_pool: str
    scrape_url: str
    health: str  # "up" | "down" | "unknown"
    last_error: str = ""
    last_scrape_ms: int | None = None
    last_scrape_duration_s: float = 0.0
    scrape_interval: str = "1m"
    scrape_timeout: str = "10s"
    global_url: str = ""
    metadata: Mapping[str, MetricMetadata] = field(default_factory=dict)
    # what the last scrape noticed but did not fail on (e.g. duplicate series ignored)
    warnings: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class DroppedTargetView:
    discovered_labels: Labels
    scrape_pool: str


class TargetRetriever(Protocol):
    def active_targets(self) -> Sequence[TargetView]: ...

    def dropped_targets(self) -> Sequence[DroppedTargetView]: ...

    def discovery_errors(self) -> Mapping[str, Sequence[str]]:
        """Per scrape pool, why discovered targets could not be used (bad file_sd, ...)."""
        ...


@dataclass(frozen=True, slots=True)
class AlertView:
    labels: Labels
    annotations: Labels
    state: str  # "pending" | "firing"
    active_at_ms: int | None
    value: float
    keep_firing_since_ms: int | None = None


@dataclass(frozen=True, slots=True)
class RuleView:
    name: str
    query: str
    type: str  # "alerting" | "recording"
    labels: Labels = field(default_factory=Labels)
    annotations: Labels = field(default_factory=Labels)
    duration_s: float = 0.0
    keep_firing_for_s: float = 0.0
    health: str = "unknown"  # "ok" | "err" | "unknown"
    last_error: str = ""
    evaluation_time_s: float = 0.0
    last_evaluation_ms: int | None = None
    alerts: Sequence[AlertView] = ()


@dataclass(frozen=True, slots=True)
class RuleGroupView:
    name: str
    file: str
    interval_s: float
    rules: Sequence[RuleView]
    limit: int = 0
    evaluation_time_s: float = 0.0
    last_evaluation_ms: int | None = None


class RulesRetriever(Protocol):
    def rule_groups(self) -> Sequence[RuleGroupView]: ...


@dataclass(frozen=True, slots=True)
class RuntimeView:
    start_time_ms: int
    cwd: str
    reload_config_success: bool
    last_config_time_ms: int
    last_reload_error: str
    storage_retention: str


class AlertmanagerRetriever(Protocol):
    """Where rule alerts are sent: each Alertmanager's alerts URL (``/api/v1/alertmanagers``)."""

    def active_alertmanagers(self) -> Sequence[str]: ...

    def dropped_alertmanagers(self) -> Sequence[str]: ...


class StatusRetriever(Protocol):
    """Process-level facts: the loaded config (secrets redacted), flags, runtime info."""

    def config_yaml(self) -> str: ...

    def flags(self) -> Mapping[str, str]: ...

    def runtime(self) -> RuntimeView: ...


class TSDBStatusRetriever(Protocol):
    def tsdb_status(self, limit: int) -> Mapping[str, Any]:
        """The ``data`` of /api/v1/status/tsdb (headStats and the top-``limit`` lists)."""
        ...


class QueryObserver(Protocol):
    """Told about every PromQL query the API runs (self-metrics)."""

    def started(self) -> None: ...

    def finished(self, seconds: float, error_type: str | None) -> None: ...


class Snapshotter(Protocol):
    def snapshot(self, directory: str, with_head: bool) -> str:
        """Write a snapshot and return its name (a directory under ``<data>/snapshots``)."""
        ...


class Reloader(Protocol):
    async def reload(self) -> None:
        """Reload the configuration; raise ``ValueError`` with the reason if it is refused."""
        ...
