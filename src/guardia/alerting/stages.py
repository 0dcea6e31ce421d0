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
from guardia.alerting.receivers.base import Notifier, NotifyContext, NotifyError
from guardia.alerting.timeinterval import Intervener
from guardia.alerting.types import Alert
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

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> list[Alert]:
        if self.send_resolved:
            sent = alerts
        else:
            if not ctx.firing:
                return alerts  # only resolved alerts: log them, send nothing
            sent = [a for a in alerts if not a.resolved_at(ctx.now)]
        self.state.queued += 1
        try:
            return await self._deliver(ctx, alerts, sent)
        finally:
            self.state.queued -= 1

    async def _deliver(self, ctx: NotifyContext, alerts: list[Alert], sent: list[Alert]) -> list[Alert]:
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
                return alerts
            except TimeoutError:
                err = NotifyError("notify deadline exceeded", retryable=False,
                                  reason="contextDeadlineExceeded")
            except NotifyError as e:
                err = e
            self.metrics.requests_failed.labels(integ, name).inc()
            delay = next(delays)
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
) -> dict[str, MultiStage]:
    """One pipeline per receiver name, in Alertmanager's order."""
    bo = backoff or Backoff()
    out: dict[str, MultiStage] = {}
    for name, integs in integrations.items():
        per_integration: list[Stage] = [
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
