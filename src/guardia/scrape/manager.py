"""The scrape manager: discovery in, one scrape loop per target out.

``apply_config`` turns every job's target groups into targets (``populate_labels``) and
reconciles them with the running loops: a target with the same labels, URL and job config
keeps its loop (and so its phase, caches and staleness tracking); new targets get a loop;
targets that went away are stopped and their series marked stale.  ``run`` polls the file
discovery and re-syncs when a file changed.  The API reads ``targets()``,
``dropped_targets()`` and ``metadata()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Summary

from guardia.config.prometheus import PrometheusConfig, ScrapeConfig
from guardia.discovery import FileDiscovery, TargetGroup, static_groups
from guardia.model import format_duration
from guardia.scrape.loop import ScrapeLoop
from guardia.scrape.metadata import MetadataEntry, target_metadata
from guardia.scrape.request import make_client, uses_proxy
from guardia.scrape.target import DroppedTarget, Target, TargetError, populate_labels, scrape_url
from guardia.storage.exemplars import ExemplarRelay, ExemplarStore
from guardia.storage.interface import Storage

if TYPE_CHECKING:  # httpx is loaded only by jobs behind a proxy (``request.make_client``)
    import httpx

log = logging.getLogger("guardia.scrape")


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.interval_length = Summary(
            "prometheus_target_interval_length_seconds", "Actual intervals between scrapes.", ["interval"],
            registry=registry,
        )
        self.pool_targets = Gauge(
            "prometheus_target_scrape_pool_targets", "Current number of targets in this scrape pool.",
            ["scrape_job"], registry=registry,
        )
        # a counter of pools created, as Prometheus counts them (a job whose config changed
        # keeps its pool there too): dashboards take rate() of it across reloads
        self.pools = Counter(
            "prometheus_target_scrape_pools", "Total number of scrape pool creation attempts.",
            registry=registry,
        )
        self.scrapes_failed = Counter(
            "guardia_target_scrapes_failed", "Scrapes that failed (HTTP, parse or limit errors).",
            ["scrape_job"], registry=registry,
        )
        self.sample_limit = Counter(
            "prometheus_target_scrapes_exceeded_sample_limit",
            "Total number of scrapes that hit the sample limit and were rejected.", registry=registry,
        )
        self.discovered = Gauge(
            "prometheus_sd_discovered_targets", "Current number of discovered targets.", ["config", "name"],
            registry=registry,
        )
        self.file_errors = Counter(
            "prometheus_sd_file_read_errors", "The number of File-SD read errors.", registry=registry
        )
        self.duplicates = Counter(
            "prometheus_target_scrapes_sample_duplicate_timestamp",
            "Total number of samples rejected due to duplicate timestamps but different values.",
            registry=registry,
        )
        self.target_limit = Counter(
            "prometheus_target_scrape_pool_exceeded_target_limit",
            "Total number of times scrape pools hit the target limit.", registry=registry,
        )
        self.sync_failed = Counter(
            "prometheus_target_sync_failed", "Total number of target sync failures.", ["scrape_job"],
            registry=registry,
        )


@dataclass(slots=True)
class _Job:
    cfg: ScrapeConfig
    fingerprint: str
    files: list[FileDiscovery] = field(default_factory=list)
    client: httpx.AsyncClient | None = None


def _fingerprint(cfg: ScrapeConfig) -> str:
    """Identity of how a job scrapes, leaving out where its targets come from: changing the
    target list must not restart the loops of targets that stay."""
    scrape_part = cfg.model_copy(update={"static_configs": (), "file_sd_configs": ()})
    return hashlib.blake2b(repr(scrape_part).encode(), digest_size=16).hexdigest()


class ScrapeManager:
    def __init__(
        self,
        storage: Storage,
        registry: CollectorRegistry | None = None,
        *,
        base_dir: str | Path | None = None,
        poll_interval: float = 5.0,
    ) -> None:
        self.storage = storage
        # where OpenMetrics exemplars of every scrape go (None: dropped)
        self.exemplars: ExemplarStore | ExemplarRelay | None = None
        # --enable-feature=created-timestamp-zero-ingestion
        self.ct_zero_ingestion = False
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.base_dir = base_dir
        self.poll_interval = poll_interval
        self._m = _Metrics(self.registry)
        self._jobs: dict[str, _Job] = {}
        self._loops: dict[tuple[str, str], ScrapeLoop] = {}
        self._dropped: dict[str, list[DroppedTarget]] = {}
        self._target_errors: dict[str, list[str]] = {}
        self._file_errors_seen = 0
        self._running = False
        self._sync_needed = False
        self._pending_clients: list[httpx.AsyncClient] = []
        self._limited: dict[str, list[Target]] = {}
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self.jitter_seed = int(hashlib.blake2b(socket.gethostname().encode(), digest_size=8).hexdigest(), 16)

    # -- configuration ---------------------------------------------------------------------

    def apply_config(self, config: PrometheusConfig) -> None:
        """Take a new configuration; loops start when ``run`` is running (or already are)."""
        new_jobs: dict[str, _Job] = {}
        for sc in config.scrape_configs:
            fp = _fingerprint(sc)
            old = self._jobs.get(sc.job_name)
            if old is not None and old.fingerprint == fp:
                if old.cfg.file_sd_configs != sc.file_sd_configs:
                    old.files = [FileDiscovery(f, self.base_dir) for f in sc.file_sd_configs]
                old.cfg = sc
                new_jobs[sc.job_name] = old
                continue
            job = _Job(sc, fp, [FileDiscovery(f, self.base_dir) for f in sc.file_sd_configs])
            new_jobs[sc.job_name] = job
        stale_clients = [
            j.client for name, j in self._jobs.items()
            if j.client is not None and (name not in new_jobs or new_jobs[name] is not j)
        ]
        for gone in set(self._jobs) - set(new_jobs):
            for gauge, labels in ((self._m.pool_targets, (gone,)), (self._m.discovered, (gone, "scrape"))):
                with contextlib.suppress(KeyError):
                    gauge.remove(*labels)
        created = len(set(new_jobs) - set(self._jobs))
        self._jobs = new_jobs
        if created:
            self._m.pools.inc(created)
        self._pending_clients = stale_clients
        self._sync_needed = True
        self._wake.set()  # a running manager re-syncs now, not at the next poll

    def _groups(self, job: _Job) -> list[TargetGroup]:
        groups = static_groups(job.cfg.job_name, job.cfg.static_configs)
        for fd in job.files:
            before = fd.read_errors
            fd.refresh()
            if fd.read_errors > before:
                self._m.file_errors.inc(fd.read_errors - before)
            groups.extend(fd.groups())
        return groups

    def _build_targets(self, job: _Job) -> dict[str, Target]:
        out: dict[str, Target] = {}
        dropped: list[DroppedTarget] = []
        errors: list[str] = []
        for g in self._groups(job):
            for discovered in g.target_label_sets():
                try:
                    final, pre = populate_labels(discovered, job.cfg)
                except TargetError as e:
                    errors.append(f"{discovered.get('__address__', '?')}: {e}")
                    self._m.sync_failed.labels(job.cfg.job_name).inc()
                    dropped.append(DroppedTarget(job.cfg.job_name, discovered, str(e)))
                    continue
                if final is None:
                    dropped.append(DroppedTarget(job.cfg.job_name, pre))
                    continue
                t = Target(job.cfg.job_name, final, pre, url=scrape_url(final, job.cfg.params))
                out.setdefault(t.key(), t)
        for fd in job.files:
            errors.extend(fd.errors.values())
        keep = job.cfg.keep_dropped_targets or 0
        self._dropped[job.cfg.job_name] = dropped[:keep] if keep else dropped
        self._target_errors[job.cfg.job_name] = errors
        self._m.discovered.labels(job.cfg.job_name, "scrape").set(len(out) + len(dropped))
        self._m.pool_targets.labels(job.cfg.job_name).set(len(out))
        return out

    async def sync(self) -> None:
        """Reconcile running loops with the current configuration and discovered targets."""
        self._sync_needed = False
        wanted: dict[tuple[str, str], tuple[_Job, Target]] = {}
        self._limited = {}
        for name, job in self._jobs.items():
            targets = self._build_targets(job)
            limit = job.cfg.target_limit or 0
            if limit and len(targets) > limit:
                # As Prometheus: the whole pool stops scraping until it fits again.
                self._m.target_limit.inc()
                err = f"target_limit exceeded (number of targets: {len(targets)}, limit: {limit})"
                for t in targets.values():
                    t.report("down", err, 0.0, 0.0)
                self._limited[name] = list(targets.values())
                continue
            for tkey, t in targets.items():
                wanted[(name, job.fingerprint + tkey)] = (job, t)
        for gone in [k for k in self._loops if k not in wanted]:
            await self._loops.pop(gone).stop(mark_stale=True)
        for name in list(self._dropped):
            if name not in self._jobs:
                del self._dropped[name]
        for key, (job, t) in wanted.items():
            if key in self._loops:
                continue
            if job.client is None and uses_proxy(job.cfg):
                job.client = make_client(job.cfg)
            loop = ScrapeLoop(t, job.cfg, self.storage, job.client, jitter_seed=self.jitter_seed,
                              on_scrape=self._on_scrape, exemplars=self.exemplars,
                              ct_zero=self.ct_zero_ingestion)
            self._loops[key] = loop
            if self._running:
                loop.start()
        for c in self._pending_clients:
            await c.aclose()
        self._pending_clients = []

    def _on_scrape(self, loop: ScrapeLoop, duration: float, ok: bool) -> None:
        if loop.last_interval is not None:
            self._m.interval_length.labels(format_duration(loop.target.interval_ms)).observe(loop.last_interval)
        if loop.last_result is not None and loop.last_result.duplicates:
            self._m.duplicates.inc(loop.last_result.duplicates)
        if not ok:
            self._m.scrapes_failed.labels(loop.target.job).inc()
            if loop.target.last_error.startswith("sample limit exceeded"):
                self._m.sample_limit.inc()

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until ``stop``: start loops, poll file discovery, re-sync on changes."""
        self._running = True
        self._stop.clear()
        self._wake.clear()
        await self.sync()
        for loop in self._loops.values():
            loop.start()
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            changed = self._sync_needed
            for job in self._jobs.values():
                for fd in job.files:
                    before = fd.read_errors
                    if fd.refresh():
                        changed = True
                    if fd.read_errors > before:
                        self._m.file_errors.inc(fd.read_errors - before)
                        changed = True
            if changed:
                await self.sync()

    async def stop(self) -> None:
        """Stop all loops (no staleness markers: the data stays valid until it ages out)."""
        self._stop.set()
        self._wake.set()
        self._running = False
        for loop in self._loops.values():
            await loop.stop(mark_stale=False)
        self._loops.clear()
        for job in self._jobs.values():
            if job.client is not None:
                await job.client.aclose()
                job.client = None

    # -- accessors for the API -------------------------------------------------------------

    def loops(self) -> list[ScrapeLoop]:
        return list(self._loops.values())

    def targets(self) -> list[Target]:
        limited = [t for ts in self._limited.values() for t in ts]
        return [loop.target for loop in self._loops.values()] + limited

    def dropped_targets(self) -> list[DroppedTarget]:
        return [d for ds in self._dropped.values() for d in ds]

    def discovery_errors(self) -> dict[str, list[str]]:
        return {k: v for k, v in self._target_errors.items() if v}

    def metadata(self) -> list[MetadataEntry]:
        return [e for loop in self._loops.values() for e in target_metadata(loop)]

    def scrape_pools(self) -> Iterable[str]:
        return list(self._jobs)
