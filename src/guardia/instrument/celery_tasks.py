"""Celery task metrics from Celery's own signals: how many tasks ran, how they ended, how long.

``celery_tasks_total{task, state}`` (``SUCCESS``, ``FAILURE``, ``RETRY``) and
``celery_task_duration_seconds{task}``. ``task`` is the registered task name (bounded by the code).
Call ``instrument_celery()`` where the worker imports its app. Prefork workers are separate
processes: give them a ``PROMETHEUS_MULTIPROC_DIR`` and serve its sum (``Exposition``).
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

TASK_BUCKETS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class CeleryMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.tasks = Counter("celery_tasks", "Celery tasks finished, by task and final state.",
                             ("task", "state"), registry=registry)
        self.duration = Histogram("celery_task_duration_seconds", "Time a Celery task ran.",
                                  ("task",), registry=registry, buckets=TASK_BUCKETS)
        self._started: dict[str, float] = {}

    def prerun(self, task_id: str | None = None, **_: Any) -> None:
        if task_id is not None:
            self._started[task_id] = time.perf_counter()

    def postrun(self, task_id: str | None = None, task: Any = None, state: str | None = None,
                **_: Any) -> None:
        started = self._started.pop(task_id, None) if task_id is not None else None
        name = str(getattr(task, "name", None) or "unknown")
        if started is not None:
            self.duration.labels(name).observe(time.perf_counter() - started)
        self.tasks.labels(name, state or "UNKNOWN").inc()


def instrument_celery(registry: CollectorRegistry | None = None) -> CeleryMetrics:
    """Connect the metrics to Celery's task signals (for every app in this process)."""
    from celery import signals

    m = CeleryMetrics(registry)
    # weak=False: the bound methods would otherwise be dropped with nobody holding them
    signals.task_prerun.connect(m.prerun, weak=False)
    signals.task_postrun.connect(m.postrun, weak=False)
    return m
