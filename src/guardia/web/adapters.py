"""Adapters from the running subsystems to the API's narrow retriever protocols.

This is the one place that knows both sides: the scrape manager's ``Target`` objects and the
API's ``TargetView``.  Each adapter reads live state on every call (no caching), so the API
always shows what the subsystem holds right now.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

import promql_parser

from guardia.model import Labels, format_duration
from guardia.rules import AlertingRule, Group, Notifier, RecordingRule
from guardia.scrape import ScrapeManager
from guardia.storage.tsdb.db import HeadStats
from guardia.web.protocols import (
    AlertView,
    DroppedTargetView,
    MetricMetadata,
    RuleGroupView,
    RuleView,
    RuntimeView,
    TargetView,
)


class ScrapeTargets:
    """``TargetRetriever`` over ``guardia.scrape.ScrapeManager``."""

    def __init__(self, manager: ScrapeManager) -> None:
        self._manager = manager

    def active_targets(self) -> Sequence[TargetView]:
        mgr = self._manager
        # targets() also holds the targets a pool's target_limit keeps from scraping (with the
        # reason as their error); metadata lives on the loops of the targets that do scrape
        metadata_of = {id(loop.target): loop.ingester.metadata for loop in mgr.loops()}
        out = []
        for t in mgr.targets():
            md: dict[str, MetricMetadata] = {}
            for name, m in sorted(metadata_of.get(id(t), {}).items()):
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
                    warnings=tuple(t.warnings),
                )
            )
        return out

    def dropped_targets(self) -> Sequence[DroppedTargetView]:
        dropped = self._manager.dropped_targets()
        return [DroppedTargetView(Labels(d.discovered_labels), d.job) for d in dropped]

    def discovery_errors(self) -> Mapping[str, Sequence[str]]:
        return {pool: list(errs) for pool, errs in self._manager.discovery_errors().items()}


class HeadStatsSource(Protocol):
    def head_stats(self, metric_label: str = "__name__", limit: int = 10) -> HeadStats: ...


class IndexStatus:
    """``TSDBStatusRetriever`` over the embedded store's head: cardinality from its index."""

    def __init__(self, storage: HeadStatsSource) -> None:
        self._storage = storage

    def tsdb_status(self, limit: int) -> Mapping[str, Any]:
        st = self._storage.head_stats("__name__", limit)
        p = st.postings

        def stats(items: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
            return [{"name": name, "value": count} for name, count in items]

        return {
            "headStats": {
                "numSeries": st.num_series,
                "numLabelPairs": p.num_label_pairs,
                "chunkCount": st.chunk_count,
                "minTime": st.min_time,
                "maxTime": st.max_time,
            },
            "seriesCountByMetricName": stats(p.series_count_by_metric_name),
            "labelValueCountByLabelName": stats(p.label_value_count_by_label_name),
            "memoryInBytesByLabelName": stats(p.memory_in_bytes_by_label_name),
            "seriesCountByLabelValuePair": stats(p.series_count_by_label_value_pair),
        }


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


def _query_text(expr: str) -> str:
    """The expression as Prometheus prints it back (canonical spacing)."""
    try:
        return str(promql_parser.parse(expr))
    except (ValueError, TypeError):
        return expr.strip()


class RuleGroupSource(Protocol):
    """A ``RuleManager``, or several shown as one."""

    def rule_groups(self) -> Sequence[Group]: ...


class RuleGroups:
    """``RulesRetriever`` over ``guardia.rules.RuleManager`` (its ``Group`` objects)."""

    def __init__(self, manager: RuleGroupSource) -> None:
        self._manager = manager

    def rule_groups(self) -> Sequence[RuleGroupView]:
        return [self._group(g) for g in self._manager.rule_groups()]

    def _group(self, g: Group) -> RuleGroupView:
        return RuleGroupView(
            name=g.name,
            file=g.file,
            interval_s=g.interval_ms / 1000,
            rules=[self._rule(r) for r in g.rules],
            limit=g.limit,
            evaluation_time_s=g.last_duration_s,
            last_evaluation_ms=g.last_eval_ms or None,
        )

    def _rule(self, r: AlertingRule | RecordingRule) -> RuleView:
        h = r.health
        view = RuleView(
            name=r.name,
            query=_query_text(r.expr),
            type="recording",
            labels=Labels(dict(r.labels)),
            health=h.health,
            last_error=h.last_error,
            evaluation_time_s=h.evaluation_seconds,
            last_evaluation_ms=h.last_evaluation_ms or None,
        )
        if isinstance(r, RecordingRule):
            return view
        alerts = [
            AlertView(
                labels=Labels(dict(a.labels)),
                annotations=Labels(dict(a.annotations)),
                state=str(a.state),
                active_at_ms=a.active_at_ms or None,
                value=float(a.value),
                keep_firing_since_ms=a.keep_firing_since_ms or None,
            )
            for a in r.active_alerts()
        ]
        return replace(
            view,
            type="alerting",
            annotations=Labels(dict(r.annotations)),
            duration_s=r.hold_ms / 1000,
            keep_firing_for_s=r.keep_firing_for_ms / 1000,
            alerts=alerts,
        )


class AlertmanagerTargets:
    """``AlertmanagerRetriever``: the embedded Alertmanager (when the config has one) and the
    ``alerting.alertmanagers`` targets of the rule notifier, as their alerts URLs."""

    def __init__(self, local_url: Callable[[], str | None], notifier: Notifier) -> None:
        self._local_url = local_url
        self._notifier = notifier

    def active_alertmanagers(self) -> Sequence[str]:
        local = self._local_url()
        return [*([local] if local else []), *(t.url for t in self._notifier.targets)]

    def dropped_alertmanagers(self) -> Sequence[str]:
        return []
