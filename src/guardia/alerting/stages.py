"""The notification pipeline, composed in one place as Alertmanager's ``notify.go`` does.

    inhibit mute → time active → time mute → silence mute → fan out per integration:
        dedupe (notification log) → retry with backoff → record in the notification log

Each stage has one method, ``exec(ctx, alerts) -> alerts``; a stage that returns no alerts
ends the flush quietly, a failed delivery raises.  Alertmanager also has a "wait" stage that
staggers cluster peers; a single process has no peers, so it is left out.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from guardia.alerting.metrics import NotifyMetrics
from guardia.alerting.nflog import Entry, NotificationLog, ReceiverKey
from guardia.alerting.outbox import Pending, RetryQueue, new_id
from guardia.alerting.receivers.base import Notifier, NotifyContext, NotifyError
from guardia.alerting.timeinterval import Intervener
from guardia.alerting.types import Alert, alert_from_record, alert_to_record
from guardia.model.labels import Labels

log = logging.getLogger("guardia.alerting")


class Stage(Protocol):
    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]: ...


class Muter(Protocol):
    def mutes(self, labels: Labels) -> object: ...


class PipelineError(Exception):
    """One or more integrations failed for this flush."""


@dataclass
class MultiStage:
    stages: Sequence[Stage]

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]:
        for s in self.stages:
            if not alerts:
                return []
            alerts = await s.exec(ctx, alerts)
        return alerts


@dataclass
class FanoutStage:
    """Run each integration's stages concurrently; fail if any failed (so resolved alerts
    stay in the group and are tried again next flush)."""

    stages: Sequence[Stage]

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]:
        results = await asyncio.gather(
            *(s.exec(_copy(ctx), list(alerts)) for s in self.stages), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise PipelineError("; ".join(str(e) for e in errors))
        return alerts


def _copy(ctx: NotifyContext) -> NotifyContext:
    """Each integration gets its own context: dedupe writes its firing/resolved sets there."""
    return replace(ctx, firing=set(), resolved=set())


@dataclass
class MuteStage:
    """Drop alerts the muter (inhibitor or silences) mutes."""

    muter: Muter

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]:
        return [a for a in alerts if not self.muter.mutes(a.labels)]


@dataclass
class TimeMuteStage:
    intervener: Intervener

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]:
        if ctx.mute_time_intervals and self.intervener.active(ctx.mute_time_intervals, ctx.now):
            return []
        return alerts


@dataclass
class TimeActiveStage:
    intervener: Intervener

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]:
        if ctx.active_time_intervals and not self.intervener.active(ctx.active_time_intervals, ctx.now):
            return []
        return alerts


def needs_update(entry: Entry | None, firing: set[int], resolved: set[int], send_resolved: bool,
                 now: int, repeat_ns: int) -> bool:
    """Alertmanager's dedupe decision."""
    if entry is None:
        return bool(firing)
    if not entry.is_firing_subset(firing):
        return True
    if not firing:
        # All resolved: tell the receiver only if it was told they were firing.
        return bool(entry.firing)
    if send_resolved and not entry.is_resolved_subset(resolved):
        return True
    return entry.timestamp <= now - repeat_ns


@dataclass
class DedupStage:
    nflog: NotificationLog
    key: ReceiverKey
    send_resolved: bool
    clock: Callable[[], int]

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]:
        firing: set[int] = set()
        resolved: set[int] = set()
        for a in alerts:
            (resolved if a.resolved_at(ctx.now) else firing).add(a.fingerprint)
        ctx.firing, ctx.resolved = firing, resolved
        entry = self.nflog.query(ctx.group_key, self.key)
        if needs_update(entry, firing, resolved, self.send_resolved, self.clock(), ctx.repeat_interval_ns):
            return alerts
        return []


@dataclass
class Backoff:
    """Exponential backoff as Alertmanager uses it (0.5s start, ×1.5, ±50% jitter, 60s cap)."""

    initial_s: float = 0.5
    multiplier: float = 1.5
    jitter: float = 0.5
    max_s: float = 60.0

    def delay(self, attempts: int) -> float:
        """The wait after the ``attempts``-th failed attempt (1-based), with jitter."""
        d = min(self.initial_s * self.multiplier ** min(max(attempts - 1, 0), 64), self.max_s)
        return d * (1 + random.uniform(-self.jitter, self.jitter))

    def delays(self) -> list[float]:
        out, d = [], self.initial_s
        for _ in range(64):
            out.append(d * (1 + random.uniform(-self.jitter, self.jitter)))
            d = min(d * self.multiplier, self.max_s)
        return out


