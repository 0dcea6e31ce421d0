"""Tailing log files: globs, positions kept across restarts, rotation and truncation handled.

Every ``poll_interval`` the tailer reads what was appended to each file it follows.  A file
stays open while it is followed, so after a rename-style rotation (logrotate's default) the
rest of the old file is read through the open descriptor before the new file at the same path
is opened from its start: no line is lost or read twice.  A file that shrank under the
reader (``copytruncate``) is read again from its start.  Positions (device, inode, offset of
the last whole line pushed) are written atomically to the positions file after every push, so
a restart resumes where the store's WAL left off.

Lines go through multi-line joining (``multiline`` stage) and the other pipeline stages, then
to the store in one push per poll and target.  Docker json-file logs get ``container_id``
(and ``container`` when the container's ``config.v2.json`` names it).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from guardia.config.relabel import RelabelConfig
from guardia.logs.chunk import encode_metadata
from guardia.logs.errors import LogsError
from guardia.logs.relabel import relabeled
from guardia.logs.stages import Entry, Multiline, Stage, run_stages
from guardia.logs.store import LogStore, PushStream
from guardia.model.labels import Labels

log = logging.getLogger("guardia.logs.tail")
READ_CHUNK = 4 << 20
SIGNATURE_BYTES = 64
_DOCKER_PATH = re.compile(r"/containers/([0-9a-f]{12,64})/[0-9a-f]{12,64}-json\.log(?:\.\d+)?$")


_Batch = tuple[list[int], list[bytes], list[bytes]]  # per stream: timestamps, lines, metadata


@dataclass(frozen=True)
class TailTarget:
    job_name: str
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    stages: tuple[Stage, ...] = ()
    multiline: Multiline | None = None
    relabel: tuple[RelabelConfig, ...] = ()


@dataclass
class _File:
    path: str
    target: TailTarget
    fd: int
    dev: int
    ino: int
    offset: int
    partial: bytes = b""
    signature: bytes = b""  # the file's first bytes, to notice it was truncated and rewritten
    pending: list[tuple[int, str]] = field(default_factory=list)  # multi-line entry being joined
    pending_since: float = 0.0
    extra_labels: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # the file's labels, relabeled once


class Positions:
    """``path -> (dev, ino, offset)`` in a small JSON file, replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, list[int]] = {}
        if path.exists():
            try:
                raw = orjson.loads(path.read_bytes())
                self.data = {str(k): [int(x) for x in v] for k, v in raw.items()}
            except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
                log.warning("event=positions_unreadable path=%s action=starting_over", path)
        self._dirty = False

    def get(self, path: str) -> tuple[int, int, int] | None:
        v = self.data.get(path)
        return (v[0], v[1], v[2]) if v and len(v) == 3 else None

    def set(self, path: str, dev: int, ino: int, offset: int) -> None:
        if self.data.get(path) != [dev, ino, offset]:
            self.data[path] = [dev, ino, offset]
            self._dirty = True

    def drop(self, path: str) -> None:
        if self.data.pop(path, None) is not None:
            self._dirty = True

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(self.data))
        os.replace(tmp, self.path)
        self._dirty = False


