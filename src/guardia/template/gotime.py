"""Go's time values as templates see them: ``time.Time`` printing, layouts, durations.

Alertmanager templates call ``{{ .StartsAt.Format "2006-01-02" }}`` or ``date "15:04" ...``
with Go reference-time layouts, and print ``since`` results as Go durations (``1h2m3s``).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _zone_name(t: _dt.datetime) -> str:
    name = t.tzname() or "UTC"
    if name == "UTC" or (name.startswith("UTC") and len(name) > 3):
        off = t.utcoffset() or _dt.timedelta(0)
        if off == _dt.timedelta(0):
            return "UTC"
        return _offset(t, "-0700")
    return name


def _offset(t: _dt.datetime, style: str) -> str:
    off = t.utcoffset() or _dt.timedelta(0)
    secs = int(off.total_seconds())
    sign = "-" if secs < 0 else "+"
    secs = abs(secs)
    hh, mm = secs // 3600, (secs // 60) % 60
    if style.startswith("Z") and secs == 0:
        return "Z"
    if style in ("-07", "Z07"):
        return f"{sign}{hh:02d}"
    if style in ("-07:00", "Z07:00"):
        return f"{sign}{hh:02d}:{mm:02d}"
    return f"{sign}{hh:02d}{mm:02d}"


# Longest tokens first so "2006" wins over "2", "January" over "Jan".
_TOKENS = [
    "January", "Monday", "Z07:00", "-07:00", "Z0700", "-0700", "2006", "Jan", "Mon", "MST",
    "Z07", "-07", "002", "__2", "_2", "01", "02", "03", "04", "05", "06", "15", "PM", "pm",
    "1", "2", "3", "4", "5",
]


def go_time_format(t: _dt.datetime, layout: str) -> str:
    """time.Time.Format with Go's reference-time layout (Mon Jan 2 15:04:05 MST 2006)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    out: list[str] = []
    i = 0
    n = len(layout)
    while i < n:
        # fractional seconds: .000 / .999 / ,000
        if layout[i] in ".," and i + 1 < n and layout[i + 1] in "09":
            d = layout[i + 1]
            j = i + 1
            while j < n and layout[j] == d:
                j += 1
            if j >= n or not layout[j].isdigit():
                digits = j - i - 1
                frac = f"{t.microsecond * 1000:09d}"[:digits]
                if d == "9":
                    frac = frac.rstrip("0")
                    out.append(layout[i] + frac if frac else "")
                else:
                    out.append(layout[i] + frac)
                i = j
                continue
        for tok in _TOKENS:
            if layout.startswith(tok, i):
                out.append(_render(t, tok))
                i += len(tok)
                break
        else:
            out.append(layout[i])
            i += 1
    return "".join(out)


def _render(t: _dt.datetime, tok: str) -> str:
    match tok:
        case "January":
            return _MONTHS[t.month - 1]
        case "Jan":
            return _MONTHS[t.month - 1][:3]
        case "Monday":
            return _DAYS[t.weekday()]
        case "Mon":
            return _DAYS[t.weekday()][:3]
        case "MST":
            return _zone_name(t)
        case "2006":
            return f"{t.year:04d}"
        case "06":
            return f"{t.year % 100:02d}"
        case "01":
            return f"{t.month:02d}"
        case "1":
            return str(t.month)
        case "02":
            return f"{t.day:02d}"
        case "_2":
            return f"{t.day:2d}"
        case "2":
            return str(t.day)
        case "002" | "__2":
            return f"{t.timetuple().tm_yday:03d}"
        case "15":
            return f"{t.hour:02d}"
        case "03":
            return f"{(t.hour % 12) or 12:02d}"
        case "3":
            return str((t.hour % 12) or 12)
        case "04":
            return f"{t.minute:02d}"
        case "4":
            return str(t.minute)
        case "05":
            return f"{t.second:02d}"
        case "5":
            return str(t.second)
        case "PM":
            return "PM" if t.hour >= 12 else "AM"
        case "pm":
            return "pm" if t.hour >= 12 else "am"
        case _:
            return _offset(t, tok)


def format_go_time(t: _dt.datetime) -> str:
    """time.Time.String(): ``2006-01-02 15:04:05.999999999 -0700 MST``."""
    return go_time_format(t, "2006-01-02 15:04:05.999999999 -0700 MST")


class GoTime(_dt.datetime):
    """A datetime that offers Go's time.Time methods to templates (.Format, .Unix, .UTC)."""

    def Format(self, layout: str) -> str:
        return go_time_format(self, layout)

    def Unix(self) -> int:
        return int(self.timestamp())

    def UnixMilli(self) -> int:
        return int(self.timestamp() * 1000)

    def UTC(self) -> GoTime:
        return as_go_time(self.astimezone(_dt.UTC))

    def Local(self) -> GoTime:
        return as_go_time(self.astimezone())

    def String(self) -> str:
        return format_go_time(self)

    def __str__(self) -> str:
        return format_go_time(self)


def as_go_time(t: _dt.datetime) -> GoTime:
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    return GoTime(t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond,
                  tzinfo=t.tzinfo)


class GoDuration:
    """time.Duration: integer nanoseconds that print as ``1h2m3.5s``."""

    __slots__ = ("nanoseconds",)

    def __init__(self, nanoseconds: int) -> None:
        self.nanoseconds = int(nanoseconds)

    @classmethod
    def from_seconds(cls, s: float) -> GoDuration:
        return cls(round(s * 1e9))

    def Seconds(self) -> float:
        return self.nanoseconds / 1e9

    def Minutes(self) -> float:
        return self.nanoseconds / 6e10

    def Hours(self) -> float:
        return self.nanoseconds / 3.6e12

    def String(self) -> str:
        return str(self)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, GoDuration) and other.nanoseconds == self.nanoseconds

    def __hash__(self) -> int:
        return hash(self.nanoseconds)

    def __str__(self) -> str:
        d = self.nanoseconds
        if d == 0:
            return "0s"
        neg = d < 0
        u = abs(d)
        sign = "-" if neg else ""
        if u < 1_000_000_000:
            for unit, size in (("ns", 1), ("µs", 1_000), ("ms", 1_000_000)):
                if u < size * 1000:
                    return sign + _frac(u, size) + unit
        secs_total, nanos = divmod(u, 1_000_000_000)
        h, rem = divmod(secs_total, 3600)
        m, s = divmod(rem, 60)
        out = sign
        if h:
            out += f"{h}h"
        if h or m:
            out += f"{m}m"
        out += _frac(s * 1_000_000_000 + nanos, 1_000_000_000) + "s"
        return out


def _frac(v: int, size: int) -> str:
    whole, rest = divmod(v, size)
    if not rest:
        return str(whole)
    width = len(str(size)) - 1
    return f"{whole}." + f"{rest:0{width}d}".rstrip("0")
