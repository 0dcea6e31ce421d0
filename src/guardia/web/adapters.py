"""Adapters from the running subsystems to the API's narrow retriever protocols.

This is the one place that knows both sides: the scrape manager's ``Target`` objects and the
API's ``TargetView``.  Each adapter reads live state on every call (no caching), so the API
always shows what the subsystem holds right now.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from guardia.model import Labels, format_duration
from guardia.web.protocols import (
    DroppedTargetView,
    MetricMetadata,
    RuntimeView,
    TargetView,
)


class ScrapeTargets:
    """``TargetRetriever`` over ``guardia.scrape.ScrapeManager``."""

    def __init__(self, manager: Callable[[], Any]) -> None:
        self._manager = manager

    def active_targets(self) -> Sequence[TargetView]:
        mgr = self._manager()
        if mgr is None:
            return []
        out = []
        for loop in mgr.loops():
            t = loop.target
            md: dict[str, MetricMetadata] = {}
            ingester = getattr(loop, "ingester", None)
            for name, m in sorted(getattr(ingester, "metadata", {}).items()):
                md[name] = MetricMetadata(m.type, m.help, m.unit)
            public = Labels({k: v for k, v in t.labels.items() if not k.startswith("__")})
            out.append(
                TargetView(
                    discovered_labels=Labels(t.discovered_labels),
                    labels=public,
                    scrape_pool=t.job,
                    scrape_url=t.url,
                    health=t.health,
                    last_error=t.last_error,
                    last_scrape_ms=int(t.last_scrape * 1000) if t.last_scrape > 0 else None,
                    last_scrape_duration_s=t.last_scrape_duration,
                    scrape_interval=format_duration(t.interval_ms),
                    scrape_timeout=format_duration(t.timeout_ms),
                    metadata=md,
                )
            )
        return out

    def dropped_targets(self) -> Sequence[DroppedTargetView]:
        mgr = self._manager()
        if mgr is None:
            return []
        return [DroppedTargetView(Labels(d.discovered_labels), d.job) for d in mgr.dropped_targets()]


class ProcessStatus:
    """``StatusRetriever`` over the serving process's own state."""

    def __init__(
        self,
        config_yaml: Callable[[], str],
        flags: Mapping[str, str],
        runtime: Callable[[], RuntimeView],
    ) -> None:
        self._config_yaml = config_yaml
        self._flags = dict(flags)
        self._runtime = runtime

    def config_yaml(self) -> str:
        return self._config_yaml()

    def flags(self) -> Mapping[str, str]:
        return self._flags

    def runtime(self) -> RuntimeView:
        return self._runtime()
