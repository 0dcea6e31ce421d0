"""Sends alerts from rule evaluation to Alertmanagers, the way Prometheus's notifier does.

A rule's alert becomes a ``model.alert.Alert`` with the external labels added (alert labels
win); guardia's own Alertmanager receives those objects in-process (a callback), and every
Alertmanager of ``alerting.alertmanagers`` receives them as API v2 ``postableAlert`` JSON with
``POST /api/v2/alerts``.  Rule evaluation only enqueues
(it may run in a worker thread); one asyncio task drains the queue in batches.  A full queue
drops the oldest alerts and counts them, as Prometheus does.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Summary

from guardia.config.httpclient import new_client
from guardia.config.prometheus import AlertmanagerEndpointConfig, PrometheusConfig
from guardia.config.relabel import RelabelConfig
from guardia.model.alert import Alert as SentAlert
from guardia.model.labels import Labels
from guardia.model.relabel import process as relabel_process
from guardia.rules.alerting import Alert
from guardia.template.prometheus import table_link

if TYPE_CHECKING:  # httpx is imported where a request is made (#28: ~2 MiB resident)
    import httpx

log = logging.getLogger("guardia.rules.notifier")

LocalSink = Callable[[list[SentAlert]], Awaitable[None]]
# Relabeling (alert_relabel_configs) as a function: labels in, labels or None (drop) out.
Relabel = Callable[[dict[str, str]], dict[str, str] | None]
MAX_BATCH = 256
_NS_PER_MS = 1_000_000


def alert_relabeler(rules: Sequence[RelabelConfig]) -> Relabel | None:
    """``alert_relabel_configs`` as a function, or None when there are none.  The relabel
    engine is the one scraping uses, so an alert relabels exactly as a target would."""
    if not rules:
        return None
    frozen = tuple(rules)

    def relabel(labels: dict[str, str]) -> dict[str, str] | None:
        return relabel_process(dict(labels), frozen)

    return relabel


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def to_sent(alert: Alert, expr: str, external_labels: dict[str, str], external_url: str,
            relabel: Relabel | None = None) -> SentAlert | None:
    """Prometheus's sendAlerts conversion: startsAt = fired time, endsAt = resolved time or
    validUntil (four resend intervals ahead, so an Alertmanager resolves it if we vanish).
    None when ``relabel`` (``alerting.alert_relabel_configs``) drops it."""
    labels = {**external_labels, **dict(alert.labels)}
    if relabel is not None:
        kept = relabel(labels)
        if not kept:
            return None
        labels = kept
    ends = alert.resolved_at_ms if alert.resolved_at_ms else alert.valid_until_ms
    return SentAlert(
        Labels(labels), Labels(dict(alert.annotations)),
        starts_at=(alert.fired_at_ms or alert.active_at_ms) * _NS_PER_MS, ends_at=ends * _NS_PER_MS,
        generator_url=external_url.rstrip("/") + table_link(expr),
    )


def postable(a: SentAlert) -> dict[str, Any]:
    """The alert as an external Alertmanager's ``POST /api/v2/alerts`` takes it."""
    return {
        "labels": dict(a.labels),
        "annotations": dict(a.annotations),
        "startsAt": rfc3339(a.starts_at // _NS_PER_MS),
        "endsAt": rfc3339(a.ends_at // _NS_PER_MS),
        "generatorURL": a.generator_url,
    }


def to_postable(alert: Alert, expr: str, external_labels: dict[str, str],
                external_url: str) -> dict[str, Any]:
    sent = to_sent(alert, expr, external_labels, external_url)
    assert sent is not None  # only relabeling drops an alert
    return postable(sent)


class AlertmanagerTarget:
    """One external Alertmanager: its alerts URL and the HTTP client settings to reach it."""

    def __init__(self, url: str, client: httpx.AsyncClient, timeout_s: float = 10.0,
                 relabel: Relabel | None = None) -> None:
        self.url = url
        self.client = client
        self.timeout_s = timeout_s
        self.relabel = relabel
        # failed batches in the current streak: an unreachable Alertmanager is logged when the
        # streak starts and when it ends, not once per batch (the error counter has every one)
        self.failures = 0


def targets_from_config(alertmanagers: Sequence[AlertmanagerEndpointConfig]) -> list[AlertmanagerTarget]:
    """Static targets of ``alerting.alertmanagers``, each with its ``alert_relabel_configs``."""
    out = []
    for am in alertmanagers:
        relabel = alert_relabeler(am.alert_relabel_configs)
        if getattr(am, "api_version", "v2") != "v2":
            log.warning("only Alertmanager API v2 is supported api_version=%s", am.api_version)
        client = _client(am)
        prefix = "/" + am.path_prefix.strip("/")
        prefix = "" if prefix == "/" else prefix
        for sc in am.static_configs:
            for target in sc.targets:
                out.append(AlertmanagerTarget(
                    f"{am.scheme}://{target}{prefix}/api/v2/alerts", client, am.timeout / 1000,
                    relabel))
    return out


def _client(am: AlertmanagerEndpointConfig) -> httpx.AsyncClient:
    return new_client(am, headers={"User-Agent": "guardia", "Content-Type": "application/json"},
                      timeout_s=am.timeout / 1000)


class Notifier:
    def __init__(self, *, external_labels: dict[str, str] | None = None,
                 external_url: str = "", targets: Sequence[AlertmanagerTarget] = (),
                 local: LocalSink | None = None, capacity: int = 10_000,
                 registry: CollectorRegistry | None = None,
                 relabel: Relabel | None = None) -> None:
        self.external_labels = dict(external_labels or {})
        self.external_url = external_url
        self.targets = list(targets)
        self.local = local
        self.capacity = capacity
        self.relabel = relabel
        self._alertmanagers: Sequence[AlertmanagerEndpointConfig] | None = None
        self._queue: collections.deque[SentAlert] = collections.deque()
        self._lock = threading.Lock()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        r = registry if registry is not None else CollectorRegistry()
        am = ["alertmanager"]
        self.m_sent = Counter("prometheus_notifications_sent",
                              "Total number of alerts sent.", am, registry=r)
        self.m_errors = Counter("prometheus_notifications_errors",
                                "Total number of sent alerts affected by errors.", am, registry=r)
        self.m_latency = Summary("prometheus_notifications_latency_seconds",
                                 "Latency quantiles for sending alert notifications.", am,
                                 registry=r)
        self.m_dropped = Counter("prometheus_notifications_dropped",
                                 "Total number of alerts dropped due to errors when sending to "
                                 "Alertmanager.", registry=r)
        self.m_queue_len = Gauge("prometheus_notifications_queue_length",
                                 "The number of alert notifications in the queue.", registry=r)
        Gauge("prometheus_notifications_queue_capacity",
              "The capacity of the alert notifications queue.", registry=r).set(capacity)
        Gauge("prometheus_notifications_alertmanagers_discovered",
              "The number of alertmanagers discovered and active.", registry=r).set_function(
                  lambda: len(self.targets))

    def apply_config(self, config: PrometheusConfig) -> None:
        """A reload: external labels and alert relabeling change at once; the Alertmanager
        targets (and their HTTP clients) are rebuilt only when ``alertmanagers`` changed."""
        self.external_labels = dict(config.global_.external_labels)
        self.relabel = alert_relabeler(config.alerting.alert_relabel_configs)
        ams = config.alerting.alertmanagers
        if self._alertmanagers is None or ams != self._alertmanagers:
            self.targets = targets_from_config(ams)
            self._alertmanagers = ams

    # --- producer side (any thread)
    def notify(self, expr: str, alerts: Sequence[Alert]) -> None:
        """NotifyFunc for rule groups."""
        items = []
        for a in alerts:
            sent = to_sent(a, expr, self.external_labels, self.external_url, self.relabel)
            if sent is not None:
                items.append(sent)
        if items:
            self.enqueue(items)

    def enqueue(self, items: list[SentAlert]) -> None:
        with self._lock:
            self._queue.extend(items)
            overflow = len(self._queue) - self.capacity
            if overflow > 0:
                for _ in range(overflow):
                    self._queue.popleft()
                self.m_dropped.inc(overflow)
                log.warning("alert queue full, dropped oldest alerts count=%d", overflow)
            self.m_queue_len.set(len(self._queue))
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            loop.call_soon_threadsafe(wake.set)

    def _take(self) -> list[SentAlert]:
        with self._lock:
            n = min(MAX_BATCH, len(self._queue))
            batch = [self._queue.popleft() for _ in range(n)]
            self.m_queue_len.set(len(self._queue))
        return batch

    # --- consumer side (event loop)
    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        while not stop.is_set():
            batch = self._take()
            if not batch:
                self._wake.clear()
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                continue
            await self.send_batch(batch)
        for t in {t.client for t in self.targets}:
            await t.aclose()

    async def flush(self) -> None:
        """Send everything queued now (tests, shutdown)."""
        while batch := self._take():
            await self.send_batch(batch)

    async def send_batch(self, batch: list[SentAlert]) -> None:
        jobs = []
        if self.targets:
            body = [postable(a) for a in batch]
            jobs = [self._post(t, body) for t in self.targets]
        if self.local is not None:
            jobs.append(self._local(batch))
        await asyncio.gather(*jobs)

    async def _local(self, batch: list[SentAlert]) -> None:
        assert self.local is not None
        t0 = time.perf_counter()
        try:
            await self.local(batch)
            self.m_sent.labels("local").inc(len(batch))
        except Exception as e:  # a failing sink must not stop the others
            self.m_errors.labels("local").inc(len(batch))
            log.error("sending alerts to the built-in Alertmanager failed err=%s", e)
        self.m_latency.labels("local").observe(time.perf_counter() - t0)

    async def _post(self, target: AlertmanagerTarget, batch: list[dict[str, Any]]) -> None:
        import httpx  # here: ~2 MiB resident, and most servers never make this request (#28)

        if target.relabel is not None:
            batch = _relabeled(batch, target.relabel)
            if not batch:
                return
        t0 = time.perf_counter()
        try:
            resp = await target.client.post(target.url, json=batch, timeout=target.timeout_s)
            if resp.status_code // 100 != 2:
                raise httpx.HTTPStatusError(
                    f"bad response status {resp.status_code}: {resp.text[:200]}",
                    request=resp.request, response=resp)
            self.m_sent.labels(target.url).inc(len(batch))
            if target.failures:
                log.info("alertmanager reachable again alertmanager=%s failed_batches=%d", target.url,
                         target.failures)
                target.failures = 0
        except httpx.HTTPError as e:
            self.m_errors.labels(target.url).inc(len(batch))
            target.failures += 1
            say = log.error if target.failures == 1 else log.debug
            say("error sending alerts alertmanager=%s count=%d err=%s%s", target.url, len(batch),
                e or type(e).__name__, " (logged once until it answers again; every failure is counted "
                "in prometheus_notifications_errors_total)" if target.failures == 1 else "")
        self.m_latency.labels(target.url).observe(time.perf_counter() - t0)


def _relabeled(batch: list[dict[str, Any]], relabel: Relabel) -> list[dict[str, Any]]:
    out = []
    for p in batch:
        labels = relabel(dict(p["labels"]))
        if labels:
            out.append({**p, "labels": labels})
    return out
