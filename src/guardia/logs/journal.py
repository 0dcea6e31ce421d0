"""The systemd journal, where present: ``journalctl --follow --output=json`` as a child process.

journalctl keeps its place in a cursor file (``--cursor-file``), so a restart resumes after
the last entry read; the first start reads back ``max_age``.  Entries become lines labelled
with the job's labels plus ``unit``, ``host``, ``app`` (SYSLOG_IDENTIFIER) and ``severity``.
On a machine without journald (no journalctl, no journal directory) the reader says so once
and does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from guardia.config.relabel import RelabelConfig
from guardia.logs.errors import LogsError
from guardia.logs.relabel import relabeled
from guardia.logs.store import LogStore, PushStream
from guardia.logs.syslog import SEVERITIES
from guardia.model.labels import Labels

if TYPE_CHECKING:
    from guardia.logs.config import JournalConfig

log = logging.getLogger("guardia.logs.journal")
JOURNAL_DIRS = ("/run/log/journal", "/var/log/journal")


def journal_entry(
    doc: dict[str, Any], static: tuple[tuple[str, str], ...], rules: Sequence[RelabelConfig] = ()
) -> tuple[Labels, int, bytes]:
    """(labels, timestamp ns, line) of one ``journalctl -o json`` record; with relabel rules,
    the record's fields are ``__journal_<field>`` labels for them (empty labels: dropped)."""
    msg = doc.get("MESSAGE", "")
    # journalctl sends a message that is not UTF-8 as an array of byte values
    line = bytes(int(b) & 0xFF for b in msg) if isinstance(msg, list) else str(msg).encode()
    ts = doc.get("__REALTIME_TIMESTAMP")
    t = int(ts) * 1000 if isinstance(ts, str) and ts.isdigit() else time.time_ns()
    if rules:
        meta = dict(static)
        meta.update((f"__journal_{k.lower()}", v) for k, v in doc.items()
                    if isinstance(v, str) and k != "MESSAGE")
        kept = relabeled(meta, rules)
        return Labels(kept or {}), t, line
    labels = dict(static)
    for label, key in (("unit", "_SYSTEMD_UNIT"), ("host", "_HOSTNAME"), ("app", "SYSLOG_IDENTIFIER")):
        v = doc.get(key)
        if isinstance(v, str) and v:
            labels[label] = v
    prio = doc.get("PRIORITY")
    if isinstance(prio, str) and prio.isdigit() and int(prio) < 8:
        labels["severity"] = SEVERITIES[int(prio)]
    return Labels(labels), t, line


class JournalReader:
    def __init__(self, store: LogStore, cfg: JournalConfig, cursor_file: Path) -> None:
        self.store = store
        self.cfg = cfg
        self.cursor_file = cursor_file
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> bool:
        exe = shutil.which("journalctl")
        dirs = [self.cfg.path] if self.cfg.path else list(JOURNAL_DIRS)
        if exe is None or not any(Path(d).is_dir() for d in dirs):
            log.info(
                "event=journal_absent job=%s reason=%r",
                self.cfg.job_name,
                "no journalctl or no journal directory on this machine",
            )
            return False
        args = [
            exe,
            "--follow",
            "--output=json",
            "--no-pager",
            "--no-tail",
            f"--cursor-file={self.cursor_file}",
        ]
        if not self.cursor_file.exists():
            args.append(f"--since=@{int(time.time() - self.cfg.max_age_s)}")
        if self.cfg.path:
            args.append(f"--directory={self.cfg.path}")
        self._proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        self._task = asyncio.create_task(self._read(), name=f"journal-{self.cfg.job_name}")
        return True

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        pending: dict[Labels, tuple[list[int], list[bytes]]] = {}
        last_flush = time.monotonic()
        while True:
            try:
                raw = await asyncio.wait_for(self._proc.stdout.readline(), timeout=0.2)
            except TimeoutError:
                raw = None
            if raw == b"":
                break
            if raw:
                try:
                    doc = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                labels, t, line = journal_entry(doc, self.cfg.labels, self.cfg.relabel)
                if not labels:
                    continue
                slot = pending.setdefault(labels, ([], []))
                slot[0].append(t)
                slot[1].append(line)
            if pending and (raw is None or time.monotonic() - last_flush > 0.2):
                try:
                    self.store.push([PushStream(k, ts, lines) for k, (ts, lines) in pending.items()])
                except LogsError as e:
                    log.warning("event=journal_push_refused error=%r", str(e))
                pending = {}
                last_flush = time.monotonic()

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._proc.wait(), timeout=5)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
