"""Grafana's time expressions (``now-6h``, ``now/d``, epoch milliseconds, ISO 8601) and the
query interval rules (``$__interval``, ``$__rate_interval``), as Grafana computes them."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass

UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
           "M": 30 * 86_400_000, "y": 365 * 86_400_000}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|M|y)")
_RELATIVE = re.compile(r"^now(?:\s*([+-])\s*([0-9.a-zA-Z]+))?(?:/([smhdwMy]))?$")

# Grafana rounds computed intervals to one of these (milliseconds)
NICE_MS = [1, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 20_000, 30_000, 60_000, 120_000,
           300_000, 600_000, 900_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000,
           43_200_000, 86_400_000, 604_800_000, 2_592_000_000, 31_536_000_000]


class TimeRangeError(ValueError):
    pass


def parse_duration_ms(text: str) -> int:
    """``5m``, ``1h30m``, ``250ms``, ``2M`` (30-day months) in milliseconds."""
    s = text.strip()
    pos, total = 0, 0.0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * UNIT_MS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise TimeRangeError(f"{text!r} is not a duration: use a number and a unit such as 30s, 5m, 1h, 7d")
    return int(total)


def format_duration_ms(ms: int) -> str:
    """The shortest exact Prometheus duration text for ``ms`` (``90000`` -> ``1m30s``)."""
    if ms <= 0:
        return "0s"
    parts = []
    for unit in ("y", "w", "d", "h", "m", "s", "ms"):
        size = UNIT_MS[unit]
        if ms >= size:
            n, ms = divmod(ms, size)
            parts.append(f"{n}{unit}")
    return "".join(parts)


def _round_down(t: dt.datetime, unit: str) -> dt.datetime:
    if unit == "s":
        return t.replace(microsecond=0)
    if unit == "m":
        return t.replace(second=0, microsecond=0)
    if unit == "h":
        return t.replace(minute=0, second=0, microsecond=0)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        return day
    if unit == "w":
        return day - dt.timedelta(days=day.weekday())
    if unit == "M":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def _round_up(t: dt.datetime, unit: str) -> dt.datetime:
    start = _round_down(t, unit)
    if unit == "M":
        nxt = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    elif unit == "y":
        nxt = start.replace(year=start.year + 1)
    else:
        nxt = start + dt.timedelta(milliseconds=UNIT_MS[unit])
    return nxt - dt.timedelta(milliseconds=1)


def parse_time(text: str, now_ms: int, *, is_end: bool = False) -> int:
    """A Grafana ``from``/``to`` value in epoch milliseconds.

    ``now/d`` rounds to the start of the day for ``from`` and to its end for ``to``, as
    Grafana does (so ``from=now/d&to=now/d`` is "today")."""
    s = text.strip()
    if re.fullmatch(r"\d{9,}", s):
        return int(s) if len(s) > 10 else int(s) * 1000
    m = _RELATIVE.match(s)
    if m:
        t = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC)
        if m.group(2):
            try:
                delta = parse_duration_ms(m.group(2))
            except TimeRangeError:
                raise TimeRangeError(f"{text!r}: {m.group(2)!r} is not a duration") from None
            t += dt.timedelta(milliseconds=delta if m.group(1) == "+" else -delta)
        if m.group(3):
            t = _round_up(t, m.group(3)) if is_end else _round_down(t, m.group(3))
        return int(t.timestamp() * 1000)
    try:
        parsed = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise TimeRangeError(
            f"{text!r} is not a time: use now, now-6h, now/d, epoch milliseconds or an ISO 8601 date"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class TimeRange:
    start_ms: int
    end_ms: int
    raw_from: str
    raw_to: str

    @property
    def range_ms(self) -> int:
        return max(1, self.end_ms - self.start_ms)


def time_range(raw_from: str, raw_to: str, now_ms: int) -> TimeRange:
    start = parse_time(raw_from, now_ms)
    end = parse_time(raw_to, now_ms, is_end=True)
    if end <= start:
        raise TimeRangeError(f"the time range ends ({raw_to}) before it starts ({raw_from})")
    return TimeRange(start, end, raw_from, raw_to)


def nice_interval(ms: float) -> int:
    """The nice interval closest to ``ms`` (never below 1 ms)."""
    for lo, hi in itertools.pairwise(NICE_MS):
        if ms <= hi:
            return lo if ms - lo < hi - ms else hi
    return NICE_MS[-1]


def query_interval(range_ms: int, max_points: int, min_interval_ms: int) -> int:
    """``$__interval``: the range over the points the panel can draw, rounded, never below
    the minimum interval (the panel's or target's ``interval``, else the scrape interval)."""
    return max(min_interval_ms, nice_interval(range_ms / max(1, max_points)))


def rate_interval(interval_ms: int, scrape_interval_ms: int) -> int:
    """``$__rate_interval``: long enough to hold at least four scrapes, and one interval
    plus a scrape so consecutive windows overlap."""
    return max(interval_ms + scrape_interval_ms, 4 * scrape_interval_ms)


def min_interval(text: str, default_ms: int) -> int:
    """A panel/target ``interval`` (``30s``, ``>30s``) as the minimum, else ``default_ms``."""
    s = text.strip().lstrip(">")
    if not s:
        return default_ms
    return parse_duration_ms(s)