class FileTailer:
    def __init__(
        self,
        store: LogStore,
        targets: Sequence[TailTarget],
        positions: Positions,
        poll_interval_s: float = 0.25,
    ) -> None:
        self.store = store
        self.targets = list(targets)
        self.positions = positions
        self.poll_interval_s = poll_interval_s
        self.files: dict[str, _File] = {}
        self.dropped: set[str] = set()  # refused by the job's relabel_configs
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.lines_read = 0

    # ------------------------------------------------------------ discovery

    def _matches(self) -> dict[str, TailTarget]:
        out: dict[str, TailTarget] = {}
        for t in self.targets:
            excluded: set[str] = set()
            for pattern in t.exclude:
                excluded.update(glob.glob(pattern, recursive=True))
            for pattern in t.include:
                for p in glob.glob(pattern, recursive=True):
                    if p not in excluded and p not in out and p not in self.dropped and os.path.isfile(p):
                        out[p] = t
        return out

    def _open(self, path: str, target: TailTarget) -> _File | None:
        extra: dict[str, str] = {}
        m = _DOCKER_PATH.search(path)
        if m:
            extra["container_id"] = m.group(1)[:12]
            name = _docker_name(Path(path).parent / "config.v2.json")
            if name:
                extra["container"] = name
        labels = {**dict(target.labels), "filename": path, **extra}
        if target.relabel:
            kept = relabeled({**labels, "__path__": ",".join(target.include)}, target.relabel)
            if kept is None:
                # remembered, so the file is not looked at again on every poll
                self.dropped.add(path)
                log.info("event=tail_dropped_by_relabel path=%s job=%s", path, target.job_name)
                return None
            labels = kept
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            log.warning("event=tail_open_failed path=%s error=%r", path, str(e))
            return None
        st = os.fstat(fd)
        offset = 0
        saved = self.positions.get(path)
        if saved is not None and saved[0] == st.st_dev and saved[1] == st.st_ino and saved[2] <= st.st_size:
            offset = saved[2]
        f = _File(path, target, fd, st.st_dev, st.st_ino, offset, extra_labels=extra, labels=labels)
        if offset:
            f.signature = os.pread(fd, min(SIGNATURE_BYTES, offset), 0)
        log.info("event=tail_following path=%s offset=%d", path, offset)
        return f

    # ------------------------------------------------------------ reading

    def poll(self) -> int:
        """One pass over every file: returns the number of lines pushed."""
        wanted = self._matches()
        for path, target in wanted.items():
            if path not in self.files:
                f = self._open(path, target)
                if f is not None:
                    self.files[path] = f
        batches: dict[Labels, _Batch] = {}
        now = time.monotonic()
        for path, f in list(self.files.items()):
            if self._truncated(f):
                log.info("event=tail_truncated path=%s offset=%d", path, f.offset)
                f.offset = 0
                f.partial = b""
                f.signature = b""
            self._drain(f, batches, now)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                st = None
            if st is None or (st.st_dev, st.st_ino) != (f.dev, f.ino):
                # rotated away (renamed or deleted): the old file was read to its end above
                self._flush_multiline(f, batches, force=True)
                if f.partial:
                    self._emit(f, f.partial.decode("utf-8", "replace"), batches)
                    f.partial = b""
                os.close(f.fd)
                del self.files[path]
                self.positions.drop(path)
                if st is not None and path in wanted:
                    nf = self._open(path, f.target)
                    if nf is not None:
                        nf.offset = 0
                        self.files[path] = nf
                        self._drain(nf, batches, now)
        pushed = self._push(batches)
        for f in self.files.values():
            self.positions.set(f.path, f.dev, f.ino, f.offset - len(f.partial) - _pending_bytes(f))
        self.positions.save()
        return pushed

    def _truncated(self, f: _File) -> bool:
        """Shrunk below what was read, or rewritten from the start (a copytruncate followed by
        new writes that already grew past the old offset): the first bytes changed."""
        if os.fstat(f.fd).st_size < f.offset:
            return True
        return bool(f.signature) and os.pread(f.fd, len(f.signature), 0) != f.signature

    def _drain(self, f: _File, batches: dict[Labels, _Batch], now: float) -> None:
        while True:
            data = os.pread(f.fd, READ_CHUNK, f.offset)
            if not data:
                break
            if len(f.signature) < SIGNATURE_BYTES and f.offset < SIGNATURE_BYTES:
                f.signature = os.pread(f.fd, SIGNATURE_BYTES, 0)
            f.offset += len(data)
            buf = f.partial + data
            cut = buf.rfind(b"\n")
            if cut < 0:
                f.partial = buf
                continue
            f.partial = buf[cut + 1 :]
            for raw in buf[:cut].split(b"\n"):
                line = raw.decode("utf-8", "replace").rstrip("\r")
                if f.target.multiline is None:
                    self._emit(f, line, batches)
                else:
                    self._add_multiline(f, line, batches, now)
            if len(data) < READ_CHUNK:
                break
        self._flush_multiline(f, batches, force=False, now=now)

    def _add_multiline(
        self, f: _File, line: str, batches: dict[Labels, _Batch], now: float
    ) -> None:
        ml = f.target.multiline
        assert ml is not None
        if ml.firstline.search(line) and f.pending:
            self._flush_multiline(f, batches, force=True)
        if not f.pending:
            f.pending_since = now
        f.pending.append((time.time_ns(), line))
        if len(f.pending) >= ml.max_lines:
            self._flush_multiline(f, batches, force=True)

    def _flush_multiline(
        self, f: _File, batches: dict[Labels, _Batch], force: bool, now: float = 0.0
    ) -> None:
        if not f.pending:
            return
        ml = f.target.multiline
        if not force and ml is not None and now - f.pending_since < ml.max_wait_s:
            return
        ts = f.pending[0][0]
        text = "\n".join(line for _, line in f.pending)
        f.pending = []
        self._emit(f, text, batches, ts)

    def _emit(
        self, f: _File, line: str, batches: dict[Labels, _Batch], ts: int | None = None
    ) -> None:
        labels = dict(f.labels)
        e = Entry(ts if ts is not None else time.time_ns(), line, labels)
        if f.target.stages and not run_stages(f.target.stages, e):
            return
        key = Labels(e.labels)
        slot = batches.get(key)
        if slot is None:
            slot = batches[key] = ([], [], [])
        slot[0].append(e.ts)
        slot[1].append(e.line.encode())
        slot[2].append(encode_metadata(e.metadata))

    def _push(self, batches: dict[Labels, _Batch]) -> int:
        if not batches:
            return 0
        n = sum(len(v[1]) for v in batches.values())
        try:
            self.store.push([PushStream(k, ts, lines, meta if any(meta) else None)
                             for k, (ts, lines, meta) in batches.items()])
        except LogsError as e:
            log.warning("event=tail_push_refused error=%r", str(e))
        self.lines_read += n
        return n

    # ------------------------------------------------------------ running

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.poll)
            except Exception:
                log.exception("event=tail_poll_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.poll_interval_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="logs-tail")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        for f in self.files.values():
            os.close(f.fd)
        self.files.clear()


def _pending_bytes(f: _File) -> int:
    """Bytes of the multi-line entry not pushed yet: a restart reads them again."""
    return sum(len(line.encode()) + 1 for _, line in f.pending)


def _docker_name(config: Path) -> str:
    try:
        doc: Any = orjson.loads(config.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return ""
    name = doc.get("Name", "") if isinstance(doc, dict) else ""
    return str(name).lstrip("/")
