"""Replay stored history: when each SLO alert would have fired and resolved, and the budget.

The SLI queries are evaluated inline (not through recordings, which did not exist before the
SLO did) as range queries on the evaluation grid, which is what the rule engine would have
computed one instant at a time; a range query per alert is a few numpy passes over the
history instead of one rule evaluation per minute.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from guardia.model import Labels
from guardia.model.durations import parse_duration
from guardia.slo.generate import (
    ABSENT_ALERT,
    ABSENT_FOR,
    absent_condition,
    burn_condition,
    period_ratio_expr,
)
from guardia.slo.period import burn_windows
from guardia.slo.spec import SLO

# (labels, timestamps in ms, values) for each series of a range query.
RangeSeries = tuple[Labels, np.ndarray, np.ndarray]
RangeQuery = Callable[[str, int, int, int], Sequence[RangeSeries]]
InstantQuery = Callable[[str, int], Sequence[tuple[Labels, float]]]

MAX_STEPS = 10_000  # per range query (the API refuses more than 11,000 points)


@dataclass(frozen=True, slots=True)
class Episode:
    """One alert from firing to resolving (``resolved_ms`` None: still firing at the end)."""

    alert: str
    labels: dict[str, str]
    fired_ms: int
    resolved_ms: int | None
    pending_ms: int

    def to_json(self) -> dict[str, Any]:
        return {"alert": self.alert, "labels": self.labels, "pendingAt": self.pending_ms / 1000,
                "firedAt": self.fired_ms / 1000,
                "resolvedAt": None if self.resolved_ms is None else self.resolved_ms / 1000}


@dataclass
class BacktestResult:
    slo: SLO
    start_ms: int
    end_ms: int
    step_ms: int
    episodes: list[Episode] = field(default_factory=list)
    error_ratio: float | None = None  # over the period ending at end_ms (NaN/None: no data)
    budget_remaining: float | None = None
    period_start_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"slo": self.slo.name, "service": self.slo.service, "start": self.start_ms / 1000,
                "end": self.end_ms / 1000, "step": self.step_ms / 1000,
                "periodStart": self.period_start_ms / 1000,
                "errorRatio": self.error_ratio, "errorBudgetRemaining": self.budget_remaining,
                "alerts": [e.to_json() for e in self.episodes]}


def present_steps(range_query: RangeQuery, expr: str, start_ms: int, end_ms: int,
                  step_ms: int) -> dict[Labels, np.ndarray]:
    """For each output series, a bool per grid step: did the expression return it then."""
    n = (end_ms - start_ms) // step_ms + 1
    out: dict[Labels, np.ndarray] = {}
    for c0 in range(0, n, MAX_STEPS):
        c1 = min(n, c0 + MAX_STEPS)
        for labels, ts, _ in range_query(expr, start_ms + c0 * step_ms,
                                         start_ms + (c1 - 1) * step_ms, step_ms):
            mask = out.setdefault(labels, np.zeros(n, dtype=bool))
            idx = (np.asarray(ts, dtype=np.int64) - start_ms) // step_ms
            mask[idx[(idx >= 0) & (idx < n)]] = True
    return out


Run = tuple[int, int, int | None]  # pending, fired, resolved (None: still firing)


def episodes(mask: np.ndarray, start_ms: int, step_ms: int, hold_ms: int) -> list[Run]:
    """(pending, fired, resolved) times of the runs of ``mask`` that last ``hold_ms``.

    As the rule engine does: pending at the first step, firing at the first step at least
    ``hold_ms`` later, resolved at the first step the expression no longer returns it.
    """
    if not mask.any():
        return []
    m = mask.astype(np.int8)
    edges = np.diff(np.concatenate(([0], m, [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)  # first step after the run
    hold_steps = -(-hold_ms // step_ms)
    out = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        fire = a + hold_steps
        if fire >= b:
            continue
        resolved = None if b >= len(mask) else start_ms + b * step_ms
        out.append((start_ms + a * step_ms, start_ms + fire * step_ms, resolved))
    return out


def backtest(slo: SLO, range_query: RangeQuery, instant_query: InstantQuery, start_ms: int,
             end_ms: int, step_ms: int = 60_000) -> BacktestResult:
    start_ms -= start_ms % step_ms
    end_ms -= end_ms % step_ms
    res = BacktestResult(slo, start_ms, end_ms, step_ms)
    conditions: list[tuple[dict[str, str], str, int]] = []
    a = slo.alerting
    if not a.disable:
        for b in burn_windows(slo.period):
            spec = a.page if b.severity == "page" else a.ticket
            if not spec.disable:
                conditions.append(({"alertname": a.name, "slo_severity": b.severity,
                                    "slo_long_window": b.long, "slo_short_window": b.short},
                                   burn_condition(slo, b, inline=True), 0))
        if a.absent:
            conditions.append(({"alertname": ABSENT_ALERT}, absent_condition(slo, inline=True),
                               parse_duration(ABSENT_FOR)))
    for labels, expr, hold in conditions:
        for series_labels, mask in present_steps(range_query, expr, start_ms, end_ms, step_ms).items():
            for pending, fired, resolved in episodes(mask, start_ms, step_ms, hold):
                full = {**dict(series_labels), **labels}
                res.episodes.append(Episode(labels["alertname"], full, fired, resolved, pending))
    res.episodes.sort(key=lambda e: (e.fired_ms, e.alert, sorted(e.labels.items())))
    res.period_start_ms = slo.period.start(end_ms)
    rng = end_ms - res.period_start_ms
    ratio = _first(instant_query(period_ratio_expr(slo, rng), end_ms))
    res.error_ratio = ratio
    if ratio is not None:
        res.budget_remaining = 1 - ratio / slo.budget
    return res


def _first(samples: Sequence[tuple[Labels, float]]) -> float | None:
    """The worst (highest) error ratio when the SLI is grouped; None without data."""
    vals = [v for _, v in samples if v == v]
    return max(vals) if vals else None


def engine_queries(engine: Any, storage: Any) -> tuple[RangeQuery, InstantQuery]:
    """Range and instant queries against a local store through guardia's engine."""

    def rq(expr: str, start: int, end: int, step: int) -> list[RangeSeries]:
        r = engine.range(storage, expr, start, end, step)
        return [(s.labels, np.asarray(s.timestamps), np.asarray(s.values)) for s in r.value]

    def iq(expr: str, t: int) -> list[tuple[Labels, float]]:
        r = engine.instant(storage, expr, t)
        if r.type == "scalar":
            return [(Labels(), float(r.value[1]))]
        return [(s.labels, s.v) for s in r.value]

    return rq, iq