@dataclass(frozen=True, slots=True)
class Attempt:
    """One finished delivery (after its retries) of one group to one integration."""

    at_ns: int
    group_key: str
    alerts: int
    error: str = ""


@dataclass
class IntegrationState:
    """Last delivery attempt of one integration: shown by status pages until it succeeds.

    ``queued`` counts notifications being sent or waiting for a retry right now; ``recent``
    keeps the last deliveries (newest last) for the UI's notification history.
    """

    last_attempt_ns: int = 0
    last_duration_s: float = 0.0
    last_error: str = ""
    failing_since_ns: int = 0
    consecutive_failures: int = 0
    queued: int = 0
    recent: deque[Attempt] = field(default_factory=lambda: deque(maxlen=RECENT_ATTEMPTS))

    def succeeded(self, at: int, duration: float, group_key: str = "", alerts: int = 0) -> None:
        self.last_attempt_ns, self.last_duration_s = at, duration
        self.last_error, self.failing_since_ns, self.consecutive_failures = "", 0, 0
        self.recent.append(Attempt(at, group_key, alerts))

    def failed(self, at: int, duration: float, error: str, group_key: str = "", alerts: int = 0) -> None:
        self.last_attempt_ns, self.last_duration_s, self.last_error = at, duration, error
        self.failing_since_ns = self.failing_since_ns or at
        self.consecutive_failures += 1
        self.recent.append(Attempt(at, group_key, alerts, error or "failed"))


RECENT_ATTEMPTS = 20


@dataclass
class RetryStage:
    notifier: Notifier
    key: ReceiverKey
    send_resolved: bool
    metrics: NotifyMetrics
    backoff: Backoff
    state: IntegrationState = field(default_factory=IntegrationState)

    def to_send(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert] | None:
        """What the integration is sent of this flush; None when nothing is (only resolved
        alerts, and the integration does not want them)."""
        if self.send_resolved:
            return alerts
        if not ctx.firing:
            return None
        return [a for a in alerts if not a.resolved_at(ctx.now)]

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]:
        sent = self.to_send(ctx, alerts)
        if sent is None:
            return alerts  # only resolved alerts: log them, send nothing
        await self.send(ctx, sent)
        return alerts

    async def send(self, ctx: NotifyContext, sent: list[Alert],
                   on_failure: Callable[[int, float, str], None] | None = None) -> None:
        """Deliver with retries until the flush's deadline; ``on_failure(attempt, next_delay_s,
        error)`` hears of every failed attempt (the retry queue records them)."""
        self.state.queued += 1
        try:
            await self._deliver(ctx, sent, on_failure)
        finally:
            self.state.queued -= 1

    async def _deliver(self, ctx: NotifyContext, sent: list[Alert],
                       on_failure: Callable[[int, float, str], None] | None) -> None:
        integ, name = self.key.integration, self.key.name
        self.metrics.notifications.labels(integ, name).inc()
        delays = iter(self.backoff.delays())
        attempt = 0
        loop = asyncio.get_running_loop()
        while True:
            attempt += 1
            self.metrics.requests.labels(integ, name).inc()
            t0 = time.monotonic()
            try:
                remaining = ctx.deadline - loop.time()
                if remaining <= 0:
                    raise NotifyError("notify deadline exceeded", retryable=False,
                                      reason="contextDeadlineExceeded")
                await asyncio.wait_for(self.notifier.send(ctx, sent), timeout=remaining)
                self.metrics.latency.labels(integ, name).observe(time.monotonic() - t0)
                self.state.succeeded(time.time_ns(), time.monotonic() - t0, ctx.group_key, len(sent))
                log.info("event=notify_success receiver=%s integration=%s attempts=%d group_key=%s alerts=%d",
                         name, integ, attempt, ctx.group_key, len(sent))
                return
            except TimeoutError:
                err = NotifyError("notify deadline exceeded", retryable=False,
                                  reason="contextDeadlineExceeded")
            except NotifyError as e:
                err = e
            self.metrics.requests_failed.labels(integ, name).inc()
            delay = next(delays)
            if on_failure is not None:
                on_failure(attempt, delay, str(err))
            if not err.retryable or loop.time() + delay >= ctx.deadline:
                self.metrics.failed.labels(integ, name, err.reason).inc()
                self.state.failed(time.time_ns(), time.monotonic() - t0, str(err), ctx.group_key, len(sent))
                log.error("event=notify_failed receiver=%s integration=%s attempts=%d retryable=%s error=%r",
                          name, integ, attempt, err.retryable, str(err))
                raise NotifyError(f"{self.key}: notify retry canceled after {attempt} attempts: {err}",
                                  retryable=err.retryable, reason=err.reason) from None
            log.warning("event=notify_retry receiver=%s integration=%s attempt=%d error=%r",
                        name, integ, attempt, str(err))
            await asyncio.sleep(delay)


