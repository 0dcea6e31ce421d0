"""The notification log: what was last sent for each group and receiver integration.

The dedupe stage compares the alerts about to be sent with the last entry (firing and
resolved alert hashes, timestamp) to decide whether anything changed or the repeat interval
passed.  Every entry is journaled to disk before the pipeline moves on, so a restart
neither resends what was delivered nor forgets what was not; expired entries are dropped
by ``gc`` and the journal is compacted into a snapshot as it grows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guardia.alerting.persist import Journal
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

    def key(self) -> str:
        return f"{self.group_key}\x00{self.receiver}"

    def to_record(self) -> dict[str, Any]:
        return {"groupKey": self.group_key, "receiver": self.receiver.name,
                "integration": self.receiver.integration, "idx": self.receiver.index,
                "firing": sorted(self.firing), "resolved": sorted(self.resolved),
                "timestamp": self.timestamp, "expiresAt": self.expires_at}

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Entry:
        rk = ReceiverKey(d["receiver"], d["integration"], d["idx"])
        return cls(d["groupKey"], rk, frozenset(d["firing"]), frozenset(d["resolved"]), d["timestamp"],
                   d["expiresAt"])


class NotificationLog:
    def __init__(self, path: Path | None = None, *, clock: Clock = system_clock,
                 retention_ns: int = DEFAULT_RETENTION_NS) -> None:
        self.clock = clock
        self.retention_ns = retention_ns
        self._journal = Journal(path) if path is not None else None
        self._entries: dict[str, Entry] = {}
        if self._journal is not None:
            for rec in self._journal.load(lambda r: Entry.from_record(r).key()).values():
                e = Entry.from_record(rec)
                self._entries[e.key()] = e

    def query(self, group_key: str, receiver: ReceiverKey) -> Entry | None:
        return self._entries.get(f"{group_key}\x00{receiver}")

    def log(self, group_key: str, receiver: ReceiverKey, firing: set[int], resolved: set[int]) -> None:
        now = self.clock()
        e = Entry(group_key, receiver, frozenset(firing), frozenset(resolved), now, now + self.retention_ns)
        self._entries[e.key()] = e
        if self._journal is not None:
            # fsynced: the entry is what keeps a restart from sending this notification again
            self._journal.append([(e.key(), e.to_record())], sync=True)
            if self._journal.needs_compaction(len(self._entries)):
                self._journal.compact(x.to_record() for x in self._entries.values())

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def gc(self) -> int:
        now = self.clock()
        old = [k for k, e in self._entries.items() if e.expires_at <= now]
        for k in old:
            del self._entries[k]
        if old and self._journal is not None:
            self._journal.compact(x.to_record() for x in self._entries.values())
        return len(old)

    def close(self) -> None:
        if self._journal is not None:
            self._journal.compact(x.to_record() for x in self._entries.values())
