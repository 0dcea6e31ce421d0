"""The notification log: what was last sent for each group and receiver integration.

The dedupe stage compares the alerts about to be sent with the last entry (firing and
resolved alert hashes, timestamp) to decide whether anything changed or the repeat interval
passed.  Every entry is persisted (atomic snapshot) before the pipeline moves on, so a
restart neither resends what was delivered nor forgets what was not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from guardia.alerting.persist import read_json, write_atomic
from guardia.alerting.types import Clock, system_clock

DEFAULT_RETENTION_NS = 120 * 3600 * 10**9


@dataclass(frozen=True, slots=True)
class ReceiverKey:
    """One integration of one receiver (``slack`` number 0 of ``critical-alerts``)."""

    name: str
    integration: str
    index: int

    def __str__(self) -> str:
        return f"{self.name}/{self.integration}[{self.index}]"


@dataclass(frozen=True, slots=True)
class Entry:
    group_key: str
    receiver: ReceiverKey
    firing: frozenset[int]
    resolved: frozenset[int]
    timestamp: int
    expires_at: int

    def is_firing_subset(self, subset: set[int] | frozenset[int]) -> bool:
        return subset <= self.firing

    def is_resolved_subset(self, subset: set[int] | frozenset[int]) -> bool:
        return subset <= self.resolved


class NotificationLog:
    def __init__(self, path: Path | None = None, *, clock: Clock = system_clock,
                 retention_ns: int = DEFAULT_RETENTION_NS) -> None:
        self.path = path
        self.clock = clock
        self.retention_ns = retention_ns
        self._entries: dict[tuple[str, str], Entry] = {}
        if path is not None:
            for d in read_json(path) or []:
                rk = ReceiverKey(d["receiver"], d["integration"], d["idx"])
                e = Entry(d["groupKey"], rk, frozenset(d["firing"]), frozenset(d["resolved"]),
                          d["timestamp"], d["expiresAt"])
                self._entries[(e.group_key, str(rk))] = e

    def query(self, group_key: str, receiver: ReceiverKey) -> Entry | None:
        return self._entries.get((group_key, str(receiver)))

    def log(self, group_key: str, receiver: ReceiverKey, firing: set[int], resolved: set[int]) -> None:
        now = self.clock()
        e = Entry(group_key, receiver, frozenset(firing), frozenset(resolved), now, now + self.retention_ns)
        self._entries[(group_key, str(receiver))] = e
        self._save()

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def gc(self) -> int:
        now = self.clock()
        old = [k for k, e in self._entries.items() if e.expires_at <= now]
        for k in old:
            del self._entries[k]
        if old:
            self._save()
        return len(old)

    def _save(self) -> None:
        if self.path is None:
            return
        write_atomic(self.path, [
            {"groupKey": e.group_key, "receiver": e.receiver.name, "integration": e.receiver.integration,
             "idx": e.receiver.index, "firing": sorted(e.firing), "resolved": sorted(e.resolved),
             "timestamp": e.timestamp, "expiresAt": e.expires_at}
            for e in self._entries.values()
        ])
