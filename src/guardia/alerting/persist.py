"""Durable state on disk: atomic JSON snapshots, and snapshot + append-only journal.

``write_atomic`` writes a temp file, fsyncs and renames it over the old one, so a crash
leaves the previous snapshot or the new one, never half of one.  ``Journal`` keeps keyed
records (notification log entries, alerts) as such a snapshot plus a journal of JSON lines
appended per change: a change costs one small write instead of rewriting everything, and
the journal is folded into a fresh snapshot once it is longer than the state it describes.
Appends are flushed to the OS at once (a killed process loses nothing) and fsynced where the
caller asks (the notification log: a lost entry means a notification sent twice); the snapshot
is fsynced when it is compacted and on close.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any


def write_atomic(path: Path, data: Any) -> None:
    write_atomic_text(path, json.dumps(data, separators=(",", ":")))


def write_atomic_text(path: Path, text: str) -> None:
    """``text`` as the whole of ``path``, by the same temp file, fsync and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def read_json(path: Path) -> Any:
    """The snapshot's content, or None if there is none yet."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


class Journal:
    """Keyed records in ``<path>`` (snapshot: a JSON list) + ``<path>.journal`` (JSON lines).

    A journal line is ``{"k": key, "v": record}`` or ``{"k": key, "del": true}``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.journal_path = path.with_name(path.name + ".journal")
        self._fh: IO[str] | None = None
        self._lines = 0

    def load(self, key_of: Any) -> dict[str, Any]:
        """All records, snapshot first and then the journal replayed (a torn last line is skipped)."""
        records: dict[str, Any] = {}
        for rec in read_json(self.path) or []:
            records[key_of(rec)] = rec
        good = 0
        torn = False
        try:
            with open(self.journal_path, "rb") as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                        if not line.endswith(b"\n"):
                            raise ValueError("unterminated")
                    except ValueError:
                        torn = True  # the process died mid-write: everything before is intact
                        break
                    good += len(line)
                    self._lines += 1
                    if entry.get("del"):
                        records.pop(entry["k"], None)
                    else:
                        records[entry["k"]] = entry["v"]
        except FileNotFoundError:
            pass
        if torn:
            # cut the torn tail so that later appends start on a clean line
            with open(self.journal_path, "r+b") as f:
                f.truncate(good)
        return records

    def _handle(self) -> IO[str]:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.journal_path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        return self._fh

    def append(self, changes: Iterable[tuple[str, Any | None]], *, sync: bool = False) -> None:
        """Record changes; a value of None deletes the key.  ``sync`` fsyncs them before
        returning (where a lost change would make the process act twice)."""
        fh = self._handle()
        n = 0
        for key, value in changes:
            entry = {"k": key, "del": True} if value is None else {"k": key, "v": value}
            fh.write(json.dumps(entry, separators=(",", ":")) + "\n")
            n += 1
        fh.flush()
        if sync:
            os.fsync(fh.fileno())
        self._lines += n

    def needs_compaction(self, live: int) -> bool:
        return self._lines > max(64, 2 * live)

    def compact(self, records: Iterable[Any]) -> None:
        """Write all live records as the new snapshot and start an empty journal."""
        write_atomic(self.path, list(records))
        self.close()
        with open(self.journal_path, "w", encoding="utf-8") as f:
            f.flush()
            os.fsync(f.fileno())
        self._lines = 0

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
