"""The audit log: who changed what, when, from where, and how it ended.

One JSON object per line in ``<data>/audit/audit.jsonl``, opened for append only and fsynced
after each entry, so an entry the caller saw written survives a crash, and nothing in guardia
rewrites or deletes a line.  Each entry carries the SHA-256 of the line before it (``prev``),
so a line edited or removed later breaks the chain and ``verify`` finds where.  The CLI
(``guardia token create``) and the server append to the same file; ``O_APPEND`` keeps their
lines whole.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TAIL = 1 << 20  # an entry is at most a few kB (request bodies are cut at 4 kB)
_SECRET_KEYS = ("password", "secret", "token", "authorization", "api_key", "apikey", "credentials")


@dataclass(frozen=True, slots=True)
class AuditQuery:
    since: float | None = None
    until: float | None = None
    user: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." ("silence.")
    limit: int = 100


class AuditLog:
    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / "audit" / "audit.jsonl"
        self._lock = threading.Lock()

    def _last_digest(self, fd: int) -> str:
        """The digest of the file's last line (entries are small: the tail holds it)."""
        size = os.fstat(fd).st_size
        if size == 0:
            return ""
        start = max(0, size - _TAIL)
        tail = os.pread(fd, size - start, start).decode("utf-8", "replace").rstrip("\n")
        return _digest(tail.rpartition("\n")[2])

    def append(self, action: str, user: str, **fields: Any) -> dict[str, Any]:
        """Write one entry durably; returns it as written."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            entry: dict[str, Any] = {"time": round(time.time(), 3), "action": action, "user": user}
            entry.update(redact(fields))
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                # the chain is read from the file under its lock, so a second writer (the CLI)
                # stays in it
                fcntl.flock(fd, fcntl.LOCK_EX)
                entry["prev"] = self._last_digest(fd)
                line = json.dumps(entry, separators=(",", ":"), sort_keys=True, default=str)
                os.write(fd, (line + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            return entry

    class _Lines:
        def __init__(self, path: Path) -> None:
            self._f = path.open("r", encoding="utf-8") if path.exists() else None

        def __enter__(self) -> Iterator[str]:
            return (ln.rstrip("\n") for ln in self._f if ln.strip()) if self._f else iter(())

        def __exit__(self, *exc: object) -> None:
            if self._f:
                self._f.close()

    def _lines(self) -> AuditLog._Lines:
        return AuditLog._Lines(self.path)

    def query(self, q: AuditQuery) -> list[dict[str, Any]]:
        """Matching entries, newest first, at most ``q.limit``."""
        out: list[dict[str, Any]] = []
        with self._lines() as lines:
            for line in lines:
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                if _matches(e, q):
                    out.append(e)
        out.reverse()
        return out[: max(0, q.limit)]

    def verify(self) -> int | None:
        """The 1-based line number where the chain breaks, or None when every line is intact."""
        prev = ""
        with self._lines() as lines:
            for n, line in enumerate(lines, 1):
                try:
                    if json.loads(line).get("prev") != prev:
                        return n
                except ValueError:
                    return n
                prev = _digest(line)
        return None


def _matches(e: Mapping[str, Any], q: AuditQuery) -> bool:
    t = e.get("time", 0)
    if (q.since is not None and t < q.since) or (q.until is not None and t > q.until):
        return False
    if q.user is not None and e.get("user") != q.user:
        return False
    if q.action is not None:
        action = str(e.get("action", ""))
        return action.startswith(q.action) if q.action.endswith(".") else action == q.action
    return True


def redact(value: Any) -> Any:
    """``value`` with every field whose name says it holds a secret replaced by ``<secret>``."""
    if isinstance(value, Mapping):
        return {k: "<secret>" if any(s in str(k).lower() for s in _SECRET_KEYS) else redact(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _digest(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()
