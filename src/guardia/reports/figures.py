"""What a report is made of: figures, each with the query that produced it, and the list of
what could not be evaluated.

Every number the report prints is a ``Figure``; the renderers (Markdown, HTML, JSON) only lay
figures out, so no renderer can print a claim without its evidence.  A figure with no series
behind it has ``value=None`` and the verdict ``no_data``, and is listed in ``not_evaluated``
with the reason: no data is never a pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

Verdict = Literal["pass", "fail", "no_data", "info"]


@dataclass(slots=True)
class Figure:
    """One number (or list, for outages and alerts) with its evidence.

    ``verdict`` is ``info`` for figures that are facts rather than checks (a request rate, a
    deployment list); the others count in the score.  ``test`` holds the significance or
    trend test that decided the verdict, ``details`` the rows behind a count (outages,
    alerts, anomalies), ``points`` the per-interval series drawn in the HTML report.
    """

    name: str
    labels: dict[str, str]
    value: float | None
    unit: str
    query: str
    baseline: float | None = None
    baseline_query: str = ""
    target: float | None = None
    target_op: str = ""  # "<=" or ">=": how value compares with target to pass
    verdict: Verdict = "info"
    note: str = ""
    test: dict[str, Any] | None = None
    details: list[dict[str, Any]] = field(default_factory=list)
    points: list[tuple[int, float]] = field(default_factory=list)
    baseline_points: list[tuple[int, float]] = field(default_factory=list)

    @property
    def change(self) -> float | None:
        """Relative change against the baseline (0.05 = 5% higher), where both exist."""
        if self.value is None or self.baseline is None or self.baseline == 0:
            return None
        if not (math.isfinite(self.value) and math.isfinite(self.baseline)):
            return None
        return (self.value - self.baseline) / abs(self.baseline)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "labels": self.labels, "value": _num(self.value), "unit": self.unit,
            "query": self.query, "verdict": self.verdict,
        }
        if self.baseline is not None or self.baseline_query:
            out["baseline"] = _num(self.baseline)
            out["baseline_query"] = self.baseline_query
            out["change"] = _num(self.change)
        if self.target is not None:
            out["target"] = self.target
            out["target_op"] = self.target_op
        if self.test is not None:
            out["test"] = self.test
        if self.details:
            out["details"] = self.details
        if self.note:
            out["note"] = self.note
        return out


def _num(v: float | None) -> float | str | None:
    """JSON has no NaN or infinity: those are written as strings, as Prometheus's API does."""
    if v is None:
        return None
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return v


@dataclass(frozen=True, slots=True)
class NotEvaluated:
    """A figure the report could not compute, and why (no series, too few points, ...)."""

    name: str
    labels: dict[str, str]
    reason: str
    query: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "labels": self.labels, "reason": self.reason, "query": self.query}


@dataclass(slots=True)
class Section:
    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "notes": self.notes}


@dataclass(frozen=True, slots=True)
class Score:
    value: float | None
    formula: str
    passed: int
    failed: int
    no_data: int

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "formula": self.formula, "passed": self.passed,
                "failed": self.failed, "no_data": self.no_data}


@dataclass(slots=True)
class Report:
    """A whole report: the window and baseline it covers (ms), its sections and score."""

    title: str
    generated_ms: int
    start_ms: int
    end_ms: int
    baseline_start_ms: int
    baseline_end_ms: int
    interval_ms: int
    source: str
    service: str = ""
    since_deploy: str = ""
    sections: list[Section] = field(default_factory=list)
    not_evaluated: list[NotEvaluated] = field(default_factory=list)
    score: Score | None = None
    coverage: dict[str, Any] = field(default_factory=dict)

    def figures(self) -> list[Figure]:
        return [f for s in self.sections for f in s.figures]

    def find(self, name: str, **labels: str) -> list[Figure]:
        """Figures named ``name`` whose labels include ``labels`` (for tests and the API)."""
        return [f for f in self.figures()
                if f.name == name and all(f.labels.get(k) == v for k, v in labels.items())]

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "generated": self.generated_ms / 1000,
            "window": {"start": self.start_ms / 1000, "end": self.end_ms / 1000},
            "baseline": {"start": self.baseline_start_ms / 1000, "end": self.baseline_end_ms / 1000},
            "interval_seconds": self.interval_ms / 1000,
            "source": self.source,
            "service": self.service,
            "since_deploy": self.since_deploy,
            "coverage": self.coverage,
            "score": self.score.to_json() if self.score is not None else None,
            "sections": [s.to_json() for s in self.sections],
            "figures": [{**f.to_json(), "section": s.key} for s in self.sections for f in s.figures],
            "not_evaluated": [n.to_json() for n in self.not_evaluated],
        }
