"""The SLO's compliance period and the alert windows derived from it.

A period is rolling (``30d``: the budget always covers the last 30 days) or calendar
(``month``/``week``: the budget resets at the start of each UTC month or ISO week), which is
how most teams report SLOs to the business.  The burn-rate alert windows follow the SRE
workbook's table for a 30-day period (page 1h/5m at 14.4 and 6h/30m at 6, ticket 1d/2h at 3
and 3d/6h at 1); other periods keep the same fraction of budget per alert, with windows
scaled to the period, so a 7-day SLO pages on 2% of *its* budget, not on 2% of a month's.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from guardia.model.durations import format_duration, parse_duration

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
BASE_PERIOD_MS = 30 * DAY_MS

CALENDAR_UNITS = ("month", "week")


class PeriodError(ValueError):
    """A window that is neither a duration nor ``month``/``week``."""


@dataclass(frozen=True, slots=True)
class Period:
    """``calendar`` is "month", "week" or "" (rolling ``length_ms``)."""

    length_ms: int
    calendar: str = ""

    @classmethod
    def parse(cls, text: str) -> Period:
        t = str(text).strip().lower()
        if t in ("month", "calendar month", "1 month", "calendar_month"):
            return cls(30 * DAY_MS, "month")
        if t in ("week", "calendar week", "1 week", "calendar_week"):
            return cls(7 * DAY_MS, "week")
        try:
            ms = parse_duration(t)
        except ValueError as e:
            raise PeriodError(f"{e}; or use 'month' or 'week' for a calendar window") from None
        if ms < HOUR_MS:
            raise PeriodError(f"window {text!r} is too short for an SLO (at least 1h; usually 28d or 30d)")
        return cls(ms)

    def __str__(self) -> str:
        return self.calendar or format_duration(self.length_ms)

    @property
    def nominal_ms(self) -> int:
        """The length the alert windows are sized for (30d for a month, 7d for a week)."""
        return self.length_ms

    def start(self, t_ms: int) -> int:
        """Start of the budget period that contains ``t_ms`` (exclusive lower bound)."""
        if not self.calendar:
            return t_ms - self.length_ms
        d = datetime.fromtimestamp(t_ms / 1000, UTC)
        if self.calendar == "month":
            s = datetime(d.year, d.month, 1, tzinfo=UTC)
        else:
            s = datetime(d.year, d.month, d.day, tzinfo=UTC) - timedelta(days=d.weekday())
        return int(s.timestamp() * 1000)

    def end(self, t_ms: int) -> int:
        """End of the budget period that contains ``t_ms``."""
        if not self.calendar:
            return t_ms
        s = datetime.fromtimestamp(self.start(t_ms) / 1000, UTC)
        if self.calendar == "month":
            days = calendar.monthrange(s.year, s.month)[1]
            return int((s + timedelta(days=days)).timestamp() * 1000)
        return int((s + timedelta(days=7)).timestamp() * 1000)

    def total_ms(self, t_ms: int) -> int:
        """Length of the period containing ``t_ms`` (28 to 31 days for a calendar month)."""
        return self.end(t_ms) - self.start(t_ms) if self.calendar else self.length_ms


@dataclass(frozen=True, slots=True)
class BurnWindow:
    """One alert condition: both windows burn faster than ``factor`` times the budget."""

    severity: str  # "page" | "ticket"
    long_ms: int
    short_ms: int
    factor: float

    @property
    def long(self) -> str:
        return format_duration(self.long_ms)

    @property
    def short(self) -> str:
        return format_duration(self.short_ms)


# (severity, budget fraction spent when it fires, long window, short window) for 30 days.
_BASE = (
    ("page", 0.02, HOUR_MS, 5 * MINUTE_MS),
    ("page", 0.05, 6 * HOUR_MS, 30 * MINUTE_MS),
    ("ticket", 0.10, DAY_MS, 2 * HOUR_MS),
    ("ticket", 0.10, 3 * DAY_MS, 6 * HOUR_MS),
)


def _round_window(ms: float) -> int:
    """Whole minutes, at least one: range selectors read best in round units."""
    return max(MINUTE_MS, round(ms / MINUTE_MS) * MINUTE_MS)


def burn_windows(period: Period) -> tuple[BurnWindow, ...]:
    """The four window pairs for ``period``.

    Periods of 28 to 31 days keep the workbook's windows and take the factor from the
    budget fraction (as sloth does: 14.4 for 30d, 13.44 for 28d); other periods scale the
    windows by period/30d, which keeps the factors at 14.4, 6, 3 and 1.
    """
    p = period.nominal_ms
    scale = 1.0 if 28 * DAY_MS <= p <= 31 * DAY_MS else p / BASE_PERIOD_MS
    out = []
    for sev, frac, long_ms, short_ms in _BASE:
        lw = long_ms if scale == 1.0 else _round_window(long_ms * scale)
        sw = short_ms if scale == 1.0 else _round_window(short_ms * scale)
        if sw >= lw:
            sw = max(MINUTE_MS, lw // 12)
        factor = round(frac * p / lw, 6)
        out.append(BurnWindow(sev, lw, sw, factor))
    return tuple(out)


def windows_used(period: Period) -> list[int]:
    """Every distinct alert window, shortest first (one SLI recording rule each)."""
    ws = {w for b in burn_windows(period) for w in (b.long_ms, b.short_ms)}
    return sorted(ws)


def parse_window(text: str) -> int:
    return parse_duration(text)
