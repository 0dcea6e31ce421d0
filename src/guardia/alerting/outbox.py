"""The notification retry queue: notifications that are due but not yet delivered, on disk.

A flush that decides to notify records the notification here (its payload, the firing and
resolved sets the notification log will get, the attempt count and the next try) before the
first request; success writes the notification log and then removes the entry.  A process
killed at any point therefore leaves either nothing to do, or an entry that is delivered after
restart.  The only resend is a kill between the receiver accepting a request and the
notification log reaching the disk: every request carries the entry's id as its
``Idempotency-Key`` so a receiver can drop that duplicate.

On disk (``notify_queue.log`` in the Alertmanager's data directory) every line is
``<crc32 hex> <json>``: ``{"op":"put","e":{...}}``, ``{"op":"try","id":..,"attempts":..,
"next":..,"err":..}`` or ``{"op":"done","id":..}``.  A line whose checksum or JSON does not
hold costs that line only: it is skipped with the reason logged, and the file is rewritten
without it when it is opened.  There is one pending entry per group and integration: a newer
notification of the group supersedes an older undelivered one, as it carries the group's
current state (keeping its id when it says the same thing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from guardia.alerting.nflog import ReceiverKey
from guardia.alerting.types import Clock, system_clock

log = logging.getLogger("guardia.alerting")

FILE_NAME = "notify_queue.log"


@dataclass(frozen=True, slots=True)
class Pending:
    """One undelivered notification of one group to one integration."""

    id: str
    group_key: str
    receiver: ReceiverKey
    group_labels: dict[str, str]
    now: int  # the flush time the payload was rendered for
    repeat_interval_ns: int
    external_url: str
    firing: tuple[int, ...]
    resolved: tuple[int, ...]
    alerts: tuple[dict[str, Any], ...]  # what is sent, in the alert store's shape
    queued_at: int  # when this group's notification first became undelivered
    created_at: int  # when this version of it was queued
    attempts: int = 0
    next_try: int = 0
    last_error: str = ""

    @property
    def key(self) -> tuple[str, ReceiverKey]:
        return (self.group_key, self.receiver)

    def to_record(self) -> dict[str, Any]:
        d = asdict(self)
        d["receiver"] = [self.receiver.name, self.receiver.integration, self.receiver.index]
        return d

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Pending:
        name, integ, idx = d["receiver"]
        return cls(
            id=str(d["id"]), group_key=str(d["group_key"]), receiver=ReceiverKey(name, integ, int(idx)),
            group_labels=dict(d["group_labels"]), now=int(d["now"]),
            repeat_interval_ns=int(d["repeat_interval_ns"]), external_url=str(d["external_url"]),
            firing=tuple(int(x) for x in d["firing"]), resolved=tuple(int(x) for x in d["resolved"]),
            alerts=tuple(d["alerts"]), queued_at=int(d["queued_at"]), created_at=int(d["created_at"]),
            attempts=int(d["attempts"]), next_try=int(d["next_try"]), last_error=str(d["last_error"]),
        )


def new_id() -> str:
    return uuid.uuid4().hex


def _line(rec: dict[str, Any]) -> str:
    body = json.dumps(rec, separators=(",", ":"))
    return f"{zlib.crc32(body.encode()):08x} {body}\n"


def _parse(raw: bytes) -> dict[str, Any]:
    """One line's record, or ValueError saying what is wrong with it."""
    if not raw.endswith(b"\n"):
        raise ValueError("unterminated line (the process died while writing it)")
    crc, sep, body = raw.rstrip(b"\n").partition(b" ")
    if not sep or len(crc) != 8:
        raise ValueError("no checksum")
    try:
        want = int(crc, 16)
    except ValueError:
        raise ValueError("no checksum") from None
    if zlib.crc32(body) != want:
        raise ValueError("checksum mismatch")
    rec = json.loads(body)
    if not isinstance(rec, dict) or rec.get("op") not in ("put", "try", "done"):
        raise ValueError("not a queue record")
    return rec


