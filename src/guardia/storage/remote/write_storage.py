"""All ``remote_write`` endpoints of the running config: one ``QueueManager`` each.

A reload keeps the queue of an endpoint whose settings did not change (it goes on from where
it is), restarts one whose settings changed (from its saved WAL position, so nothing is
skipped) and stops the queues of endpoints no longer listed.  External labels are part of a
queue's settings: they are added to every series it sends, as Prometheus adds them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from guardia.config.prometheus import PrometheusConfig, RemoteWriteConfig
from guardia.storage.remote.metadata import MetadataSource
from guardia.storage.remote.metrics import RemoteWriteMetrics
from guardia.storage.remote.queue_manager import QueueManager, state_file
from guardia.storage.tsdb import wal

if TYPE_CHECKING:
    from guardia.model import Labels
    from guardia.storage.exemplars import Exemplar, ExemplarRelay, ExemplarStore

log = logging.getLogger("guardia.storage.remote")


class RemoteWriteStorage:
    """Owns the queues; ``apply_config`` is its reloader, ``stop`` ends them all."""

    def __init__(self, waldir: Path, state_dir: Path, registry: CollectorRegistry | None,
                 metadata: MetadataSource | None = None,
                 highest_appended_ms: Callable[[], int] | None = None,
                 exemplars: ExemplarStore | ExemplarRelay | None = None) -> None:
        self.waldir = waldir
        self.state_dir = state_dir
        self.metrics = RemoteWriteMetrics(registry)
        if highest_appended_ms is not None:
            self.metrics.follow_appended(highest_appended_ms)
        self.metadata = metadata
        self.queues: dict[tuple[str, str], tuple[object, QueueManager]] = {}
        self._started = False
        if exemplars is not None:  # what queues with ``send_exemplars`` send
            exemplars.listeners.append(self._offer_exemplars)

    def _offer_exemplars(self, items: list[tuple[Labels, Exemplar]]) -> None:
        for _, q in list(self.queues.values()):
            q.offer_exemplars(items)

    @staticmethod
    def _settings(cfg: RemoteWriteConfig, external: dict[str, str]) -> object:
        return (cfg, tuple(sorted(external.items())))

    async def apply_config(self, cfg: PrometheusConfig) -> None:
        external = dict(cfg.global_.external_labels)
        wanted: dict[tuple[str, str], RemoteWriteConfig] = {
            (rw.name or "", rw.url): rw for rw in cfg.remote_write
        }
        for key in [k for k in self.queues if k not in wanted]:
            _, q = self.queues.pop(key)
            await q.stop()
            q.forget_metrics()
            log.info("event=remote_write_removed remote_name=%s url=%s", q.name, q.url)
        for key, rw in wanted.items():
            settings = self._settings(rw, external)
            old = self.queues.get(key)
            if old is not None and old[0] == settings:
                continue
            if old is not None:
                await old[1].stop()
            q = QueueManager(rw, waldir=self.waldir, state_path=state_file(self.state_dir, rw),
                             external_labels=external, metrics=self.metrics, metadata=self.metadata)
            self.queues[key] = (settings, q)
            if self._started:
                q.start()

    def start(self) -> None:
        self._started = True
        for _, q in self.queues.values():
            q.start()

    async def stop(self) -> None:
        await asyncio.gather(*(q.stop() for _, q in self.queues.values()))

    def lowest_segment(self) -> int | None:
        """The oldest WAL segment a queue still has to send (from its saved position), or
        None when no queue has one: what the store's checkpoint must keep.  Read from the
        saved positions, not the readers', since a restart resumes from those; a position at
        the end of a segment needs only the ones after it."""
        segments = []
        for _, q in list(self.queues.values()):
            p = q.load_position()
            if p is None:
                continue
            try:
                done = p.offset >= (self.waldir / wal.segment_name(p.segment)).stat().st_size
            except FileNotFoundError:
                done = True  # already gone: the queue resumes at the next one
            segments.append(p.segment + 1 if done else p.segment)
        return min(segments) if segments else None

    def lowest_position(self) -> tuple[int, int] | None:
        """The WAL position every queue has passed (what an agent may delete before)."""
        positions = []
        for _, q in self.queues.values():
            if q.watcher is None:
                return None
            p = q.load_position()
            if p is None:
                return None
            positions.append((p.segment, p.offset))
        return min(positions) if positions else None
