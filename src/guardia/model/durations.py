"""Durations in Prometheus syntax (``1h30m``, ``15s``, ``2w``, ``500ms``), as milliseconds.

Integers in milliseconds are what the store and the engine use, so parsing returns ``int``
and rounding errors of float seconds never reach a timestamp.
"""

from __future__ import annotations

import re

_UNITS_MS = {
    "y": 365 * 24 * 3600 * 1000,
    "w": 7 * 24 * 3600 * 1000,
    "d": 24 * 3600 * 1000,
    "h": 3600 * 1000,
    "m": 60 * 1000,
    "s": 1000,
    "ms": 1,
}
_ORDER = ["y", "w", "d", "h", "m", "s", "ms"]
_PART = re.compile(r"(\d+)(ms|[ywdhms])")


class DurationError(ValueError):
    """A duration string that is not in Prometheus syntax."""


def parse_duration(text: str, *, allow_float_seconds: bool = False) -> int:
    """Parse a duration to milliseconds.

    Units must appear from largest to smallest, each at most once, as Prometheus requires
    (``1h30m`` yes, ``30m1h`` no).  ``0`` alone is zero.  With ``allow_float_seconds`` a
    bare number such as ``1.5`` means seconds, as the HTTP API accepts for ``step``.
    """
    s = text.strip()
    if s == "":
        raise DurationError("empty duration string")
    if s == "0":
        return 0
    if allow_float_seconds:
        try:
            f = float(s)
        except ValueError:
            pass
        else:
            if f != f or f in (float("inf"), float("-inf")):
                raise DurationError(f"invalid duration {text!r}: must be finite")
            return round(f * 1000)
    pos = 0
    total = 0
    last = -1
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m:
            raise DurationError(
                f"not a valid duration string: {text!r} (use e.g. 30s, 5m, 1h30m, 2w; units y w d h m s ms)"
            )
        unit = m.group(2)
        idx = _ORDER.index(unit)
        if idx <= last:
            raise DurationError(
                f"not a valid duration string: {text!r} (units must go from largest to smallest, once each)"
            )
        last = idx
        total += int(m.group(1)) * _UNITS_MS[unit]
        pos = m.end()
    return total


def format_duration(ms: int) -> str:
    """Inverse of ``parse_duration``, spelt as prometheus/common ``model.Duration.String()``.

    ``90000`` → ``1m30s``; years and weeks are used only when they divide the duration
    exactly (``8d``, not ``1w1d``), which is what promtool and the status pages print.
    """
    if ms == 0:
        return "0s"
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    out = []
    for unit in _ORDER:
        size = _UNITS_MS[unit]
        if unit in ("y", "w") and ms % size:
            continue
        if ms >= size:
            n, ms = divmod(ms, size)
            out.append(f"{n}{unit}")
    return sign + "".join(out)
