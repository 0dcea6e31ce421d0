"""Byte sizes (``10KB``, ``5MiB``) and Go durations (``1h30m``, ``250ms``) as LogQL reads them."""

from __future__ import annotations

import re

_BYTE_UNITS = {
    "": 1,
    "k": 1000,
    "m": 1000**2,
    "g": 1000**3,
    "t": 1000**4,
    "p": 1000**5,
    "e": 1000**6,
    "ki": 1024,
    "mi": 1024**2,
    "gi": 1024**3,
    "ti": 1024**4,
    "pi": 1024**5,
    "ei": 1024**6,
}


def parse_bytes(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGTPEkmgtpe]?[iI]?)[Bb]", text.strip())
    if not m:
        raise ValueError(f"invalid byte size {text!r}: use e.g. 10KB, 5MiB")
    return float(m.group(1)) * _BYTE_UNITS[m.group(2).lower()]


def duration_seconds(text: str) -> float:
    """A Go duration (``1.5s``, ``250ms``, ``1h30m``) in seconds."""
    total = 0.0
    units = {
        "ns": 1e-9,
        "us": 1e-6,
        "µs": 1e-6,
        "ms": 1e-3,
        "s": 1.0,
        "m": 60.0,
        "h": 3600.0,
        "d": 86400.0,
        "w": 604800.0,
        "y": 31536000.0,
    }
    s = text.strip()
    sign = 1.0
    if s.startswith("-"):
        sign, s = -1.0, s[1:]
    pos = 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y)", s):
        if m.start() != pos:
            raise ValueError(f"invalid duration {text!r}")
        total += float(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"invalid duration {text!r}: use e.g. 250ms, 1.5s, 1h30m")
    return sign * total
