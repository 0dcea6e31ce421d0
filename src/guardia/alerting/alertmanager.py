"""``Alertmanager``: alerts in, notifications out, with Alertmanager's semantics.

Ties together the alert store, the dispatcher (routing tree + aggregation groups), the
pipeline (inhibit, time intervals, silences, dedupe, retry) and the receivers.  Alerts,
silences and the notification log persist under ``data_dir``; on start the stored alerts
are fed back into the dispatcher and the notification log keeps them from being resent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from guardia.alerting import outbox
from guardia.alerting.acks import Ack, AckError, LinkSigner
from guardia.alerting.dispatch import Dispatcher, FlushInfo
from guardia.alerting.escalate import Escalator
from guardia.alerting.inhibit import Inhibitor, InhibitRule
from guardia.alerting.metrics import NotifyMetrics, QueueCollector, StateCollector
from guardia.alerting.nflog import NotificationLog, ReceiverKey
from guardia.alerting.outbox import Pending, RetryQueue
from guardia.alerting.persist import Journal
from guardia.alerting.receivers import build_notifier
from guardia.alerting.receivers.base import Notifier, NotifyContext
from guardia.alerting.route import Route
from guardia.alerting.silence import Silence, Silences
from guardia.alerting.stages import Backoff, Integration, MultiStage, build_pipeline, redeliver_due
from guardia.alerting.timeinterval import Intervener
from guardia.alerting.types import (
    Alert,
    Clock,
    alert_from_record,
    alert_to_record,
    fingerprint_hex,
    system_clock,
)
from guardia.config.alertmanager import AlertmanagerConfig
from guardia.config.receivers import NotifierConfig
from guardia.model.am_matchers import format_matchers
from guardia.model.labels import Labels, is_valid_label_name
from guardia.model.matchers import Matcher, matches_all

log = logging.getLogger("guardia.alerting")
VERSION = "0.27.0-guardia"
NotifierFactory = Callable[[str, NotifierConfig, AlertmanagerConfig], Notifier]


class AlertValidationError(ValueError):
    """An alert posted with bad labels or times; the message names the problem."""


@dataclass(frozen=True, slots=True)
class AlertStatus:
    """Whether an alert is muted now, and by which silences and inhibiting alert."""

    state: str  # "active" | "suppressed"
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()  # fingerprints (hex) of the inhibiting alerts


@dataclass(frozen=True, slots=True)
class ListedAlert:
    """An alert as a listing shows it: with its status and the receivers it routes to."""

    alert: Alert
    status: AlertStatus
    receivers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ListedGroup:
    labels: Labels
    receiver: str
    alerts: tuple[ListedAlert, ...]


class Alertmanager:
    def __init__(
        self,
        config: AlertmanagerConfig,
        *,
        data_dir: str | Path | None = None,
        registry: CollectorRegistry | None = None,
        external_url: str = "http://localhost:9093",
        clock: Clock = system_clock,
        notifier_factory: NotifierFactory | None = None,
        backoff: Backoff | None = None,
        maintenance_interval_s: float = 30.0,
        escalation_tick_s: float = 5.0,
        queue_tick_s: float = 1.0,
    ) -> None:
        self.config = config
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.external_url = external_url
        self.clock = clock
        self.metrics = NotifyMetrics.create(registry)
        self.notifier_factory = notifier_factory or build_notifier
        self.backoff = backoff
        self.maintenance_interval_s = maintenance_interval_s
        self.started_at = clock()
        self.silences = Silences(self._file("silences.json"), clock=clock)
        self.nflog = NotificationLog(self._file("nflog.json"), clock=clock)
        self.queue = RetryQueue(self._file(outbox.FILE_NAME), clock)
        self.queue_tick_s = queue_tick_s
        self._redelivery: asyncio.Task[None] | None = None
        self._reloading = False
        self._alerts: dict[int, Alert] = {}
        self._version = 0  # bumped on every change of the alert store (inhibition index)
        store = self._file("alerts.json")
        self._store = Journal(store) if store is not None else None
        if self._store is not None:
            for d in self._store.load(lambda r: fingerprint_hex(Labels(r["labels"]).fingerprint())).values():
                a = alert_from_record(d)
                self._alerts[a.fingerprint] = a
        self._dispatcher: Dispatcher | None = None
        self._maint: asyncio.Task[None] | None = None
        self.escalator = Escalator(self._file("escalation.json"), clock)
        self.ack_links = LinkSigner(self._file("ack.key"))
        self.escalation_tick_s = escalation_tick_s
        self._escalation: asyncio.Task[None] | None = None
        self._apply(config)
        # last: an auto_describe registry collects once at registration, so the state must exist
        self.metrics.registry.register(StateCollector(self._state_counts))  # type: ignore[arg-type]
        self.metrics.registry.register(QueueCollector(  # type: ignore[arg-type]
            lambda: [i.key for i in self.integration_states()], self.queue.pending, clock))

    def _file(self, name: str) -> Path | None:
        return self.data_dir / name if self.data_dir is not None else None

    # ---- configuration

    def _apply(self, config: AlertmanagerConfig) -> None:
        assert config.route is not None, "validated config always has a route"
        self.config = config
        self.route = Route.from_config(config.route)
        self.inhibitor = Inhibitor((InhibitRule.from_config(r) for r in config.inhibit_rules),
                                   lambda: self._alerts.values(), self.clock, lambda: self._version)
        self.intervener = Intervener(config.intervals())
        integrations: dict[str, list[Integration]] = {}
        for r in config.receivers:
            integrations[r.name] = [
                Integration(ReceiverKey(r.name, kind, i), self.notifier_factory(kind, c, config), c.resolved)
                for kind, i, c in r.integrations()
            ]
        self.pipelines: dict[str, MultiStage] = build_pipeline(
            integrations, inhibitor=self.inhibitor, silencer=_SilenceMuter(self.silences),
            intervener=self.intervener, nflog=self.nflog, metrics=self.metrics, clock=self.clock,
            backoff=self.backoff, queue=self.queue,
        )
        self.integrations = integrations

    async def apply_config(self, config: AlertmanagerConfig) -> None:
        """Swap in a new (already validated) config; groups are rebuilt from the stored alerts."""
        running = self._dispatcher is not None
        self._reloading = True
        try:
            if running:
                assert self._dispatcher is not None
                await self._dispatcher.stop()
            self._apply(config)
            if running:
                self._dispatcher = Dispatcher(self.route, self._notify, self.clock)
                for a in self._alerts.values():
                    self._dispatcher.process(a)
        finally:
            self._reloading = False

    reload = apply_config  # the name amtool-style callers and older tests use

    # ---- lifecycle

    async def start(self) -> None:
        self._dispatcher = Dispatcher(self.route, self._notify, self.clock)
        for a in self._alerts.values():
            self._dispatcher.process(a)
        self._maint = asyncio.get_running_loop().create_task(self._maintenance_loop())
        self._escalation = asyncio.get_running_loop().create_task(self._escalation_loop())
        self._redelivery = asyncio.get_running_loop().create_task(self._redelivery_loop())

    async def stop(self) -> None:
        for task in (self._maint, self._escalation, self._redelivery):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._dispatcher is not None:
            await self._dispatcher.stop()
            self._dispatcher = None
        if self._store is not None:
            self._store.compact(alert_to_record(a) for a in self._alerts.values())
        self.nflog.close()
        self.queue.close()

    async def __aenter__(self) -> Alertmanager:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _redelivery_loop(self) -> None:
        while True:
            try:
                await self.redeliver()
            except Exception:
                log.exception("event=redelivery_failed")
            await asyncio.sleep(self.queue_tick_s)

    async def redeliver(self) -> int:
        """Try the queued notifications whose next try has come (those a restart found, and
        those whose flush ran out of time); returns how many were delivered."""
        return await redeliver_due(self.queue, self.nflog, self._integration, self.metrics,
                                   self.backoff or Backoff(), self.clock)

    def _integration(self, e: Pending) -> Integration | str | None:
        """The integration a queued notification goes to, why it goes nowhere now, or None
        while a reload rebuilds the groups."""
        if self._dispatcher is None or self._reloading:
            return None
        if not any(g.key == e.group_key for g in self._dispatcher.groups.values()):
            return "no such aggregation group now (its alerts are gone or routed elsewhere)"
        for i in self.integrations.get(e.receiver.name, ()):
            if i.key == e.receiver:
                return i
        return "integration no longer configured"

    async def _maintenance_loop(self) -> None:
        while True:
            await asyncio.sleep(self.maintenance_interval_s)
            await self.maintenance()

    async def maintenance(self) -> None:
        """GC expired silences and log entries, drop empty groups and long-resolved alerts."""
        self.silences.gc()
        self.nflog.gc()
        if self._dispatcher is not None:
            await self._dispatcher.maintenance()
            in_groups = {fp for g in self._dispatcher.groups.values() for fp in g.alerts}
        else:
            in_groups = set()
        now = self.clock()
        if self.escalator.acks.gc({fp for fp, a in self._alerts.items() if not a.resolved_at(now)}):
            self.escalator.save()
        if self._dispatcher is not None:
            self.escalator.forget_missing({g.key for g in self._dispatcher.groups.values()})
        old = [fp for fp, a in self._alerts.items() if a.resolved_at(now) and fp not in in_groups]
        for fp in old:
            del self._alerts[fp]
        if old:
            self._version += 1
            if self._store is not None:
                self._store.append((fingerprint_hex(fp), None) for fp in old)

    def _state_counts(self) -> tuple[dict[str, int], dict[str, int], int]:
        now = self.clock()
        counts = {"active": 0, "suppressed": 0, "unprocessed": 0}
        for a in self._alerts.values():
            if not a.resolved_at(now):
                counts[self.alert_status(a).state] += 1
        sc = {"active": 0, "pending": 0, "expired": 0}
        for s in self.silences.all():
            sc[s.state(now)] += 1
        return counts, sc, len(self.nflog.entries())

    # ---- alerts in

    async def put(self, alerts: Iterable[Alert]) -> None:
        """Receive alerts (from the API, or from rules in-process); all-or-nothing validation."""
        now = self.clock()
        resolve_ns = self.config.global_.resolve_timeout * 1_000_000
        batch: list[Alert] = []
        errors: list[str] = []
        for i, a in enumerate(alerts):
            try:
                _validate(a)
            except AlertValidationError as e:
                errors.append(f"alert {i}: {e}")
                self.metrics.alerts_invalid.labels("v2").inc()
                continue
            a = a.replace(updated_at=now)
            if a.starts_at == 0:
                a = a.replace(starts_at=a.ends_at or now)
            if a.ends_at == 0:
                a = a.replace(ends_at=now + resolve_ns, timeout=True)
            self.metrics.alerts_received.labels("firing" if a.ends_at > now else "resolved", "v2").inc()
            batch.append(a)
        if errors:
            raise AlertValidationError("; ".join(errors))
        stored: list[Alert] = []
        for a in batch:
            fp = a.fingerprint
            old = self._alerts.get(fp)
            if old is not None and (
                (old.starts_at < a.ends_at < old.ends_at) or (old.starts_at < a.starts_at < old.ends_at)
            ):
                a = old.merge(a)
            self._alerts[fp] = a
            stored.append(a)
            self._version += 1
            if self._dispatcher is not None:
                self._dispatcher.process(a)
        if self._store is not None:
            self._store.append((fingerprint_hex(a.fingerprint), alert_to_record(a)) for a in stored)
            if self._store.needs_compaction(len(self._alerts)):
                self._store.compact(alert_to_record(a) for a in self._alerts.values())

    # ---- the pipeline

    async def _notify(self, info: FlushInfo, alerts: list[Alert]) -> bool:
        if info.route.escalate:
            alerts = [self._with_ack_link(a) for a in alerts]
        ok = await self._run_receiver(info.route, info.group_key, info.group_labels, info.route.receiver,
                                      alerts, info.now, info.deadline)
        if info.route.escalate:
            await self.escalator.step(info.route, info.group_key, info.group_labels, alerts,
                                      self._run_receiver, self._muted)
        return ok

    async def _run_receiver(self, route: Route, group_key: str, group_labels: Labels, receiver: str,
                            alerts: list[Alert], now: int | None = None,
                            deadline: float | None = None) -> bool:
        pipeline = self.pipelines.get(receiver)
        if pipeline is None:
            log.error("event=unknown_receiver receiver=%s", receiver)
            return False
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + max(route.group_interval_ms / 1000, 10.0)
        ctx = NotifyContext(
            group_key=group_key, receiver=receiver, group_labels=group_labels,
            now=self.clock() if now is None else now,
            repeat_interval_ns=route.repeat_interval_ms * 1_000_000,
            mute_time_intervals=route.mute_time_intervals,
            active_time_intervals=route.active_time_intervals,
            deadline=deadline, external_url=self.external_url,
        )
        try:
            await pipeline.exec(ctx, alerts)
        except Exception as e:
            log.error("event=notify_pipeline_failed receiver=%s group_key=%s error=%r",
                      receiver, group_key, str(e))
            return False
        return True

    # ---- escalation and acknowledgement

    def _muted(self, a: Alert) -> bool:
        return bool(self.silences.mutes(a.labels)) or self.inhibitor.mutes(a.labels) is not None

    def ack_url(self, fingerprint: int) -> str:
        return f"{self.external_url.rstrip('/')}/ack/{self.ack_links.token(fingerprint)}"

    def _with_ack_link(self, a: Alert) -> Alert:
        """Alerts of an escalating route carry the link that acknowledges them."""
        if a.resolved_at(self.clock()):
            return a
        return a.replace(annotations=Labels({**dict(a.annotations), "ack_url": self.ack_url(a.fingerprint)}))

    async def escalation_tick(self) -> None:
        """Notify the escalation steps that came due since the last flush of their group."""
        if self._dispatcher is None:
            return
        now = self.clock()
        for g in list(self._dispatcher.groups.values()):
            if not g.route.escalate or not g.has_flushed or not g.alerts:
                continue
            batch = sorted((a if a.resolved_at(now) else a.replace(ends_at=0) for a in g.alerts.values()),
                           key=lambda a: a.fingerprint)
            batch = [self._with_ack_link(a) for a in batch]
            await self.escalator.step(g.route, g.key, g.labels, batch, self._run_receiver, self._muted)

    async def _escalation_loop(self) -> None:
        while True:
            await asyncio.sleep(self.escalation_tick_s)
            try:
                await self.escalation_tick()
            except Exception:
                log.exception("event=escalation_tick_failed")

    def acknowledge(self, *, by: str, comment: str = "", matchers: list[Matcher] | None = None,
                    fingerprints: list[int] | None = None) -> Ack:
        """Acknowledge the firing alerts the matchers (or fingerprints) name; ``AckError`` if none."""
        now = self.clock()
        firing = {fp: a for fp, a in self._alerts.items() if not a.resolved_at(now)}
        chosen = set(fingerprints or ())
        unknown = [f"{fp:016x}" for fp in chosen if fp not in firing]
        if unknown:
            raise AckError(f"no firing alert has fingerprint {unknown[0]}")
        if matchers:
            chosen |= {fp for fp, a in firing.items() if matches_all(matchers, a.labels)}
        named = (format_matchers(matchers),) if matchers else ()
        ack = self.escalator.acks.add(chosen, by, comment, now, named)
        self.escalator.save()
        log.info("event=acknowledged id=%s by=%r alerts=%d comment=%r", ack.id, ack.by, len(ack.fingerprints),
                 ack.comment)
        return ack

    def acknowledge_link(self, token: str, *, by: str, comment: str = "") -> Ack:
        return self.acknowledge(by=by, comment=comment, fingerprints=[self.ack_links.verify(token)])

    def alert_by_fingerprint(self, fingerprint: int) -> Alert | None:
        return self._alerts.get(fingerprint)

    def escalations(self) -> list[tuple[str, Route, list[Any]]]:
        """Groups of escalating routes with their steps (reached or when due)."""
        if self._dispatcher is None:
            return []
        return [(g.key, g.route, self.escalator.steps(g.route, g.key))
                for g in self._dispatcher.groups.values() if g.route.escalate]

    # ---- queries (the API turns these into its JSON shapes)

    def alert_status(self, a: Alert) -> AlertStatus:
        silenced = self.silences.mutes(a.labels)
        inh = self.inhibitor.mutes(a.labels)
        inhibited = (fingerprint_hex(inh),) if inh is not None else ()
        state = "suppressed" if silenced or inhibited else "active"
        return AlertStatus(state, tuple(silenced), inhibited)

    def _listed(self, a: Alert, now: int, matchers: list[Matcher] | None, active: bool, silenced: bool,
                inhibited: bool) -> AlertStatus | None:
        """The alert's status when the API's filter flags list it, else None.

        ``alerts`` and ``groups`` take the same query flags; one filter keeps them agreeing.
        """
        if a.resolved_at(now):
            return None
        if matchers and not matches_all(matchers, a.labels):
            return None
        st = self.alert_status(a)
        if st.state == "active" and not active:
            return None
        if st.silenced_by and not silenced:
            return None
        if st.inhibited_by and not inhibited:
            return None
        return st

    def _receivers_of(self, a: Alert) -> list[str]:
        out: list[str] = []
        for r in self.route.match(a.labels):
            if r.receiver not in out:
                out.append(r.receiver)
        return out

    def alerts(self, *, matchers: list[Matcher] | None = None, active: bool = True, silenced: bool = True,
               inhibited: bool = True, unprocessed: bool = True, receiver: str | None = None
               ) -> list[ListedAlert]:
        """Unresolved alerts by fingerprint, filtered as the API's query flags say."""
        now = self.clock()
        rx = re.compile(receiver) if receiver else None
        out = []
        for a in sorted(self._alerts.values(), key=lambda x: x.fingerprint):
            st = self._listed(a, now, matchers, active, silenced, inhibited)
            if st is None:
                continue
            receivers = self._receivers_of(a)
            if rx is not None and not any(rx.fullmatch(r) for r in receivers):
                continue
            out.append(ListedAlert(a, st, tuple(receivers)))
        return out

    def groups(self, *, matchers: list[Matcher] | None = None, active: bool = True, silenced: bool = True,
               inhibited: bool = True, receiver: str | None = None) -> list[ListedGroup]:
        """The aggregation groups with the alerts the filter flags list (groups left empty omitted)."""
        if self._dispatcher is None:
            return []
        now = self.clock()
        rx = re.compile(receiver) if receiver else None
        out = []
        for g in self._dispatcher.groups.values():
            if rx is not None and not rx.fullmatch(g.route.receiver):
                continue
            items = []
            for a in sorted(g.alerts.values(), key=lambda x: x.fingerprint):
                st = self._listed(a, now, matchers, active, silenced, inhibited)
                if st is None:
                    continue
                items.append(ListedAlert(a, st, (g.route.receiver,)))
            if items:
                out.append(ListedGroup(g.labels, g.route.receiver, tuple(items)))
        return out

    def silence_list(self, matchers: list[Matcher] | None = None) -> list[Silence]:
        """Silences the filter matches: active first (soonest to end), then pending (soonest to
        start), then expired (most recently ended last)."""
        now = self.clock()
        order = {"active": 0, "pending": 1, "expired": 2}
        out = [s for s in self.silences.all() if not matchers or _silence_matches_filter(s, matchers)]
        out.sort(key=lambda s: (order[s.state(now)], s.starts_at if s.state(now) == "pending" else s.ends_at))
        return out

    def integration_states(self) -> list[Integration]:
        """Per receiver integration, in config order: its last attempt, error, failing since.

        A failed notification stays visible here (and in ``alertmanager_notifications_failed_total``)
        until a later attempt delivers it: status pages show it, loudly.
        """
        return [i for integs in self.integrations.values() for i in integs]

    def pending_notifications(self) -> list[Pending]:
        """Notifications due but not delivered yet (retrying, or found on disk at start), oldest
        first; also counted by ``alertmanager_notification_queue_length``."""
        return self.queue.pending()

    def receiver_names(self) -> list[str]:
        return [r.name for r in self.config.receivers]


class _SilenceMuter:
    def __init__(self, silences: Silences) -> None:
        self.silences = silences

    def mutes(self, labels: Labels) -> bool:
        return bool(self.silences.mutes(labels))


def _silence_matches_filter(s: Silence, matchers: list[Matcher]) -> bool:
    """API filter on silences: every filter matcher must match one of the silence's matchers' values."""
    labels = Labels({m.name: m.value for m in s.matchers})
    return all(m.matches(labels.get(m.name)) for m in matchers)


def _validate(a: Alert) -> None:
    if not a.labels:
        raise AlertValidationError("at least one label pair required")
    for k, _ in a.labels:
        if not is_valid_label_name(k):
            raise AlertValidationError(f'invalid label set: invalid name "{k}"')
    if a.starts_at and a.ends_at and a.ends_at < a.starts_at:
        raise AlertValidationError("start time must be before end time")


__all__ = ["VERSION", "Ack", "AckError", "AlertStatus", "AlertValidationError", "Alertmanager", "ListedAlert",
           "ListedGroup"]