def http_queries(url: str, timeout_s: float = 120.0) -> tuple[RangeQuery, InstantQuery]:
    """The same through a Prometheus API v1 (a running guardia, or a Prometheus)."""
    import httpx

    base = url.rstrip("/")

    def call(path: str, params: dict[str, str]) -> Any:
        r = httpx.post(f"{base}{path}", data=params, timeout=timeout_s)
        body = r.json()
        if body.get("status") != "success":
            raise RuntimeError(f"{base}{path}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def rq(expr: str, start: int, end: int, step: int) -> list[RangeSeries]:
        data = call("/api/v1/query_range", {"query": expr, "start": f"{start / 1000}",
                                            "end": f"{end / 1000}", "step": f"{step / 1000}"})
        out = []
        for s in data["result"]:
            pts = s["values"]
            ts = np.array([round(float(p[0]) * 1000) for p in pts], dtype=np.int64)
            vs = np.array([float(p[1]) for p in pts], dtype=np.float64)
            out.append((Labels(s["metric"]), ts, vs))
        return out

    def iq(expr: str, t: int) -> list[tuple[Labels, float]]:
        data = call("/api/v1/query", {"query": expr, "time": f"{t / 1000}"})
        if data["resultType"] == "scalar":
            return [(Labels(), float(data["result"][1]))]
        return [(Labels(s["metric"]), float(s["value"][1])) for s in data["result"]]

    return rq, iq
