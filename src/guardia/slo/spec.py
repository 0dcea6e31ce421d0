"""One SLO, whatever file it came from: guardia's own form, sloth's or pyrra's.

Every loader produces these values; rule generation, the data check, budgets and the
backtest only ever see them, so the three formats behave the same by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from guardia.model.durations import format_duration
from guardia.slo.period import Period

# sloth's `{{.window}}` (any spacing); guardia also offers `{{.window_seconds}}`.
_PLACEHOLDER = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")
PLACEHOLDERS = ("window", "window_seconds")


def render(template: str, window_ms: int) -> str:
    """Fill ``{{.window}}`` (``5m``) and ``{{.window_seconds}}`` (``300``) into a query."""
    values = {"window": format_duration(window_ms), "window_seconds": f"{window_ms // 1000}"}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def unknown_placeholders(template: str) -> list[str]:
    return [m.group(1) for m in _PLACEHOLDER.finditer(template) if m.group(1) not in PLACEHOLDERS]


def has_window(template: str) -> bool:
    return any(m.group(1) == "window" for m in _PLACEHOLDER.finditer(template))


@dataclass(frozen=True, slots=True)
class Indicator:
    """The SLI as queries templated on the window.

    ``errors`` and ``total`` are per-second event rates (bad events, all events) over
    ``{{.window}}``; a ``raw`` indicator gives the error ratio directly (sloth's
    ``raw.error_ratio_query``) and has no event count, so no traffic guard.  ``kind`` and
    ``source`` say what the user wrote, for the API and the UI.
    """

    kind: str  # ratio | latency | probe | bool_gauge | raw
    errors: str = ""
    total: str = ""
    raw: str = ""
    source: str = ""

    def error_ratio_expr(self, window_ms: int) -> str:
        if self.raw:
            return f"({render(self.raw, window_ms)})"
        return f"({render(self.errors, window_ms)})\n/\n({render(self.total, window_ms)})"

    def errors_expr(self, window_ms: int) -> str:
        return render(self.errors, window_ms)

    def total_expr(self, window_ms: int) -> str:
        return render(self.total, window_ms)

    @property
    def counts_events(self) -> bool:
        return not self.raw


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """The alerts of one severity (page or ticket)."""

    disable: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Alerting:
    name: str = "SLOErrorBudgetBurn"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    page: AlertSpec = field(default_factory=AlertSpec)
    ticket: AlertSpec = field(default_factory=AlertSpec)
    absent: bool = True
    disable: bool = False


DEFAULT_MIN_EVENTS = 10


@dataclass(frozen=True, slots=True)
class SLO:
    """``objective`` is a ratio (0.999), not a percent."""

    service: str
    name: str
    objective: float
    period: Period
    indicator: Indicator
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    alerting: Alerting = field(default_factory=Alerting)
    grouping: tuple[str, ...] = ()
    # Events a long window must hold before its burn rate can alert (0: no guard).
    min_events: int = DEFAULT_MIN_EVENTS
    file: str = ""
    format: str = "guardia"  # guardia | sloth | pyrra
    # a remote_read entry's name: the SLI is read on that engine (its recordings and the
    # period's ratio pushed down), the budget and alerts computed here from the recordings
    source: str = ""

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"

    @property
    def budget(self) -> float:
        """The error budget as a ratio of events (0.001 for 99.9%)."""
        return round(1.0 - self.objective, 12)

    @property
    def id_labels(self) -> dict[str, str]:
        """Labels every generated series and alert of this SLO carries."""
        return {"slo_service": self.service, "slo": self.name}

    @property
    def series_labels(self) -> dict[str, str]:
        return {**self.labels, **self.id_labels}
