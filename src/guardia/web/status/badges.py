"""SVG badges (status, uptime over a window, response time) in the shields.io shape READMEs use.

Text widths are estimated from character counts (a badge must not need a font at render time).
"""

from __future__ import annotations

from html import escape

COLORS = {"up": "#4c1", "down": "#e05d44", "pending": "#dfb317", "maintenance": "#007ec6",
          "unknown": "#9f9f9f"}


def _width(text: str) -> int:
    return 10 + int(sum(7.2 if c.isupper() or c in "mwMW%" else 6.1 for c in text))


def badge(label: str, value: str, color: str) -> str:
    lw, vw = _width(label), _width(value)
    w = lw + vw
    lab, val = escape(label), escape(value)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" '
        f'aria-label="{lab}: {val}"><title>{lab}: {val}</title>'
        f'<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        f'<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/>'
        f'<rect x="{lw}" width="{vw}" height="20" fill="{color}"/>'
        f'<rect width="{w}" height="20" fill="url(#s)"/></g>'
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
        f'font-size="11"><text x="{lw / 2:.1f}" y="14">{lab}</text>'
        f'<text x="{lw + vw / 2:.1f}" y="14">{val}</text></g></svg>'
    )


def uptime_color(ratio: float | None) -> str:
    if ratio is None:
        return COLORS["unknown"]
    if ratio >= 0.999:
        return "#4c1"
    if ratio >= 0.99:
        return "#97ca00"
    if ratio >= 0.95:
        return "#dfb317"
    return "#e05d44"
