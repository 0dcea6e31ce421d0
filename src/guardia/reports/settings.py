"""Which metrics a report reads, and the targets it judges them by.

The defaults are the names the seeds' stacks expose (the FastAPI/Django instrumentation's
``http_requests_total`` and ``http_request_duration_seconds``, client libraries' ``process_*``
series, the Redis and PostgreSQL exporters, the node exporter); ``reports.metrics`` in
guardia.yml overrides them, so a report works for any naming.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class CacheMetrics:
    name: str
    hits: str
    misses: str


DEFAULT_CACHES = (
    CacheMetrics("redis", "redis_keyspace_hits_total", "redis_keyspace_misses_total"),
    CacheMetrics("postgres", "pg_stat_database_blks_hit", "pg_stat_database_blks_read"),
    CacheMetrics("app", "cache_hits_total", "cache_misses_total"),
)


@dataclass(frozen=True, slots=True)
class ReportMetrics:
    requests: str = "http_requests_total"
    # a series is an error when one of these labels matches (``status`` or ``code``)
    error_labels: tuple[str, ...] = ("status", "code")
    error_regex: str = "5.."
    latency_histograms: tuple[str, ...] = ("http_request_duration_seconds",)
    cpu: str = "process_cpu_seconds_total"
    memory: str = "process_resident_memory_bytes"
    start_time: str = "process_start_time_seconds"
    caches: tuple[CacheMetrics, ...] = DEFAULT_CACHES
    # the label a service is selected by (``--service S``) on scraped series
    service_label: str = "job"


@dataclass(frozen=True, slots=True)
class ReportTargets:
    availability: float = 0.999
    # error-rate target where no SLO names the service; None: no target, the rate is a fact
    error_rate: float | None = None
    quantiles: tuple[float, ...] = (0.5, 0.95, 0.99)


@dataclass(frozen=True, slots=True)
class ReportSettings:
    metrics: ReportMetrics = field(default_factory=ReportMetrics)
    targets: ReportTargets = field(default_factory=ReportTargets)


class SettingsError(ValueError):
    """A bad ``reports.metrics`` / ``reports.targets`` field; the message names it."""


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) and i for i in items):
        raise SettingsError(f"{where} must be a metric name or a list of metric names")
    return tuple(items)


def parse_settings(data: Mapping[str, Any] | None, where: str = "reports") -> ReportSettings:
    """``metrics:`` and ``targets:`` of a ``reports:`` section (unknown fields refused)."""
    if not data:
        return ReportSettings()
    m: dict[str, Any] = {}
    known_m = {f.name for f in fields(ReportMetrics)}
    raw_m = data.get("metrics") or {}
    if not isinstance(raw_m, Mapping):
        raise SettingsError(f"{where}.metrics must be a mapping of metric names")
    for key, value in raw_m.items():
        if key not in known_m:
            raise SettingsError(f"{where}.metrics: unknown field {key!r}; "
                                f"known: {', '.join(sorted(known_m))}")
        if key == "caches":
            if not isinstance(value, list | tuple):
                raise SettingsError(f"{where}.metrics.caches must be a list of {{name, hits, misses}}")
            caches = []
            for i, c in enumerate(value):
                if not isinstance(c, Mapping) or not all(isinstance(c.get(k), str) for k in
                                                         ("name", "hits", "misses")):
                    raise SettingsError(f"{where}.metrics.caches[{i}] needs name, hits and misses "
                                        "(metric names of two counters)")
                caches.append(CacheMetrics(c["name"], c["hits"], c["misses"]))
            m[key] = tuple(caches)
        elif key in ("error_labels", "latency_histograms"):
            m[key] = _strings(value, f"{where}.metrics.{key}")
        elif not isinstance(value, str) or not value:
            raise SettingsError(f"{where}.metrics.{key} must be a metric name")
        else:
            m[key] = value
    t: dict[str, Any] = {}
    raw_t = data.get("targets") or {}
    if not isinstance(raw_t, Mapping):
        raise SettingsError(f"{where}.targets must be a mapping")
    for key, value in raw_t.items():
        if key in ("availability", "error_rate"):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise SettingsError(f"{where}.targets.{key} must be a ratio between 0 and 1 "
                                    "(0.999 for 99.9%)")
            t[key] = float(value)
        elif key == "quantiles":
            if not isinstance(value, list) or not value or not all(
                    isinstance(q, int | float) and 0 < q < 1 for q in value):
                raise SettingsError(f"{where}.targets.quantiles must be a list of ratios such as "
                                    "[0.5, 0.95, 0.99]")
            t[key] = tuple(float(q) for q in value)
        else:
            raise SettingsError(f"{where}.targets: unknown field {key!r}; known: availability, "
                                "error_rate, quantiles")
    return ReportSettings(ReportMetrics(**m), ReportTargets(**t))
