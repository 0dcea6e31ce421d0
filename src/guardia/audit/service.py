"""The continuous audit inside ``guardia serve``: every 10 minutes and after each reload.

Findings are kept for ``/api/v1/audit`` and the UI page, and counted as
``guardia_audit_problems{check,severity}`` on guardia's own registry, so an alerting rule can
page on a new Bug (``guardia_audit_problems{severity="bug"} > 0``).  The audit reads the
running config and guardia's own store in-process (``live.LocalLive``); it runs in a worker
thread, so the event loop never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily

from guardia.audit.finding import Finding, counts
from guardia.audit.inputs import from_config
from guardia.audit.live import LocalLive
from guardia.audit.notify_tests import TestEvidence
from guardia.audit.readiness import PROFILES, Sources, checklist
from guardia.audit.routing import Delivery
from guardia.audit.run import audit
from guardia.config.loader import Config
from guardia.promql.engine import Engine
from guardia.storage.interface import Queryable

log = logging.getLogger("guardia.audit")

INTERVAL_S = 600.0
# A fresh store holds no series yet: auditing at once would call every metric "never existed".
FIRST_DELAY_S = 120.0


class AuditService:
    def __init__(self, storage: Queryable, engine: Engine, *, registry: CollectorRegistry | None = None,
                 retention_s: float | None = None, web_config_file: str = "",
                 metadata: Callable[[str], str | None] | None = None,
                 delivery: Callable[[], list[Delivery]] | None = None,
                 tests: Callable[[], TestEvidence] | None = None,
                 data_dir: str = "", slo_list: Callable[[], list[dict[str, Any]]] | None = None,
                 interval_s: float = INTERVAL_S, first_delay_s: float = FIRST_DELAY_S) -> None:
        self._storage = storage
        self._engine = engine
        self._metadata = metadata
        self._delivery = delivery
        self._tests = tests
        self._data_dir = data_dir
        self._slo_list = slo_list
        self._readiness_lock = threading.Lock()
        self._retention_s = retention_s
        self._web_config_file = web_config_file
        self._interval_s = interval_s
        self._first_delay_s = first_delay_s
        self._config: Config | None = None
        self._wake = asyncio.Event()
        self.findings: list[Finding] = []
        self.last_run_s = 0.0
        self.last_duration_s = 0.0
        self.last_error = ""
        self.runs = 0
        if registry is not None:
            registry.register(_Collector(self))

    def apply_config(self, cfg: Config) -> None:
        """A reload: audit the new config at once (the run loop picks it up)."""
        self._config = cfg
        self._wake.set()

    def run_once(self) -> list[Finding]:
        cfg = self._config
        if cfg is None:
            return []
        t0 = time.monotonic()
        try:
            live = LocalLive(self._storage, self._engine, retention_s=self._retention_s,
                             metadata=self._metadata)  # fresh: its answers are cached for this run
            found = audit(from_config(cfg, self._web_config_file), live, retention_s=self._retention_s,
                          delivery=self._delivery() if self._delivery is not None else None,
                          tests=self._tests() if self._tests is not None else None)
            self.findings, self.last_error = found, ""
        except Exception as e:  # an audit bug must not stop serving; it shows on the page
            log.exception("event=audit_failed")
            self.last_error = f"{type(e).__name__}: {e}"
        self.last_duration_s = time.monotonic() - t0
        self.last_run_s = time.time()
        self.runs += 1
        return self.findings

    async def run(self, stop: asyncio.Event) -> None:
        delay = self._first_delay_s
        if self._config is not None:  # a few scrape rounds are enough for the series to exist
            delay = min(delay, 4 * self._config.prometheus.global_.scrape_interval / 1000)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        while not stop.is_set():
            self._wake.clear()
            await asyncio.to_thread(self.run_once)
            waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            try:
                await asyncio.wait(waits, timeout=self._interval_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()

    def readiness(self, profile: str) -> dict[str, Any]:
        """The go/no-go checklist of this running guardia, the same document as ``guardia
        readiness --format json``: its config and store, its web config, its snapshots, its
        recorded receiver tests and live delivery, its SLOs.  One at a time (a snapshot is
        restored into a temporary directory); ``KeyError`` for an unknown profile."""
        if profile not in PROFILES:
            raise KeyError(profile)
        cfg = self._config
        if cfg is None:
            raise RuntimeError("the configuration is not loaded yet")
        with self._readiness_lock:
            live = LocalLive(self._storage, self._engine, retention_s=self._retention_s,
                             metadata=self._metadata)
            inp = from_config(cfg, self._web_config_file)
            delivery = self._delivery() if self._delivery is not None else None
            tests = self._tests() if self._tests is not None else None
            found = audit(inp, live, retention_s=self._retention_s, delivery=delivery, tests=tests)
            src = Sources(inp, found, live, data_dir=self._data_dir, web_config_file=self._web_config_file,
                          retention_s=self._retention_s, tests=tests, delivery=delivery, serving=True,
                          slo_list=self._slo_list)
            return checklist(src, profile).to_dict()

    def view(self) -> dict[str, Any]:
        """What ``/api/v1/audit`` returns and the page shows."""
        return {
            "lastRun": self.last_run_s or None,
            "durationSeconds": round(self.last_duration_s, 3),
            "error": self.last_error,
            "intervalSeconds": self._interval_s,
            "counts": [{"check": c, "severity": s, "count": n}
                       for (c, s), n in sorted(counts(self.findings).items())],
            "findings": [f.to_dict() for f in self.findings],
        }


class _Collector:
    def __init__(self, svc: AuditService) -> None:
        self._svc = svc

    def collect(self) -> Iterator[GaugeMetricFamily]:
        g = GaugeMetricFamily("guardia_audit_problems",
                              "Problems the last audit found, by check and severity.",
                              labels=["check", "severity"])
        for (check, sev), n in sorted(counts(self._svc.findings).items()):
            g.add_metric([check, sev], n)
        yield g
        t = GaugeMetricFamily("guardia_audit_last_run_timestamp_seconds", "When the last audit finished.")
        t.add_metric([], self._svc.last_run_s)
        yield t

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())
