"""Small server-rendered SVG line charts for the SLO pages.

An SLO page must say where the budget stands without JavaScript (it is linked from alerts
and opened on phones), so its charts are plain SVG: a polyline per series, the y range with
its bounds labelled, optional horizontal reference lines (the burn-rate thresholds, the
zero of the budget), start and end times.  Each chart links to Explore for the interactive
version.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

import numpy as np

PALETTE = ("#2f6fde", "#d9480f", "#2b8a3e", "#862e9c", "#e67700", "#0b7285", "#c2255c")


def _fmt_time(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%m-%d %H:%M")


def line_chart(
    series: Sequence[tuple[str, np.ndarray, np.ndarray]],
    *,
    start_ms: int,
    end_ms: int,
    percent: bool = False,
    refs: Sequence[tuple[float, str]] = (),
    width: int = 720,
    height: int = 200,
    title: str = "",
) -> str:
    """An ``<svg>`` of ``(name, timestamps_ms, values)`` series; NaN and gaps break the line."""
    pad_l, pad_r, pad_t, pad_b = 56, 12, 10, 34
    vals = [v[np.isfinite(v)] for _, _, v in series]
    finite = np.concatenate(vals) if vals else np.array([])
    lo = min([float(finite.min())] if finite.size else [0.0] + [r for r, _ in refs])
    hi = max([float(finite.max())] if finite.size else [1.0])
    lo = min([lo, *[r for r, _ in refs]])
    hi = max([hi, *[r for r, _ in refs]])
    if hi == lo:
        hi, lo = hi + 1, lo - (1 if lo != 0 else 0)
    span_t = max(1, end_ms - start_ms)
    w, h = width - pad_l - pad_r, height - pad_t - pad_b

    def x(t: float) -> float:
        return pad_l + (t - start_ms) / span_t * w

    def y(v: float) -> float:
        return pad_t + (hi - v) / (hi - lo) * h

    def label(v: float) -> str:
        return f"{v * 100:.3g}%" if percent else f"{v:.3g}"

    out = [f'<svg class="slo-chart" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
           f'<rect x="{pad_l}" y="{pad_t}" width="{w}" height="{h}" fill="none" stroke="currentColor" '
           'stroke-opacity="0.2"/>']
    for v, text in ((hi, label(hi)), (lo, label(lo))):
        out.append(f'<text x="{pad_l - 4}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11" '
                   f'fill="currentColor">{escape(text)}</text>')
    for v, text in refs:
        out.append(f'<line x1="{pad_l}" x2="{pad_l + w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                   'stroke="currentColor" stroke-dasharray="4 3" stroke-opacity="0.5"/>')
        out.append(f'<text x="{pad_l + w - 2}" y="{y(v) - 3:.1f}" text-anchor="end" font-size="10" '
                   f'fill="currentColor" fill-opacity="0.7">{escape(text)}</text>')
    for i, (name, ts, vs) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        runs: list[list[str]] = [[]]
        prev_t = None
        step = float(np.median(np.diff(ts))) if len(ts) > 2 else span_t
        for t, v in zip(ts.tolist(), vs.tolist(), strict=True):
            if not math.isfinite(v) or (prev_t is not None and t - prev_t > 3 * step):
                runs.append([])
            if math.isfinite(v):
                runs[-1].append(f"{x(t):.1f},{y(min(max(v, lo), hi)):.1f}")
            prev_t = t
        for pts in runs:
            if len(pts) > 1:
                out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6" '
                           f'points="{" ".join(pts)}"><title>{escape(name)}</title></polyline>')
            elif pts:
                cx, cy = pts[0].split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{color}"/>')
    out.append(f'<text x="{pad_l}" y="{height - 18}" font-size="11" fill="currentColor">'
               f"{_fmt_time(start_ms)}</text>")
    out.append(f'<text x="{pad_l + w}" y="{height - 18}" font-size="11" text-anchor="end" '
               f'fill="currentColor">{_fmt_time(end_ms)} UTC</text>')
    lx = pad_l
    for i, (name, _, _) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{lx}" y="{height - 9}" width="10" height="3" fill="{color}"/>'
                   f'<text x="{lx + 14}" y="{height - 4}" font-size="10" fill="currentColor">'
                   f"{escape(name)}</text>")
        lx += 18 + 7 * len(name)
    out.append("</svg>")
    return "".join(out)
