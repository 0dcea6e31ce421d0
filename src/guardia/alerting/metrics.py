"""Alertmanager's self-metrics, on the registry the caller passes (never the global one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily


@dataclass
class NotifyMetrics:
    notifications: Counter
    failed: Counter
    requests: Counter
    requests_failed: Counter
    latency: Histogram
    alerts_received: Counter
    alerts_invalid: Counter
    registry: CollectorRegistry

    @classmethod
    def create(cls, registry: CollectorRegistry | None) -> NotifyMetrics:
        reg = registry if registry is not None else CollectorRegistry()
        lab = ["integration", "receiver_name"]
        return cls(
            notifications=Counter("alertmanager_notifications",
                                  "The total number of attempted notifications.", lab, registry=reg),
            failed=Counter("alertmanager_notifications_failed", "The total number of failed notifications.",
                           [*lab, "reason"], registry=reg),
            requests=Counter("alertmanager_notification_requests",
                             "The total number of attempted notification requests.", lab, registry=reg),
            requests_failed=Counter("alertmanager_notification_requests_failed",
                                    "The total number of failed notification requests.", lab, registry=reg),
            latency=Histogram("alertmanager_notification_latency_seconds",
                              "The latency of notifications in seconds.", lab,
                              buckets=(1, 5, 10, 15, 20), registry=reg),
            alerts_received=Counter("alertmanager_alerts_received", "The total number of received alerts.",
                                    ["status", "version"], registry=reg),
            alerts_invalid=Counter("alertmanager_alerts_invalid", "The total number of received alerts that "
                                   "were invalid.", ["version"], registry=reg),
            registry=reg,
        )


class StateCollector:
    """``alertmanager_alerts{state}``, ``alertmanager_silences{state}`` and the notification log
    size, computed when scraped so they are never stale."""

    def __init__(self, counts: Callable[[], tuple[dict[str, int], dict[str, int], int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        alerts, silences, nflog = self._counts()
        g = GaugeMetricFamily("alertmanager_alerts", "How many alerts by state.", labels=["state"])
        for k, v in alerts.items():
            g.add_metric([k], v)
        yield g
        g = GaugeMetricFamily("alertmanager_silences", "How many silences by state.", labels=["state"])
        for k, v in silences.items():
            g.add_metric([k], v)
        yield g
        yield GaugeMetricFamily("alertmanager_nflog_entries", "Entries in the notification log.", value=nflog)
