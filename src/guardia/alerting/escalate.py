"""Escalation, which Alertmanager lacks: a route's ``escalate:`` steps notify more receivers
the longer its alerts fire unacknowledged.

    route:
      receiver: slack
      escalate:
        - {after: 0m, receiver: slack-oncall}
        - {after: 15m, receiver: pagerduty}

A group's escalation clock starts at its first flush with firing alerts.  Each step is
reached once ``after`` has passed and some firing alert of the group is neither acknowledged
nor muted; it is then notified through its receiver's own pipeline (silences, inhibition,
dedupe, retries), and from then on gets the group's updates, its resolution included.
Acknowledging every firing alert of a group holds the steps not yet reached; when the group
resolves its escalation ends.  Which steps were reached, and since when the clock runs, is
saved (with the acknowledgements) under the data folder, so a restart neither re-pages nor
forgets to page.  ``tick`` is run every few seconds (and by tests, with their own clock).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guardia.alerting.acks import Acks, load_acks, save
from guardia.alerting.persist import read_json
from guardia.alerting.route import Route
from guardia.alerting.types import Alert, Clock

log = logging.getLogger("guardia.alerting")

# run a receiver's pipeline for a group: (route, group key, group labels, receiver, alerts)
RunPipeline = Callable[[Route, str, Any, str, list[Alert]], Awaitable[bool]]


@dataclass
class GroupEscalation:
    started_ns: int
    reached: set[int] = field(default_factory=set)  # indices of the steps notified

    def to_json(self) -> dict[str, Any]:
        return {"started_ns": self.started_ns, "reached": sorted(self.reached)}


@dataclass(frozen=True, slots=True)
class StepView:
    after_ms: int
    receiver: str
    reached: bool
    due_ns: int


class Escalator:
    def __init__(self, state_file: Path | None, clock: Clock) -> None:
        self.file = state_file
        self.clock = clock
        self.acks: Acks = load_acks(state_file)
        self.groups: dict[str, GroupEscalation] = {}
        # a group's flush and the periodic tick must not both page the same step
        self._locks: dict[str, asyncio.Lock] = {}
        data = read_json(state_file) if state_file is not None else None
        for key, d in ((data or {}).get("escalations") or {}).items():
            self.groups[key] = GroupEscalation(int(d["started_ns"]), set(d.get("reached", [])))

    def save(self) -> None:
        save(self.file, self.acks, {k: g.to_json() for k, g in self.groups.items()})

    def unacked(self, alerts: list[Alert], now: int) -> list[Alert]:
        return [a for a in alerts if not a.resolved_at(now) and self.acks.of(a.fingerprint) is None]

    async def step(self, route: Route, group_key: str, group_labels: Any, alerts: list[Alert],
                   run: RunPipeline, muted: Callable[[Alert], bool]) -> None:
        """One look at one group: start its clock, notify the steps that are due, pass updates
        to the steps reached, end its escalation when it resolved."""
        if not route.escalate:
            return
        lock = self._locks.setdefault(group_key, asyncio.Lock())
        async with lock:
            await self._step(route, group_key, group_labels, alerts, run, muted)

    async def _step(self, route: Route, group_key: str, group_labels: Any, alerts: list[Alert],
                    run: RunPipeline, muted: Callable[[Alert], bool]) -> None:
        now = self.clock()
        firing = [a for a in alerts if not a.resolved_at(now)]
        esc = self.groups.get(group_key)
        if not firing:
            if esc is not None:
                for i in sorted(esc.reached):  # tell the paged receivers it is over
                    await run(route, _key(group_key, i), group_labels, route.escalate[i][1], alerts)
                del self.groups[group_key]
                self.save()
            return
        changed = False
        if esc is None:  # saved at once: a restart during the first delivery keeps the clock
            esc = self.groups[group_key] = GroupEscalation(now)
            self.save()
        pending = [a for a in self.unacked(alerts, now) if not muted(a)]
        for i, (after_ms, receiver) in enumerate(route.escalate):
            if i in esc.reached:
                await run(route, _key(group_key, i), group_labels, receiver, alerts)
            elif (pending and now >= esc.started_ns + after_ms * 1_000_000
                  and await run(route, _key(group_key, i), group_labels, receiver, alerts)):
                esc.reached.add(i)
                changed = True
                log.info("event=escalated group_key=%s step=%d receiver=%s", group_key, i, receiver)
        if changed:
            self.save()

    def steps(self, route: Route, group_key: str) -> list[StepView]:
        esc = self.groups.get(group_key)
        return [StepView(after, rx, esc is not None and i in esc.reached,
                         (esc.started_ns + after * 1_000_000) if esc is not None else 0)
                for i, (after, rx) in enumerate(route.escalate)]

    def forget_missing(self, keys: set[str]) -> None:
        gone = [k for k in self.groups if k not in keys]
        for k in gone:
            del self.groups[k]
        for k in [k for k in self._locks if k not in keys]:
            del self._locks[k]
        if gone:
            self.save()


def _key(group_key: str, step: int) -> str:
    """The notification log key of one step: its own dedupe state, apart from the route's."""
    return f"{group_key}/escalate/{step}"
