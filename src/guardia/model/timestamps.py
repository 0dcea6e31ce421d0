"""Timestamps as the HTTP API and config accept them: RFC 3339 or unix seconds (float).

Internally every timestamp is an ``int`` of milliseconds since the epoch.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime


class TimestampError(ValueError):
    """A timestamp that is neither RFC 3339 nor a unix time in seconds."""


def parse_timestamp(text: str | float | int) -> int:
    """Parse to milliseconds since the epoch."""
    if isinstance(text, int | float):
        return _from_seconds(float(text), str(text))
    s = text.strip()
    try:
        return _from_seconds(float(s), text)
    except ValueError:
        pass
    iso = s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        raise TimestampError(
            f"cannot parse {text!r} to a valid timestamp (use RFC 3339 like 2025-10-29T12:00:00Z "
            "or unix seconds like 1761739200)"
        ) from None
    if dt.tzinfo is None:
        raise TimestampError(f"timestamp {text!r} has no time zone; add Z or an offset like +02:00")
    return round(dt.timestamp() * 1000)


def _from_seconds(f: float, original: str) -> int:
    if math.isnan(f) or math.isinf(f):
        raise TimestampError(f"cannot parse {original!r} to a valid timestamp")
    return round(f * 1000)


def format_rfc3339(ms: int) -> str:
    """RFC 3339 in UTC, with three fraction digits only when needed (``...T12:00:00.500Z``)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if ms % 1000:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def now_ms() -> int:
    return round(datetime.now(tz=UTC).timestamp() * 1000)