@dataclass
class RetryQueue:
    """Pending notifications, in memory and (with a path) in an fsynced append-only file."""

    path: Path | None = None
    clock: Clock = system_clock
    _entries: dict[str, Pending] = field(default_factory=dict)
    _by_key: dict[tuple[str, ReceiverKey], str] = field(default_factory=dict)
    _locks: dict[tuple[str, ReceiverKey], asyncio.Lock] = field(default_factory=dict)
    _fh: IO[str] | None = None
    _lines: int = 0

    def __post_init__(self) -> None:
        if self.path is not None:
            self._load(self.path)

    # ---- reading

    def _load(self, path: Path) -> None:
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return
        bad = 0
        with f:
            for n, raw in enumerate(f, 1):
                try:
                    rec = _parse(raw)
                    self._replay(rec)
                except (ValueError, KeyError, TypeError) as e:
                    bad += 1
                    log.warning("event=notify_queue_record_skipped path=%s line=%d reason=%r",
                                path, n, str(e))
        if bad or self._entries:
            self._rewrite()
        for pe in self._entries.values():
            log.info("event=notify_queue_pending receiver=%s group_key=%s attempts=%d",
                     pe.receiver, pe.group_key, pe.attempts)

    def _replay(self, rec: dict[str, Any]) -> None:
        op = rec["op"]
        if op == "put":
            self._set(Pending.from_record(rec["e"]))
        elif op == "try":
            cur = self._entries.get(str(rec["id"]))
            if cur is not None:
                self._entries[cur.id] = replace(cur, attempts=int(rec["attempts"]), next_try=int(rec["next"]),
                                                last_error=str(rec["err"]))
        else:
            self._remove(str(rec["id"]))

    def pending(self) -> list[Pending]:
        """Every undelivered notification, oldest first."""
        return sorted(self._entries.values(), key=lambda e: (e.queued_at, e.id))

    def get(self, entry_id: str) -> Pending | None:
        return self._entries.get(entry_id)

    def for_key(self, group_key: str, receiver: ReceiverKey) -> Pending | None:
        eid = self._by_key.get((group_key, receiver))
        return self._entries.get(eid) if eid is not None else None

    def __len__(self) -> int:
        return len(self._entries)

    def lock(self, group_key: str, receiver: ReceiverKey) -> asyncio.Lock:
        """Held while one notification of this group and integration is being delivered, so that
        a flush and the redelivery of a queued entry never send the same thing side by side."""
        key = (group_key, receiver)
        lk = self._locks.get(key)
        if lk is None:
            lk = self._locks[key] = asyncio.Lock()
        return lk

    # ---- changes

    def put(self, e: Pending) -> Pending:
        """Queue a notification (superseding this group's older undelivered one); on disk before
        return."""
        old = self.for_key(e.group_key, e.receiver)
        if old is not None:
            e = replace(e, queued_at=min(old.queued_at, e.queued_at), attempts=old.attempts)
            if (old.firing, old.resolved) == (e.firing, e.resolved):
                # the same news again (a flush after a restart): the same id, so a receiver that
                # got the first copy just before the crash can tell this one is a duplicate
                e = replace(e, id=old.id)
        self._set(e)
        self._write({"op": "put", "e": e.to_record()}, sync=True)
        return e

    def tried(self, entry_id: str, attempts: int, next_try: int, error: str) -> None:
        cur = self._entries.get(entry_id)
        if cur is None:
            return
        self._entries[entry_id] = replace(cur, attempts=attempts, next_try=next_try, last_error=error)
        self._write({"op": "try", "id": entry_id, "attempts": attempts, "next": next_try, "err": error},
                    sync=True)

    def done(self, entry_id: str) -> None:
        """Forget a delivered (or abandoned) entry.  Not fsynced: it is written after the
        notification log, which alone already keeps a restart from sending it again."""
        if self._remove(entry_id):
            self._write({"op": "done", "id": entry_id}, sync=False)
            if self._lines > max(64, 4 * len(self._entries)):
                self._rewrite()

    def _set(self, e: Pending) -> None:
        old = self._by_key.get(e.key)
        if old is not None and old != e.id:
            self._entries.pop(old, None)
        self._entries[e.id] = e
        self._by_key[e.key] = e.id

    def _remove(self, entry_id: str) -> bool:
        e = self._entries.pop(entry_id, None)
        if e is None:
            return False
        if self._by_key.get(e.key) == entry_id:
            del self._by_key[e.key]
        return True

    # ---- the file

    def _handle(self) -> IO[str]:
        assert self.path is not None
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        return self._fh

    def _write(self, rec: dict[str, Any], *, sync: bool) -> None:
        if self.path is None:
            return
        fh = self._handle()
        fh.write(_line(rec))
        fh.flush()
        if sync:
            os.fsync(fh.fileno())
        self._lines += 1

    def _rewrite(self) -> None:
        """The live entries as a fresh file (temp file, fsync, rename)."""
        assert self.path is not None
        self.close()
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for e in self.pending():
                f.write(_line({"op": "put", "e": e.to_record()}))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        with contextlib.suppress(OSError):
            dfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        self._lines = len(self._entries)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
