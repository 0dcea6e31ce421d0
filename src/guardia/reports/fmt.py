"""Numbers as a person reads them, by unit: percentages, milliseconds, MiB, durations."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from guardia.reports.figures import Figure

VERDICT_WORD = {"pass": "pass", "fail": "FAIL", "no_data": "no data", "info": ""}


def value(v: float | None, unit: str) -> str:
    if v is None:
        return "no data"
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if unit == "ratio":
        return f"{v:.4%}" if 0.99 <= v < 1 or 0 < v < 0.01 else f"{v:.2%}"
    if unit == "seconds":
        if abs(v) >= 60:
            return seconds(v)
        return f"{v * 1000:.3g} ms" if abs(v) < 1 else f"{v:.3g} s"
    if unit in ("bytes", "bytes/hour"):
        suffix = "/h" if unit == "bytes/hour" else ""
        for size, name in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(v) >= size:
                return f"{v / size:.4g} {name}{suffix}"
        return f"{v:.4g} B{suffix}"
    if unit in ("count", "instances"):
        return f"{v:.0f}" if v == int(v) else f"{v:.3g}"
    if unit == "cores":
        return f"{v:.3g} cores"
    return f"{v:.4g} {unit}".strip()


def change(f: Figure) -> str:
    c = f.change
    return "" if c is None else f"{c:+.1%}"


def when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def labels(lab: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in lab.items()) or "all"


def target(f: Figure) -> str:
    if f.target is None:
        return ""
    return f"{'≤' if f.target_op == '<=' else '≥'} {value(f.target, f.unit)}"


def seconds(s: float) -> str:
    whole = round(s)
    h, rem = divmod(whole, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s" if m else f"{sec}s"
