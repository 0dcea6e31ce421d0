"""Charts drawn on the server as inline SVG: they print, need no JavaScript and no network.

Two shapes serve the whole report: the window's per-interval values as a line over the
baseline's median and middle half (P25-P75), so "better than the baseline" is visible at a
glance; and a timeline bar of the window with outages and missing data marked on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

import numpy as np

W, H = 640, 150
PAD_L, PAD_R, PAD_T, PAD_B = 64, 10, 10, 22


def _x(t: float, start: int, end: int) -> float:
    return PAD_L + (t - start) / max(1, end - start) * (W - PAD_L - PAD_R)


def _ticks(lo: float, hi: float) -> list[float]:
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * k / 3 for k in range(4)]


def band_chart(points: Sequence[tuple[int, float]], baseline: Sequence[float], start: int, end: int,
               label: Callable[[float], str], title: str) -> str:
    """The window's values (a line) over the baseline's P25-P75 band and median (dashed)."""
    if not points:
        return ""
    vs = np.array([v for _, v in points], dtype=np.float64)
    base = np.asarray(baseline, dtype=np.float64)
    base = base[np.isfinite(base)]
    lo_b = hi_b = med = None
    if base.size >= 3:
        lo_b, med, hi_b = (float(x) for x in np.percentile(base, [25, 50, 75]))
    values = [float(vs.min()), float(vs.max())]
    if lo_b is not None and hi_b is not None:
        values += [lo_b, hi_b]
    lo, hi = min(values), max(values)
    if hi == lo:
        lo, hi = lo - (abs(lo) * 0.1 or 1), hi + (abs(hi) * 0.1 or 1)
    span = hi - lo
    lo, hi = lo - span * 0.05, hi + span * 0.05

    def y(v: float) -> float:
        return PAD_T + (hi - v) / (hi - lo) * (H - PAD_T - PAD_B)

    parts = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for tv in _ticks(lo, hi):
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y(tv):.1f}" y2="{y(tv):.1f}" class="grid"/>'
                     f'<text x="{PAD_L - 4}" y="{y(tv) + 3:.1f}" class="tick" text-anchor="end">'
                     f"{escape(label(tv))}</text>")
    if lo_b is not None and hi_b is not None and med is not None:
        parts.append(f'<rect x="{PAD_L}" y="{y(hi_b):.1f}" width="{W - PAD_L - PAD_R}" '
                     f'height="{max(0.5, y(lo_b) - y(hi_b)):.1f}" class="band"><title>baseline P25–P75: '
                     f"{escape(label(lo_b))} – {escape(label(hi_b))}</title></rect>")
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y(med):.1f}" y2="{y(med):.1f}" '
                     f'class="median"><title>baseline median {escape(label(med))}</title></line>')
    path = " ".join(f"{'M' if i == 0 else 'L'}{_x(t, start, end):.1f},{y(v):.1f}"
                    for i, (t, v) in enumerate(points) if np.isfinite(v))
    parts.append(f'<path d="{path}" class="line"/>')
    parts.append(_time_axis(start, end, H - 6))
    parts.append("</svg>")
    return "".join(parts)


def _time_axis(start: int, end: int, y: float) -> str:
    from datetime import UTC, datetime

    out = []
    for k in range(5):
        t = start + (end - start) * k / 4
        txt = datetime.fromtimestamp(t / 1000, UTC).strftime("%d %H:%M")
        anchor = "start" if k == 0 else "end" if k == 4 else "middle"
        out.append(f'<text x="{_x(t, start, end):.1f}" y="{y}" class="tick" '
                   f'text-anchor="{anchor}">{txt}</text>')
    return "".join(out)


def timeline(start: int, end: int, spans: Sequence[tuple[int, int, str, str]], title: str) -> str:
    """The window as a bar; ``spans`` are (start, end, kind, tooltip), kind ``down`` or ``gap``."""
    h = 34
    parts = [f'<svg class="timeline" viewBox="0 0 {W} {h}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<rect x="{PAD_L}" y="2" width="{W - PAD_L - PAD_R}" height="14" class="up"/>']
    for a, b, kind, tip in spans:
        x0, x1 = _x(max(a, start), start, end), _x(min(b, end), start, end)
        parts.append(f'<rect x="{x0:.1f}" y="2" width="{max(1.5, x1 - x0):.1f}" height="14" class="{kind}">'
                     f"<title>{escape(tip)}</title></rect>")
    parts.append(_time_axis(start, end, h - 4))
    parts.append("</svg>")
    return "".join(parts)
