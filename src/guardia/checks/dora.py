"""The four DORA metrics, per service, from the recorded deployments.

A ``dora:`` check entry stands for five checks (named after the entry: ``dora_...``), each a
Python check over the store, with the thresholds of the team of seed 004 as defaults:

| check | value per service | default threshold |
|---|---|---|
| ``NAME_deployments`` | successful deployments in ``window`` (deployment frequency) | |
| ``NAME_days_since_deployment`` | days since the last successful deployment | critical ``> 7`` |
| ``NAME_change_failure_rate`` | failed or rolled back / all deployments in ``window`` | warning ``> 0.2`` |
| ``NAME_lead_time_seconds`` | mean lead time of successful deployments in ``window`` | |
| ``NAME_time_to_restore_seconds`` | mean time from a failed deployment to the next success | |
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from guardia.checks.deployments import Deployment, read_deployments
from guardia.storage.interface import Queryable

DAY_MS = 86_400_000
LOOKBACK_MS = 90 * DAY_MS  # how far back "days since the last deployment" looks

METRICS = ("deployments", "days_since_deployment", "change_failure_rate", "lead_time_seconds",
           "time_to_restore_seconds")

Rows = dict[tuple[tuple[str, str], ...], float]


def _by_service(ds: list[Deployment]) -> dict[str, list[Deployment]]:
    out: dict[str, list[Deployment]] = defaultdict(list)
    for d in ds:
        out[d.service].append(d)
    return out


def compute(metric: str, deployments: list[Deployment], now_ms: int, window_ms: int) -> Rows:
    """One metric for every service (``deployments`` oldest first)."""
    rows: Rows = {}
    start = now_ms - window_ms
    for service, ds in sorted(_by_service(deployments).items()):
        key = (("service", service),)
        recent = [d for d in ds if d.finished_ms >= start]
        ok = [d for d in recent if d.status == "success"]
        if metric == "deployments":
            rows[key] = float(len(ok))
        elif metric == "days_since_deployment":
            last = max((d.finished_ms for d in ds if d.status == "success"), default=None)
            if last is not None:
                rows[key] = (now_ms - last) / DAY_MS
        elif metric == "change_failure_rate":
            if recent:
                rows[key] = sum(1 for d in recent if d.status != "success") / len(recent)
        elif metric == "lead_time_seconds":
            leads = [lt for d in ok if (lt := d.lead_time_s) is not None]
            if leads:
                rows[key] = sum(leads) / len(leads)
        elif metric == "time_to_restore_seconds":
            restores: list[float] = []
            failed_at: int | None = None
            for d in recent:
                if d.status != "success":
                    failed_at = d.finished_ms if failed_at is None else failed_at
                elif failed_at is not None:
                    restores.append((d.finished_ms - failed_at) / 1000)
                    failed_at = None
            if restores:
                rows[key] = sum(restores) / len(restores)
        else:
            raise ValueError(f"unknown DORA metric {metric!r}")
    return rows


def metric_function(db: Queryable, metric: str, window_ms: int,
                    clock: Callable[[], float]) -> Callable[[], Any]:
    """The no-argument function the runner calls for one DORA check."""

    def run() -> Rows:
        now = int(clock() * 1000)
        return compute(metric, read_deployments(db, now - max(window_ms, LOOKBACK_MS), now), now, window_ms)

    return run