@dataclass
class SetNotifiesStage:
    nflog: NotificationLog
    key: ReceiverKey

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]:
        self.nflog.log(ctx.group_key, self.key, ctx.firing, ctx.resolved)
        return alerts


@dataclass
class Integration:
    """One configured integration of a receiver, ready to send."""

    key: ReceiverKey
    notifier: Notifier
    send_resolved: bool
    state: IntegrationState = field(default_factory=IntegrationState)


def build_pipeline(
    integrations: dict[str, list[Integration]],
    *,
    inhibitor: Muter,
    silencer: Muter,
    intervener: Intervener,
    nflog: NotificationLog,
    metrics: NotifyMetrics,
    clock: Callable[[], int],
    backoff: Backoff | None = None,
    queue: RetryQueue | None = None,
) -> dict[str, MultiStage]:
    """One pipeline per receiver name, in Alertmanager's order.  With a retry queue each
    integration's dedupe → retry → log runs as one ``DeliverStage`` that queues what it sends."""
    bo = backoff or Backoff()
    out: dict[str, MultiStage] = {}
    for name, integs in integrations.items():
        per_integration: list[Stage] = [
            DeliverStage(DedupStage(nflog, i.key, i.send_resolved, clock),
                         RetryStage(i.notifier, i.key, i.send_resolved, metrics, bo, i.state),
                         nflog, queue, clock)
            if queue is not None else
            MultiStage([
                DedupStage(nflog, i.key, i.send_resolved, clock),
                RetryStage(i.notifier, i.key, i.send_resolved, metrics, bo, i.state),
                SetNotifiesStage(nflog, i.key),
            ])
            for i in integs
        ]
        out[name] = MultiStage([
            MuteStage(inhibitor),
            TimeActiveStage(intervener),
            TimeMuteStage(intervener),
            MuteStage(silencer),
            FanoutStage(per_integration),
        ])
    return out


def _kept_in_queue(err: NotifyError) -> bool:
    """A failure worth trying again later: retryable, or out of the flush's time."""
    return err.retryable or err.reason == "contextDeadlineExceeded"


@dataclass
class DeliverStage:
    """Dedupe, retry and log for one integration, with the notification in the retry queue from
    before its first request until the notification log holds it.

    The whole runs under the queue's lock of this group and integration, and dedupes again
    once it holds it: a redelivery of a queued entry may have sent the same thing meanwhile.
    When the group's current state needs nothing sent, an older undelivered entry is dropped
    with it (it would tell the receiver something no longer true).
    """

    dedup: DedupStage
    retry: RetryStage
    nflog: NotificationLog
    queue: RetryQueue
    clock: Callable[[], int]

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]:
        key = self.retry.key
        async with self.queue.lock(ctx.group_key, key):
            alerts = await self.dedup.exec(ctx, alerts)
            stale = self.queue.for_key(ctx.group_key, key)
            sent = self.retry.to_send(ctx, alerts) if alerts else None
            if sent is None:
                if stale is not None:
                    self.queue.done(stale.id)
                if alerts:
                    self.nflog.log(ctx.group_key, key, ctx.firing, ctx.resolved)
                return alerts
            now = self.clock()
            entry = self.queue.put(Pending(
                id=new_id(), group_key=ctx.group_key, receiver=key, group_labels=dict(ctx.group_labels),
                now=ctx.now, repeat_interval_ns=ctx.repeat_interval_ns, external_url=ctx.external_url,
                firing=tuple(sorted(ctx.firing)), resolved=tuple(sorted(ctx.resolved)),
                alerts=tuple(alert_to_record(a) for a in sent), queued_at=now, created_at=now, next_try=now,
            ))
            ctx.notification_id = entry.id
            base = entry.attempts

            def failed(attempt: int, delay_s: float, error: str) -> None:
                self.queue.tried(entry.id, base + attempt, self.clock() + int(delay_s * 1e9), error)

            try:
                await self.retry.send(ctx, sent, failed)
            except NotifyError as e:
                if not _kept_in_queue(e):
                    self.queue.done(entry.id)  # a receiver that refuses it will refuse it again
                raise
            self.nflog.log(ctx.group_key, key, ctx.firing, ctx.resolved)
            self.queue.done(entry.id)
            return alerts


