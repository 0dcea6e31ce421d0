"""Remote write's self-metrics, under the names Prometheus gives them, so its dashboards and
alerts (``PrometheusRemoteWriteBehind``, ``PrometheusRemoteStorageFailures``...) work on guardia.

One set per process, labelled by queue (``remote_name``, ``url``) as Prometheus labels them;
a queue removed by a reload takes its series with it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_Q = ("remote_name", "url")


class RemoteWriteMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.samples_in = Counter("prometheus_remote_storage_samples_in",
                                  "Samples read from the WAL to be sent to remote storage.", registry=r)
        self.highest_ts = Gauge("prometheus_remote_storage_highest_timestamp_in_seconds",
                                "Highest timestamp that has come into the remote storage via the WAL, "
                                "in seconds since epoch.", registry=r)
        self.highest_ts.set_function(self._highest_seconds)
        self.sent = Counter("prometheus_remote_storage_samples",
                            "Total number of samples sent to remote storage.", _Q, registry=r)
        self.failed = Counter("prometheus_remote_storage_samples_failed",
                              "Samples that failed on send and were not retried (4xx answers).", _Q,
                              registry=r)
        self.retried = Counter("prometheus_remote_storage_samples_retried",
                               "Samples that failed on send and were retried (5xx, 429, network).", _Q,
                               registry=r)
        self.dropped = Counter("prometheus_remote_storage_samples_dropped",
                               "Samples dropped before sending (write_relabel_configs, sample_age_limit, "
                               "series unknown to the WAL).", _Q, registry=r)
        self.bytes = Counter("prometheus_remote_storage_bytes",
                             "Compressed request bytes sent to remote storage.", _Q, registry=r)
        self.pending = Gauge("prometheus_remote_storage_samples_pending",
                             "Samples read from the WAL and not yet acknowledged by the receiver.", _Q,
                             registry=r)
        self.highest_sent = Gauge("prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
                                  "Timestamp of the newest sample the receiver acknowledged, in seconds "
                                  "since epoch.", _Q, registry=r)
        self.shards = Gauge("prometheus_remote_storage_shards", "Shards used for sending.", _Q, registry=r)
        self.shards_desired = Gauge("prometheus_remote_storage_shards_desired",
                                    "Shards the backlog and send rate call for.", _Q, registry=r)
        self.shards_min = Gauge("prometheus_remote_storage_shards_min", "queue_config.min_shards.", _Q,
                                registry=r)
        self.shards_max = Gauge("prometheus_remote_storage_shards_max", "queue_config.max_shards.", _Q,
                                registry=r)
        self.batch_seconds = Histogram("prometheus_remote_storage_sent_batch_duration_seconds",
                                       "Duration of send calls to remote storage.", _Q, registry=r,
                                       buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 25, 60))
        # native histogram samples (``send_native_histograms``), counted apart as Prometheus does
        self.histograms_in = Counter("prometheus_remote_storage_histograms_in",
                                     "Histogram samples read from the WAL to be sent to remote storage.",
                                     registry=r)
        self.hist_sent = Counter("prometheus_remote_storage_histograms",
                                 "Total number of histogram samples sent to remote storage.", _Q, registry=r)
        self.hist_failed = Counter("prometheus_remote_storage_histograms_failed",
                                   "Histogram samples that failed on send and were not retried (4xx "
                                   "answers).", _Q, registry=r)
        self.hist_retried = Counter("prometheus_remote_storage_histograms_retried",
                                    "Histogram samples that failed on send and were retried (5xx, 429, "
                                    "network).", _Q, registry=r)
        self.hist_dropped = Counter("prometheus_remote_storage_histograms_dropped",
                                    "Histogram samples dropped before sending (write_relabel_configs, "
                                    "sample_age_limit).", _Q, registry=r)
        self.hist_pending = Gauge("prometheus_remote_storage_histograms_pending",
                                  "Histogram samples read from the WAL and not yet acknowledged by the "
                                  "receiver.", _Q, registry=r)
        # exemplars (``send_exemplars``), counted apart as Prometheus does
        self.exemplars_in = Counter("prometheus_remote_storage_exemplars_in",
                                    "Exemplars stored locally and handed to the queues to be sent.",
                                    registry=r)
        self.ex_sent = Counter("prometheus_remote_storage_exemplars",
                               "Total number of exemplars sent to remote storage.", _Q, registry=r)
        self.ex_failed = Counter("prometheus_remote_storage_exemplars_failed",
                                 "Exemplars that failed on send and were not retried (4xx answers).", _Q,
                                 registry=r)
        self.ex_retried = Counter("prometheus_remote_storage_exemplars_retried",
                                  "Exemplars that failed on send and were retried (5xx, 429, network).",
                                  _Q, registry=r)
        self.ex_dropped = Counter("prometheus_remote_storage_exemplars_dropped",
                                  "Exemplars dropped before sending (write_relabel_configs, "
                                  "sample_age_limit, a queue full behind a receiver that is down).", _Q,
                                  registry=r)
        self.ex_pending = Gauge("prometheus_remote_storage_exemplars_pending",
                                "Exemplars waiting in the queue, not yet acknowledged by the receiver.",
                                _Q, registry=r)
        self.segment = Gauge("prometheus_wal_watcher_current_segment",
                             "Current WAL segment the watcher is reading records from.", ("consumer",),
                             registry=r)

        self._highest_ms = 0
        self._appended: Callable[[], int] | None = None

    def follow_appended(self, highest_appended_ms: Callable[[], int]) -> None:
        """Take the highest timestamp from the local store's appends, as Prometheus does: a
        queue stuck behind a dead receiver reads nothing new, so a figure taken from its
        reads would stand still with the queue, and the lag against
        ``queue_highest_sent_timestamp_seconds`` would not grow during an outage."""
        self._appended = highest_appended_ms

    def observe_highest(self, t_ms: int) -> None:
        """A timestamp a queue read from the WAL (never above what was appended; the figure
        for stores that cannot say what they hold)."""
        if t_ms > self._highest_ms:
            self._highest_ms = t_ms

    def _highest_seconds(self) -> float:
        if self._appended is not None:
            self.observe_highest(self._appended())
        return self._highest_ms / 1000

    def queue(self, name: str, url: str) -> QueueMetrics:
        k = (name, url)
        return QueueMetrics(
            self.sent.labels(*k), self.failed.labels(*k), self.retried.labels(*k), self.dropped.labels(*k),
            self.bytes.labels(*k), self.pending.labels(*k), self.highest_sent.labels(*k),
            self.shards.labels(*k), self.shards_desired.labels(*k), self.shards_min.labels(*k),
            self.shards_max.labels(*k), self.batch_seconds.labels(*k), self.segment.labels(name),
            self.hist_sent.labels(*k), self.hist_failed.labels(*k), self.hist_retried.labels(*k),
            self.hist_dropped.labels(*k), self.hist_pending.labels(*k),
            self.ex_sent.labels(*k), self.ex_failed.labels(*k), self.ex_retried.labels(*k),
            self.ex_dropped.labels(*k), self.ex_pending.labels(*k),
        )

    def forget(self, name: str, url: str) -> None:
        for m in (self.sent, self.failed, self.retried, self.dropped, self.bytes, self.pending,
                  self.highest_sent, self.shards, self.shards_desired, self.shards_min, self.shards_max,
                  self.batch_seconds, self.hist_sent, self.hist_failed, self.hist_retried,
                  self.hist_dropped, self.hist_pending, self.ex_sent, self.ex_failed, self.ex_retried,
                  self.ex_dropped, self.ex_pending):
            with contextlib.suppress(KeyError):
                m.remove(name, url)
        with contextlib.suppress(KeyError):
            self.segment.remove(name)


@dataclass(frozen=True, slots=True)
class QueueMetrics:
    """One queue's children of the labelled metrics."""

    sent: Counter
    failed: Counter
    retried: Counter
    dropped: Counter
    bytes: Counter
    pending: Gauge
    highest_sent: Gauge
    shards: Gauge
    shards_desired: Gauge
    shards_min: Gauge
    shards_max: Gauge
    batch_seconds: Histogram
    segment: Gauge
    hist_sent: Counter
    hist_failed: Counter
    hist_retried: Counter
    hist_dropped: Counter
    hist_pending: Gauge
    ex_sent: Counter
    ex_failed: Counter
    ex_retried: Counter
    ex_dropped: Counter
    ex_pending: Gauge
