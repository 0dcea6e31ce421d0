"""Silences: matchers plus a time window; an alert they match is muted at notification time.

States follow Alertmanager: ``pending`` before ``startsAt``, ``active`` until ``endsAt``,
then ``expired``.  An update that only moves ``endsAt``/comment of an active silence keeps
its ID; any other change expires the old one and creates a new one.  Every change is
written as an atomic snapshot; expired silences are dropped after the retention period.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from guardia.alerting.persist import read_json, write_atomic
from guardia.alerting.types import Clock, system_clock
from guardia.model.labels import Labels
from guardia.model.matchers import Matcher, MatcherError, MatchType

DEFAULT_RETENTION_NS = 120 * 3600 * 10**9


class SilenceError(ValueError):
    """A silence that cannot be created or changed; the message says why."""


class SilenceNotFound(KeyError):
    pass


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: int
    ends_at: int
    updated_at: int
    created_by: str = ""
    comment: str = ""

    def state(self, now: int) -> str:
        if self.ends_at <= now:
            return "expired"
        if self.starts_at > now:
            return "pending"
        return "active"

    def mutes(self, labels: Labels) -> bool:
        return all(m.matches(labels.get(m.name)) for m in self.matchers)


def matcher_to_api(m: Matcher) -> dict[str, Any]:
    """A matcher as Alertmanager writes it (API v2 and the silences file alike)."""
    return {
        "name": m.name,
        "value": m.value,
        "isRegex": m.type in (MatchType.REGEX, MatchType.NOT_REGEX),
        "isEqual": m.type in (MatchType.EQUAL, MatchType.REGEX),
    }


def matcher_from_api(d: Any) -> Matcher:
    if not isinstance(d, dict) or "name" not in d or "value" not in d:
        raise SilenceError("each matcher needs name, value and isRegex")
    is_regex = bool(d.get("isRegex", False))
    is_equal = bool(d.get("isEqual", True))
    mt = {(False, True): MatchType.EQUAL, (False, False): MatchType.NOT_EQUAL,
          (True, True): MatchType.REGEX, (True, False): MatchType.NOT_REGEX}[(is_regex, is_equal)]
    try:
        return Matcher(str(d["name"]), mt, str(d["value"]))
    except MatcherError as e:
        raise SilenceError(str(e)) from None


class Silences:
    """The silence store; persisted to ``<data_dir>/silences.json`` when a path is given."""

    def __init__(self, path: Path | None = None, *, clock: Clock = system_clock,
                 retention_ns: int = DEFAULT_RETENTION_NS) -> None:
        self.path = path
        self.clock = clock
        self.retention_ns = retention_ns
        self._by_id: dict[str, Silence] = {}
        self.version = 0
        if path is not None:
            self._load()

    # ---- persistence

    def _load(self) -> None:
        assert self.path is not None
        data = read_json(self.path)
        for d in data or []:
            s = Silence(
                id=d["id"], matchers=tuple(matcher_from_api(m) for m in d["matchers"]),
                starts_at=d["startsAt"], ends_at=d["endsAt"], updated_at=d["updatedAt"],
                created_by=d.get("createdBy", ""), comment=d.get("comment", ""),
            )
            self._by_id[s.id] = s

    def _save(self) -> None:
        self.version += 1
        if self.path is None:
            return
        write_atomic(self.path, [
            {"id": s.id, "matchers": [matcher_to_api(m) for m in s.matchers], "startsAt": s.starts_at,
             "endsAt": s.ends_at, "updatedAt": s.updated_at, "createdBy": s.created_by,
             "comment": s.comment}
            for s in self._by_id.values()
        ])

    def gc(self) -> int:
        """Drop silences expired for longer than the retention; returns how many."""
        now = self.clock()
        old = [k for k, s in self._by_id.items() if s.ends_at + self.retention_ns <= now]
        for k in old:
            del self._by_id[k]
        if old:
            self._save()
        return len(old)

    # ---- queries

    def get(self, sid: str) -> Silence:
        try:
            return self._by_id[sid]
        except KeyError:
            raise SilenceNotFound(sid) from None

    def all(self) -> list[Silence]:
        return list(self._by_id.values())

    def mutes(self, labels: Labels) -> list[str]:
        """IDs of the active silences that match ``labels``."""
        now = self.clock()
        return sorted(s.id for s in self._by_id.values() if s.state(now) == "active" and s.mutes(labels))

    # ---- changes

    def set(self, *, matchers: list[Matcher], starts_at: int, ends_at: int, created_by: str = "",
            comment: str = "", sid: str | None = None) -> str:
        """Create or update a silence (Alertmanager's ``Silences.Set``); returns its ID."""
        now = self.clock()
        if not matchers:
            raise SilenceError("at least one matcher required")
        if all(m.matches("") for m in matchers):
            raise SilenceError("at least one matcher must not match the empty string")
        if ends_at <= starts_at:
            raise SilenceError("end time must not be before start time")
        if ends_at < now:
            raise SilenceError("end time can't be in the past")
        if sid:
            prev = self._by_id.get(sid)
            if prev is None:
                raise SilenceNotFound(sid)
            if self._can_update(prev, matchers, starts_at, ends_at, now):
                start = max(starts_at, now) if prev.state(now) == "pending" else prev.starts_at
                self._by_id[sid] = replace(prev, matchers=tuple(matchers), starts_at=start, ends_at=ends_at,
                                           updated_at=now, created_by=created_by, comment=comment)
                self._save()
                return sid
            if prev.state(now) != "expired":
                self._expire(prev, now)
        new_id = str(uuid.uuid4())
        self._by_id[new_id] = Silence(new_id, tuple(matchers), max(starts_at, now), ends_at, now,
                                      created_by, comment)
        self._save()
        return new_id

    @staticmethod
    def _can_update(prev: Silence, matchers: list[Matcher], starts_at: int, ends_at: int, now: int) -> bool:
        state = prev.state(now)
        if state == "expired":
            return False
        if state == "pending":
            return starts_at >= now or starts_at == prev.starts_at
        if tuple(matchers) != prev.matchers or starts_at != prev.starts_at:
            return False
        return ends_at >= now

    def expire(self, sid: str) -> None:
        now = self.clock()
        s = self.get(sid)
        if s.state(now) == "expired":
            raise SilenceError(f"silence {sid} already expired")
        self._expire(s, now)
        self._save()

    def _expire(self, s: Silence, now: int) -> None:
        if s.state(now) == "pending":
            self._by_id[s.id] = replace(s, starts_at=now, ends_at=now, updated_at=now)
        else:
            self._by_id[s.id] = replace(s, ends_at=now, updated_at=now)


__all__ = ["Silence", "SilenceError", "SilenceNotFound", "Silences", "matcher_from_api", "matcher_to_api"]