REDELIVERY_TIMEOUT_S = 10.0


async def redeliver_due(queue: RetryQueue, nflog: NotificationLog,
                        lookup: Callable[[Pending], Integration | str | None], metrics: NotifyMetrics,
                        backoff: Backoff, clock: Callable[[], int]) -> int:
    """Try each queued notification whose next try has come, once; returns how many were
    delivered.  This is what delivers, after a restart, what was due when the process died.

    An entry the notification log shows as sent (the process died after the receiver took it
    but before the entry was removed), or superseded by a newer delivery, is dropped unsent; so
    is one ``lookup`` no longer finds an integration for (it says why: the receiver is gone, or
    a reload routes the group's alerts elsewhere now); None from it means "not now".
    """
    delivered = 0
    loop = asyncio.get_running_loop()
    for e in queue.pending():
        if e.next_try > clock():
            continue
        lk = queue.lock(e.group_key, e.receiver)
        if lk.locked():
            continue  # a flush of this group is delivering right now
        async with lk:
            cur = queue.get(e.id)
            if cur is None:
                continue
            logged = nflog.query(cur.group_key, cur.receiver)
            if logged is not None and logged.timestamp >= cur.created_at:
                queue.done(cur.id)
                continue
            integ = lookup(cur)
            if integ is None:
                continue
            if isinstance(integ, str):
                log.warning("event=notify_queue_dropped reason=%r receiver=%s group_key=%s",
                            integ, cur.receiver, cur.group_key)
                queue.done(cur.id)
                continue
            if await _redeliver(cur, integ, queue, nflog, metrics, backoff, clock, loop):
                delivered += 1
    return delivered


async def _redeliver(e: Pending, integ: Integration, queue: RetryQueue, nflog: NotificationLog,
                     metrics: NotifyMetrics, backoff: Backoff, clock: Callable[[], int],
                     loop: asyncio.AbstractEventLoop) -> bool:
    ctx = NotifyContext(
        group_key=e.group_key, receiver=e.receiver.name, group_labels=Labels(e.group_labels), now=e.now,
        repeat_interval_ns=e.repeat_interval_ns, deadline=loop.time() + REDELIVERY_TIMEOUT_S,
        external_url=e.external_url, firing=set(e.firing), resolved=set(e.resolved), notification_id=e.id,
    )
    alerts = [alert_from_record(d) for d in e.alerts]
    integ_name, name = e.receiver.integration, e.receiver.name
    metrics.requests.labels(integ_name, name).inc()
    t0 = time.monotonic()
    attempts = e.attempts + 1
    try:
        await asyncio.wait_for(integ.notifier.send(ctx, alerts), timeout=REDELIVERY_TIMEOUT_S)
    except (NotifyError, TimeoutError) as exc:
        err = exc if isinstance(exc, NotifyError) else NotifyError(
            "notify deadline exceeded", retryable=True, reason="contextDeadlineExceeded")
        metrics.requests_failed.labels(integ_name, name).inc()
        integ.state.failed(time.time_ns(), time.monotonic() - t0, str(err), e.group_key, len(alerts))
        if not _kept_in_queue(err):
            metrics.failed.labels(integ_name, name, err.reason).inc()
            log.error("event=notify_queue_dropped reason=%r receiver=%s group_key=%s attempts=%d",
                      str(err), e.receiver, e.group_key, attempts)
            queue.done(e.id)
        else:
            delay = backoff.delay(attempts)
            queue.tried(e.id, attempts, clock() + int(delay * 1e9), str(err))
            log.warning("event=notify_queue_retry receiver=%s group_key=%s attempts=%d next_in=%.1fs "
                        "error=%r", e.receiver, e.group_key, attempts, delay, str(err))
        return False
    metrics.latency.labels(integ_name, name).observe(time.monotonic() - t0)
    nflog.log(e.group_key, e.receiver, set(e.firing), set(e.resolved))
    queue.done(e.id)
    integ.state.succeeded(time.time_ns(), time.monotonic() - t0, e.group_key, len(alerts))
    log.info("event=notify_redelivered receiver=%s group_key=%s attempts=%d queued_for=%.1fs",
             e.receiver, e.group_key, attempts, (clock() - e.queued_at) / 1e9)
    return True
