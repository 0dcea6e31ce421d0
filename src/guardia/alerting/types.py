"""Alerts as Alertmanager holds them: labels, annotations, start/end times, fingerprint.

Times are integer nanoseconds since the epoch (0 means Go's zero time, printed as
``0001-01-01T00:00:00Z``), so values received over the API print back exactly as
Alertmanager prints them.  The fingerprint is Prometheus's FNV-1a label-set hash, the
``fingerprint`` field of the webhook payload and API.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from guardia.model.labels import Labels

Clock = Callable[[], int]
"""Returns the current time in nanoseconds since the epoch."""

NS = 1_000_000_000
MS = 1_000_000
ZERO_TIME = "0001-01-01T00:00:00Z"

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1


def system_clock() -> int:
    return time.time_ns()


def fingerprint(labels: Labels | Mapping[str, str]) -> int:
    """Prometheus's ``LabelSet.Fingerprint``: FNV-1a over sorted names and values, 0xff-separated."""
    h = _FNV_OFFSET
    items = labels if isinstance(labels, Labels) else sorted(labels.items())
    for name, value in items:
        for b in name.encode():
            h = ((h ^ b) * _FNV_PRIME) & _MASK
        h = ((h ^ 0xFF) * _FNV_PRIME) & _MASK
        for b in value.encode():
            h = ((h ^ b) * _FNV_PRIME) & _MASK
        h = ((h ^ 0xFF) * _FNV_PRIME) & _MASK
    return h


def fingerprint_hex(fp: int) -> str:
    return f"{fp:016x}"


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)


class TimeFormatError(ValueError):
    """A timestamp that is not RFC 3339."""


def parse_time(text: str) -> int:
    """RFC 3339 (nanosecond precision kept) → ns since the epoch; Go's zero time → 0."""
    m = _RFC3339.match(text.strip())
    if not m:
        raise TimeFormatError(f"invalid RFC 3339 time {text!r} (use e.g. 2025-10-29T12:00:00Z)")
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    frac = (m.group(7) or "").ljust(9, "0")
    tz = m.group(8)
    if tz in ("Z", "z"):
        tzinfo = UTC
    else:
        sign = 1 if tz[0] == "+" else -1
        tzinfo = timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    if y == 1 and mo == 1 and d == 1 and h == mi == s == 0 and int(frac) == 0:
        return 0
    try:
        dt = datetime(y, mo, d, h, mi, s, tzinfo=tzinfo)
    except ValueError as e:
        raise TimeFormatError(f"invalid time {text!r}: {e}") from None
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    delta = dt - epoch
    return (delta.days * 86400 + delta.seconds) * NS + int(frac)


def format_time(ns: int) -> str:
    """Go's RFC3339Nano in UTC (trailing zeros of the fraction dropped)."""
    if ns == 0:
        return ZERO_TIME
    secs, frac = divmod(ns, NS)
    dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=secs)
    out = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        out += "." + f"{frac:09d}".rstrip("0")
    return out + "Z"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert; ``ends_at`` 0 means "no end given" (never the case once received)."""

    labels: Labels
    annotations: Labels = field(default_factory=Labels)
    starts_at: int = 0
    ends_at: int = 0
    generator_url: str = ""
    updated_at: int = 0
    timeout: bool = False
    _fp: int = field(default=0, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fp", fingerprint(self.labels))  # asked for at every stage

    @property
    def fingerprint(self) -> int:
        return self._fp

    def resolved_at(self, now: int) -> bool:
        return self.ends_at != 0 and self.ends_at <= now

    def status(self, now: int) -> str:
        return "resolved" if self.resolved_at(now) else "firing"

    def replace(self, **changes: object) -> Alert:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def merge(self, newer: Alert) -> Alert:
        """Alertmanager's ``Alert.Merge``: combine two reports of the same alert."""
        a, o = self, newer
        if o.updated_at < a.updated_at:
            a, o = o, a
        starts = a.starts_at if a.starts_at < o.starts_at else o.starts_at
        ends = o.ends_at
        now_ref = o.updated_at
        if o.resolved_at(now_ref):
            if a.resolved_at(now_ref) and a.ends_at > o.ends_at:
                ends = a.ends_at
        elif a.ends_at > o.ends_at and not a.timeout:
            ends = a.ends_at
        return dataclasses.replace(o, starts_at=starts, ends_at=ends)


def _label_set_before(a: Labels, b: Labels) -> int:
    """Prometheus's ``LabelSet.Before`` as a comparison (-1, 0, 1)."""
    if len(a) != len(b):
        return -1 if len(a) < len(b) else 1
    da, db = dict(a), dict(b)
    for name in sorted([*da, *db]):
        if name not in da:
            return -1
        if name not in db:
            return 1
        if da[name] != db[name]:
            return -1 if da[name] < db[name] else 1
    return 0


def _compare_alerts(x: Alert, y: Alert) -> int:
    for name in ("job", "instance"):
        xin, yin = name in x.labels.names(), name in y.labels.names()
        if not xin and not yin:
            continue
        if not xin:
            return 1
        if not yin:
            return -1
        xv, yv = x.labels.get(name), y.labels.get(name)
        if xv != yv:
            return -1 if xv < yv else 1
    return _label_set_before(x.labels, y.labels)


alert_sort_key = functools.cmp_to_key(_compare_alerts)
"""Alertmanager's notification order: ``job``, then ``instance`` (present first), then labels."""


def common_labels(alerts: list[Alert], attr: str = "labels") -> dict[str, str]:
    """Labels (or annotations) every alert shares with the same value."""
    if not alerts:
        return {}
    common = dict(getattr(alerts[0], attr))
    for a in alerts[1:]:
        other = dict(getattr(a, attr))
        for k in list(common):
            if other.get(k) != common[k]:
                del common[k]
    return common
