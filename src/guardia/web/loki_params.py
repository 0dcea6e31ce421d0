"""Loki's time and step parameters, shared by the query and the exploration endpoints."""

from __future__ import annotations

from guardia.logs.logql import default_step_ns
from guardia.logs.logql.units import duration_seconds
from guardia.model.timestamps import TimestampError, parse_timestamp

NS = 1_000_000_000


class BadRequest(Exception):
    pass


def parse_time_ns(text: str | None, default: int) -> int:
    """A Loki time parameter: nanoseconds (more than 10 digits), seconds (with or without a
    fraction) or RFC 3339."""
    if text is None or text == "":
        return default
    t = text.strip()
    if t.isdigit() or (t.startswith("-") and t[1:].isdigit()):
        n = int(t)
        return n if len(t.lstrip("-")) > 10 else n * NS
    try:
        return parse_timestamp(t) * 1_000_000 if not _is_float(t) else round(float(t) * NS)
    except TimestampError:
        raise BadRequest(f"invalid time {text!r}: use Unix nanoseconds, seconds or RFC 3339") from None


def _is_float(t: str) -> bool:
    try:
        float(t)
    except ValueError:
        return False
    return True


def parse_step_ns(text: str | None, start: int, end: int) -> int:
    if not text:
        return default_step_ns(start, end)
    try:
        return round(float(text) * NS)
    except ValueError:
        pass
    try:
        return round(duration_seconds(text) * NS)
    except ValueError:
        raise BadRequest(f"invalid step {text!r}: use seconds (15) or a duration (15s)") from None
