"""Alertmanager's self-metrics, on the registry the caller passes (never the global one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from guardia.alerting.nflog import ReceiverKey
from guardia.alerting.outbox import Pending


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


class QueueCollector:
    """The retry queue's length and oldest entry's age per integration, computed when scraped.

    Every configured integration is listed (0 when nothing waits), so an alert on
    ``alertmanager_notification_queue_oldest_age_seconds > 600`` needs no ``absent()``.
    """

    def __init__(self, integrations: Callable[[], list[ReceiverKey]], pending: Callable[[], list[Pending]],
                 clock: Callable[[], int]) -> None:
        self._integrations = integrations
        self._pending = pending
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._clock()
        count: dict[tuple[str, str], int] = {}
        oldest: dict[tuple[str, str], int] = {}
        for k in self._integrations():
            count.setdefault((k.integration, k.name), 0)
        for e in self._pending():
            lk = (e.receiver.integration, e.receiver.name)
            count[lk] = count.get(lk, 0) + 1
            oldest[lk] = min(oldest.get(lk, e.queued_at), e.queued_at)
        g = GaugeMetricFamily("alertmanager_notification_queue_length",
                              "Notifications due but not delivered yet (in the retry queue).",
                              labels=["integration", "receiver_name"])
        for lk, n in sorted(count.items()):
            g.add_metric(list(lk), n)
        yield g
        g = GaugeMetricFamily("alertmanager_notification_queue_oldest_age_seconds",
                              "Age of the oldest undelivered notification (0 when none waits).",
                              labels=["integration", "receiver_name"])
        for lk in sorted(count):
            g.add_metric(list(lk), max(0, now - oldest[lk]) / 1e9 if lk in oldest else 0.0)
        yield g
