"""Aggregation groups and their timers, as Alertmanager's dispatcher runs them.

Each alert goes to every route it matches; per route, alerts with the same values of the
``group_by`` labels form one aggregation group with the key ``<route key>:<group labels>``.
A new group waits ``group_wait`` before its first flush (or flushes at once if its alert is
already older than that), then flushes every ``group_interval``; the pipeline decides
whether a flush actually notifies (new alerts, resolved ones, or ``repeat_interval``).
After a successful flush the resolved alerts it carried leave the group, unless they were
updated during the flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from guardia.alerting.route import Route
from guardia.alerting.types import Alert, Clock, alert_sort_key
from guardia.model.gostrings import labels_string
from guardia.model.labels import Labels

log = logging.getLogger("guardia.alerting")
MIN_NOTIFY_TIMEOUT_S = 10.0


@dataclass
class FlushInfo:
    """What the notify function needs from a group to run the pipeline."""

    group_key: str
    route: Route
    group_labels: Labels
    now: int
    deadline: float


NotifyFunc = Callable[[FlushInfo, list[Alert]], Awaitable[bool]]


class AggrGroup:
    def __init__(self, route: Route, labels: Labels, notify: NotifyFunc, clock: Clock) -> None:
        self.route = route
        self.labels = labels
        self.key = f"{route.key()}:{labels_string(labels)}"
        self.alerts: dict[int, Alert] = {}
        self.has_flushed = False
        self._notify = notify
        self._clock = clock
        loop = asyncio.get_running_loop()
        self._next_at = loop.time() + route.group_wait_ms / 1000
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._run(), name=f"aggrgroup {self.key}")

    def insert(self, alert: Alert) -> None:
        self.alerts[alert.fingerprint] = alert
        if not self.has_flushed and alert.starts_at + self.route.group_wait_ms * 1_000_000 < self._clock():
            self._next_at = asyncio.get_running_loop().time()
            self._wake.set()

    def empty(self) -> bool:
        return not self.alerts

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            delay = self._next_at - loop.time()
            if delay > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            interval = self.route.group_interval_ms / 1000
            self._next_at = loop.time() + interval
            self.has_flushed = True
            try:
                await self._flush(loop.time() + max(interval, MIN_NOTIFY_TIMEOUT_S))
            except Exception:  # a broken flush must not stop the group's timer
                log.exception("event=flush_failed group_key=%s", self.key)

    async def _flush(self, deadline: float) -> None:
        if not self.alerts:
            return
        now = self._clock()
        batch: list[Alert] = []
        resolved: list[Alert] = []
        for a in self.alerts.values():
            if a.resolved_at(now):
                resolved.append(a)
                batch.append(a)
            else:
                batch.append(a.replace(ends_at=0))  # firing alerts carry no end time
        batch.sort(key=alert_sort_key)
        info = FlushInfo(self.key, self.route, self.labels, now, deadline)
        if await self._notify(info, batch):
            for a in resolved:
                cur = self.alerts.get(a.fingerprint)
                if cur is not None and cur.updated_at == a.updated_at:
                    del self.alerts[a.fingerprint]


class Dispatcher:
    """Routes alerts into aggregation groups; empty groups are removed by ``maintenance``."""

    def __init__(self, root: Route, notify: NotifyFunc, clock: Clock) -> None:
        self.root = root
        self._notify = notify
        self._clock = clock
        self.groups: dict[tuple[int, Labels], AggrGroup] = {}

    def process(self, alert: Alert) -> None:
        for route in self.root.match(alert.labels):
            labels = route.group_labels(alert.labels)
            key = (id(route), labels)
            group = self.groups.get(key)
            if group is None:
                group = AggrGroup(route, labels, self._notify, self._clock)
                self.groups[key] = group
            group.insert(alert)

    async def maintenance(self) -> None:
        for key, g in list(self.groups.items()):
            if g.empty():
                await g.stop()
                del self.groups[key]

    async def stop(self) -> None:
        for g in list(self.groups.values()):
            await g.stop()
        self.groups.clear()
