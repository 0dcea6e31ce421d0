"""Time intervals (``time_intervals``): is a given instant inside a named interval?

An interval matches when every field it gives matches (times, weekdays, days of month,
months, years), evaluated in its ``location`` (UTC by default); a named interval is a list
of such intervals, any of which may match.  Negative days of month count from the end.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from guardia.config.alertmanager import TimeInterval


def _in_ranges(value: int, ranges: list[tuple[int, int]]) -> bool:
    return any(lo <= value <= hi for lo, hi in ranges)


def interval_contains(ti: TimeInterval, t_ns: int) -> bool:
    tz = ZoneInfo(ti.location) if ti.location and ti.location != "UTC" else UTC
    dt = datetime.fromtimestamp(t_ns / 1e9, tz=tz)
    if ti.times:
        minute = dt.hour * 60 + dt.minute
        if not any(start <= minute < end for start, end in ti.times):
            return False
    if ti.weekdays:
        weekday = (dt.weekday() + 1) % 7  # Sunday = 0, as the config names them
        if not _in_ranges(weekday, ti.weekdays):
            return False
    if ti.days_of_month:
        last = calendar.monthrange(dt.year, dt.month)[1]
        ok = False
        for lo, hi in ti.days_of_month:
            a = lo if lo > 0 else last + lo + 1
            b = hi if hi > 0 else last + hi + 1
            if a <= dt.day <= min(b, last):
                ok = True
                break
        if not ok:
            return False
    if ti.months and not _in_ranges(dt.month, ti.months):
        return False
    return not (ti.years and not _in_ranges(dt.year, ti.years))


class Intervener:
    """Answers "is any of these named intervals active now?" for the time-based stages."""

    def __init__(self, intervals: Mapping[str, Sequence[TimeInterval]]) -> None:
        self.intervals = dict(intervals)

    def active(self, names: Sequence[str], t_ns: int) -> bool:
        for name in names:
            for ti in self.intervals.get(name, ()):
                if interval_contains(ti, t_ns):
                    return True
        return False
