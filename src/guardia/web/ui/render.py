"""Pages: the Jinja2 environment, the base layout's navigation, and the one render helper.

A page is a ``Page`` (path, nav title, async handler).  Handlers return ``render(...)`` with
their template and context; the layout adds the navigation, the theme switch, the asset links
and a banner when the front-end bundle was never built.  See docs/ui.md for adding a page.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from guardia.web.ui.sources import UiSources

STATIC_DIR = Path(__file__).parent / "static"
BUNDLE = ("guardia.js", "guardia.css")

Handler = Callable[[Request, UiSources], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Page:
    """One page at a stable path; ``nav`` is its title in the top bar (empty: not listed)."""

    path: str
    nav: str
    handler: Handler
    methods: tuple[str, ...] = ("GET",)


def _iso(ms: int | float | None) -> str:
    if not ms:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def ago(ms: int | float | None) -> Markup:
    """A timestamp shown as "3m ago" by the bundle, as UTC time without it."""
    if not ms:
        return Markup('<span class="muted">never</span>')
    iso = _iso(ms)  # digits, '-', ':', 'T', 'Z': nothing to escape
    return Markup(f'<time data-relative datetime="{iso}">{iso}</time>')


def since_text(text: str | None) -> Markup:
    """An RFC 3339 string (API v2 shapes) as a relative ``<time>``."""
    if not text or text.startswith("0001-"):
        return Markup('<span class="muted">never</span>')
    return Markup('<time data-relative datetime="{0}">{0}</time>').format(text)


def seconds(s: float | None) -> str:
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return ""
    if s == 0:
        return "0s"
    if s < 1e-3:
        return f"{s * 1e6:.0f}µs"
    if s < 1:
        return f"{s * 1e3:.1f}ms"
    if s < 120:
        return f"{s:.2f}s"
    return f"{s / 60:.1f}m"


def number(n: float | int | None) -> str:
    if n is None:
        return ""
    if isinstance(n, int) or float(n).is_integer():
        return f"{int(n):,}"
    return f"{n:,.3g}"


def bytes_(n: float | int | None) -> str:
    if n is None:
        return ""
    x = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(x) < 1024 or unit == "TiB":
            return f"{x:.0f} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024
    return str(n)


def labels_html(labels: Mapping[str, str] | Any) -> Markup:
    """Label pairs as chips; built as one string (a page of 1,000 targets has 8,000 of them)."""
    items = labels.items() if hasattr(labels, "items") else labels
    parts = "".join(f'<span class="label">{_esc(k)}="{_esc(v)}"</span>' for k, v in sorted(items))
    return Markup(f'<span class="labels">{parts}</span>')


def matcher_text(labels: Mapping[str, str]) -> str:
    """``{a="1", b="2"}`` as a PromQL/Alertmanager matcher list (for links and prefills)."""
    return "{" + ", ".join(f'{k}="{_escape_value(v)}"' for k, v in sorted(labels.items())) + "}"


def _escape_value(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


if TYPE_CHECKING:
    from jinja2 import Environment

_env: Environment | None = None


def environment() -> Environment:
    """The templates' environment, made (and jinja2 imported, about 1-2 MiB resident) when
    the first page is rendered: a server nobody opens the UI of does not hold it."""
    global _env
    if _env is None:
        from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

        env = Environment(
            loader=PackageLoader("guardia.web.ui", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters.update(
            ago=ago, since=since_text, seconds=seconds, number=number, bytes=bytes_,
            labels=labels_html, matcher=matcher_text, iso=_iso,
        )
        env.globals.update(urlencode=urlencode, escape=escape)
        _env = env
    return _env


def bundle_version() -> str | None:
    """A cache-busting token for the assets, or None when the bundle is missing."""
    try:
        stamps = [(STATIC_DIR / name).stat() for name in BUNDLE]
    except OSError:
        return None
    return format(int(max(s.st_mtime_ns for s in stamps) // 1_000_000), "x")


NAV: list[tuple[str, str]] = []  # (path, title), filled by guardia.web.ui.routes from its pages


def render(request: Request, ui: UiSources, template: str, status_code: int = 200, **ctx: Any) -> Response:
    path = request.url.path[len(ui.route_prefix):] or "/"
    html = environment().get_template(template).render(
        prefix=ui.route_prefix,
        nav=[*NAV, *ui.extra_nav],
        current=path,
        bundle=bundle_version(),
        build=ui.build,
        request=request,
        **ctx,
    )
    return HTMLResponse(html, status_code=status_code)
