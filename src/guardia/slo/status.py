"""Where each SLO stands: error budget remaining, burn rates, time to exhaustion.

Computed from the SLI recordings with the PromQL that ``guardia slo generate`` writes as
rules (``generate.budget_exprs``), evaluated each minute over the budget period as it stands
at that minute: the last 30 days for a rolling SLO, the days since the 1st for a calendar
month.  The results are written back as series, so they can be graphed and alerted on like
any other, and kept for ``/api/v1/slos``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from guardia.model import Labels
from guardia.model.durations import format_duration
from guardia.model.labels import METRIC_NAME
from guardia.slo.generate import (
    BUDGET_REMAINING,
    BURN_RATE,
    PERIOD_ERROR_RATIO,
    TIME_TO_EXHAUSTION,
    budget_exprs,
    period_ratio_expr,
)
from guardia.slo.period import burn_windows, windows_used
from guardia.slo.spec import SLO

# An instant query: (labels, value) of each sample of the result vector.
InstantQuery = Callable[[str, int], Sequence[tuple[Labels, float]]]


def _num(v: float | None) -> float | None:
    return None if v is None or math.isnan(v) else v


@dataclass
class Status:
    t_ms: int
    period_start_ms: int
    period_end_ms: int
    error_ratio: float | None = None
    budget_remaining: float | None = None
    time_to_exhaustion_s: float | None = None  # inf: not burning
    burn_rates: dict[str, float | None] = field(default_factory=dict)
    samples: list[tuple[Labels, float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        tte = self.time_to_exhaustion_s
        return {
            "time": self.t_ms / 1000,
            "periodStart": self.period_start_ms / 1000,
            "periodEnd": self.period_end_ms / 1000,
            "errorRatio": self.error_ratio,
            "errorBudgetRemaining": self.budget_remaining,
            "burnRates": self.burn_rates,
            # JSON has no infinity: null with "exhaustion": "never" says it plainly.
            "timeToExhaustionSeconds": None if tte is None or math.isinf(tte) else tte,
            "exhaustion": ("never at the current burn rate" if tte is not None and math.isinf(tte)
                           else "unknown" if tte is None else
                           "exhausted" if tte <= 0 else f"in {format_duration(int(tte) * 1000)}"),
        }


RatioCache = dict[str, tuple[int, list[tuple[Labels, float]]]]
RATIO_EVERY_MS = 5 * 60_000


def compute(slo: SLO, query: InstantQuery, t_ms: int, cache: RatioCache | None = None,
            sli_query: InstantQuery | None = None) -> Status:
    """The SLO's budget at ``t_ms``; samples to write are in ``Status.samples``.

    The period's error ratio comes straight from the SLI over the period as it stands (the
    stored history, not the recordings, which begin when the SLO was added: a new SLO shows
    the budget its history already spent); burn rates come from the window recordings.
    ``sli_query`` answers the SLI's own queries when the SLI lives on another engine (an
    SLO's ``source``); the recordings are always read with ``query``.
    """
    start, end = slo.period.start(t_ms), slo.period.end(t_ms)
    if not slo.period.calendar:
        end = t_ms
    st = Status(t_ms, start, end)
    ident = slo.series_labels
    total_s = slo.period.total_ms(t_ms) / 1000

    def sample(name: str, labels: Labels, v: float) -> None:
        st.samples.append((Labels({**dict(labels), **ident, METRIC_NAME: name}), v))

    def group(labels: Labels) -> tuple[str, ...]:
        return tuple(labels.get(g) for g in slo.grouping)

    remaining: dict[tuple[str, ...], tuple[Labels, float]] = {}
    # Reading the whole period's raw samples is the expensive part (about a second for a
    # month of four series at 15 s); the ratio moves slowly, so it is refreshed every 5
    # minutes (and at every period start) while burn rates are read every evaluation.
    cached = cache.get(slo.id) if cache is not None else None
    if cached is not None and t_ms - cached[0] < RATIO_EVERY_MS and cached[0] >= start:
        ratios = cached[1]
    else:
        ratios = list((sli_query or query)(period_ratio_expr(slo, t_ms - start), t_ms))
        if cache is not None:
            cache[slo.id] = (t_ms, ratios)
    for labels, ratio in ratios:
        labels = Labels({k: v for k, v in labels if k in slo.grouping})
        left = 1 - ratio / slo.budget
        sample(PERIOD_ERROR_RATIO, labels, ratio)
        sample(BUDGET_REMAINING, labels, left)
        remaining[group(labels)] = (labels, left)
        st.error_ratio = _worst(st.error_ratio, ratio)
        st.budget_remaining = _least(st.budget_remaining, left)
    now_window = current_burn_window(slo)
    for labels, burn in query(budget_exprs(slo, t_ms - start, int(total_s * 1000))[BURN_RATE], t_ms):
        window = labels.get("slo_window")
        sample(BURN_RATE, labels, burn)
        st.burn_rates[window] = _worst(st.burn_rates.get(window), burn)
        got = remaining.get(group(labels))
        if window == now_window and got is not None and not math.isnan(burn) and not math.isnan(got[1]):
            left = max(0.0, got[1])
            tte = math.inf if burn <= 0 else left * total_s / burn
            sample(TIME_TO_EXHAUSTION, got[0], tte)
            st.time_to_exhaustion_s = _least(st.time_to_exhaustion_s, tte)
    for w in windows_used(slo.period):
        st.burn_rates.setdefault(format_duration(w), None)
    return st


def _worst(a: float | None, b: float) -> float | None:
    """With grouping there is one value per group: report the worst."""
    b2 = _num(b)
    if a is None:
        return b2
    return a if b2 is None else max(a, b2)


def _least(a: float | None, b: float) -> float | None:
    b2 = _num(b)
    if a is None:
        return b2
    return a if b2 is None else min(a, b2)


def write(storage: Any, st: Status) -> None:
    """The budget series at ``st.t_ms`` (one batch)."""
    if not st.samples:
        return
    app = storage.appender()
    try:
        refs = [app.ref(ls) for ls, _ in st.samples]
        app.append_batch(refs, st.t_ms, np.array([v for _, v in st.samples], dtype=np.float64))
        app.commit()
    except Exception:
        app.rollback()
        raise


def current_burn_window(slo: SLO) -> str:
    """The window whose burn rate is "now" (the fast page's long window, 1h for 30 days)."""
    return burn_windows(slo.period)[0].long
