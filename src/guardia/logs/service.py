"""The logs subsystem as the process runs it: the store, its collectors and its upkeep.

``LogsService`` opens the store (under ``--storage.tsdb.path``/logs unless ``logs.path`` says
otherwise), and on each ``apply_config`` restarts the file tailer, syslog listeners and journal
readers whose settings changed.  Storage settings (path, retention, limits) are read from the
first config; a reload that changes the path is refused with a message, retention and limits
apply at once.  ``maintain`` runs head cuts and retention off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from guardia.logs.config import LogsConfig, LogsConfigError
from guardia.logs.journal import JournalReader
from guardia.logs.logql import LogQLEngine
from guardia.logs.store import LogStore, StoreOptions
from guardia.logs.syslog import SyslogReceiver
from guardia.logs.tail import FileTailer, Positions

log = logging.getLogger("guardia.logs")
MAINTENANCE_EVERY_S = 30.0


def store_options(cfg: LogsConfig) -> StoreOptions:
    return StoreOptions(
        retention_ms=cfg.retention_ms,
        retention_bytes=cfg.retention_bytes,
        max_streams=cfg.max_streams,
        max_line_bytes=cfg.max_line_bytes,
        max_labels_per_stream=cfg.max_labels_per_stream,
    )


class LogsService:
    def __init__(self, default_path: Path, cfg: LogsConfig | None = None) -> None:
        cfg = cfg or LogsConfig()
        self.path = Path(cfg.path) if cfg.path else default_path
        self.store = LogStore(self.path, store_options(cfg))
        self.engine = LogQLEngine(self.store)
        self.config = LogsConfig()
        self.tailer: FileTailer | None = None
        self.syslog: dict[object, SyslogReceiver] = {}
        self.journals: list[JournalReader] = []
        self._started = False
        self._maint: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def apply_config(self, cfg: LogsConfig) -> None:
        if cfg.path and Path(cfg.path) != self.path:
            raise LogsConfigError(
                [f"logs.path: changing the log store's directory ({self.path} -> {cfg.path}) needs a restart"]
            )
        opts = store_options(cfg)
        s = self.store.opts
        s.retention_ms, s.retention_bytes = opts.retention_ms, opts.retention_bytes
        s.max_streams, s.max_line_bytes = opts.max_streams, opts.max_line_bytes
        s.max_labels_per_stream = opts.max_labels_per_stream
        old = self.config
        self.config = cfg
        if not self._started:
            return
        await self._apply_collectors(old, cfg)

    async def _apply_collectors(self, old: LogsConfig, cfg: LogsConfig) -> None:
        if self.tailer is None or old.tail != cfg.tail or old.positions_file != cfg.positions_file:
            if self.tailer is not None:
                await self.tailer.stop()
                self.tailer = None
            if cfg.tail:
                positions = Path(cfg.positions_file) if cfg.positions_file else self.path / "positions.json"
                self.tailer = FileTailer(self.store, cfg.tail, Positions(positions))
                self.tailer.start()
        wanted = {c: c for c in cfg.syslog}
        for key in list(self.syslog):
            if key not in wanted:
                await self.syslog.pop(key).stop()
        for c in cfg.syslog:
            if c not in self.syslog:
                r = SyslogReceiver(self.store, c)
                try:
                    await r.start()
                except OSError as e:
                    log.error("event=syslog_listen_failed address=%s error=%r", c.listen_address, str(e))
                    continue
                self.syslog[c] = r
        if old.journal != cfg.journal or (cfg.journal and not self.journals):
            for j in self.journals:
                await j.stop()
            self.journals = []
            for jc in cfg.journal:
                reader = JournalReader(self.store, jc, self.path / f"journal-{jc.job_name}.cursor")
                if await reader.start():
                    self.journals.append(reader)

    async def start(self) -> None:
        self._started = True
        await self._apply_collectors(LogsConfig(), self.config)
        self._maint = asyncio.create_task(self._maintenance(), name="logs-maintenance")

    async def _maintenance(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=MAINTENANCE_EVERY_S)
            if self._stop.is_set():
                return
            try:
                await asyncio.to_thread(self.store.maintain)
            except Exception:
                log.exception("event=logs_maintenance_failed")

    async def stop(self) -> None:
        self._stop.set()
        if self._maint is not None:
            with contextlib.suppress(Exception):
                await self._maint
        if self.tailer is not None:
            await self.tailer.stop()
        for r in self.syslog.values():
            await r.stop()
        for j in self.journals:
            await j.stop()
        await asyncio.to_thread(self.store.close)
