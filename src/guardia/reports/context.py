"""What every section reads from: the time ranges, the data source, the service selector,
and the list that collects what could not be evaluated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from guardia.model import Labels, format_duration
from guardia.reports.figures import Figure, NotEvaluated
from guardia.reports.rollup import Cells, Grid
from guardia.reports.settings import ReportSettings
from guardia.reports.source import Points, Source

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def interval_for(window_ms: int) -> int:
    """The per-interval resolution the tests compare: a 48th of the window, whole minutes,
    between 1 minute and 1 hour (30m for a 24 h window)."""
    iv = (window_ms // 48) // MINUTE_MS * MINUTE_MS
    return max(MINUTE_MS, min(HOUR_MS, iv))


@dataclass(frozen=True, slots=True)
class Window:
    """The report's window (start, end] and the baseline before it, in ms."""

    start: int
    end: int
    baseline_start: int
    interval: int

    @classmethod
    def ending(cls, end_ms: int, window_ms: int, baseline_ms: int) -> Window:
        start = end_ms - window_ms
        return cls(start, end_ms, start - baseline_ms, interval_for(window_ms))

    @property
    def baseline_end(self) -> int:
        return self.start

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def baseline_length(self) -> int:
        return self.start - self.baseline_start

    @property
    def w(self) -> str:
        """The window as a PromQL duration (``1d``)."""
        return format_duration(self.length)

    @property
    def b(self) -> str:
        return format_duration(self.baseline_length)

    @property
    def i(self) -> str:
        return format_duration(self.interval)


@dataclass(slots=True)
class Ctx:
    source: Source
    window: Window
    settings: ReportSettings
    service: str = ""
    slos: list[Any] = field(default_factory=list)
    not_evaluated: list[NotEvaluated] = field(default_factory=list)
    # per-interval series of window and baseline by signal, for the anomaly scores
    signals: dict[str, tuple[str, dict[Labels, Points], dict[Labels, Points]]] = field(default_factory=dict)
    # counters read once for every rate figure (``rollup``); False: every figure as PromQL
    read_once: bool = True
    _cells: dict[str, Cells | None] = field(default_factory=dict)
    # what is computed from the current cells (each selector's rates), dropped with them
    memo: dict[str, Any] = field(default_factory=dict)
    # ``averages.avg_ranges`` of each gauge selector read once (small: one series a target)
    averages: dict[str, Any] = field(default_factory=dict)

    def grid(self) -> Grid | None:
        """The intervals of the baseline and the window together, when both are whole
        intervals (they are unless ``--baseline`` is not a multiple of the interval)."""
        w = self.window
        iv = w.interval
        if w.length % iv or w.baseline_length % iv:
            return None
        return Grid(w.baseline_start, iv, (w.end - w.baseline_start) // iv)

    def counters(self, selector: str) -> Cells | None:
        """``selector`` read once over the baseline and the window, reduced to ``rollup``
        cells; None where the figures must come from PromQL instead."""
        if not self.read_once:
            return None
        if selector not in self._cells:
            self._cells.clear()  # one selector's cells at a time: sections read in turn
            self.memo.clear()
            grid = self.grid()
            self._cells[selector] = None if grid is None else self.source.counter_cells(selector, grid)
        return self._cells[selector]

    @property
    def by(self) -> str:
        return self.settings.metrics.service_label

    def sel(self, metric: str, *extra: str) -> str:
        """``metric{service_label="S", extra...}``."""
        matchers = [*extra]
        if self.service:
            matchers.insert(0, f'{self.by}="{_escape(self.service)}"')
        return f"{metric}{{{', '.join(matchers)}}}" if matchers else metric

    def missing(self, name: str, labels: dict[str, str], reason: str, query: str,
                unit: str = "", check: bool = True) -> Figure | None:
        """Record what could not be evaluated; a check gets a ``no_data`` figure as well, so
        it counts against the score instead of vanishing from it."""
        self.not_evaluated.append(NotEvaluated(name, labels, reason, query))
        if not check:
            return None
        return Figure(name, labels, None, unit, query, verdict="no_data", note=reason)

    def at_end(self, expr: str) -> dict[Labels, float]:
        return dict(self.source.instant(expr, self.window.end))

    def at_baseline(self, expr: str) -> dict[Labels, float]:
        return dict(self.source.instant(expr, self.window.baseline_end))

    def per_interval(self, expr: str) -> tuple[dict[Labels, Points], dict[Labels, Points]]:
        """``expr`` every interval over the window and over the baseline, by label set."""
        w = self.window
        iv = w.interval
        cur = {p.labels: p for p in self.source.range(expr, w.start + iv, w.end, iv)}
        base = {p.labels: p for p in self.source.range(expr, w.baseline_start + iv, w.baseline_end, iv)} \
            if w.baseline_length >= 3 * iv else {}
        return cur, base


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def label_dict(labels: Labels) -> dict[str, str]:
    return {k: v for k, v in labels if k != "__name__"}
