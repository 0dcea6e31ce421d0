"""What the Alertmanager's stages share: the clock, Go's time formats, alert ordering.

Times are integer nanoseconds since the epoch (0 means Go's zero time, printed as
``0001-01-01T00:00:00Z``), so values received over the API print back exactly as
Alertmanager prints them.  ``Alert`` itself lives in ``guardia.model.alert``: rules build it
and hand it to the embedded Alertmanager in-process.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

# re-exported: the stages know the alert by this module
from guardia.model.alert import Alert as Alert
from guardia.model.alert import fingerprint as fingerprint
from guardia.model.alert import fingerprint_hex as fingerprint_hex
from guardia.model.labels import Labels

Clock = Callable[[], int]
"""Returns the current time in nanoseconds since the epoch."""

NS = 1_000_000_000
MS = 1_000_000
ZERO_TIME = "0001-01-01T00:00:00Z"


def system_clock() -> int:
    return time.time_ns()


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


def alert_to_record(a: Alert) -> dict[str, Any]:
    """An alert as the alert store and the notification retry queue keep it on disk."""
    return {"labels": dict(a.labels), "annotations": dict(a.annotations), "startsAt": a.starts_at,
            "endsAt": a.ends_at, "generatorURL": a.generator_url, "updatedAt": a.updated_at,
            "timeout": a.timeout}


def alert_from_record(d: dict[str, Any]) -> Alert:
    return Alert(Labels(d["labels"]), Labels(d["annotations"]), d["startsAt"], d["endsAt"],
                 d["generatorURL"], d["updatedAt"], d["timeout"])
