"""Public status pages, rendered on the server (no JavaScript needed), plus badges and feeds.

``/status/<slug>`` shows the page's current state, active incidents and maintenance, each
monitor's 90 daily uptime bars with 24 h / 30 d / 90 d percentages and a 24 h response-time
line; ``/status/<slug>/incidents/<id>`` an incident's timeline; ``feed.atom`` / ``feed.rss``
incidents and maintenance; ``/status/<slug>/badge/<probe>/{status,uptime,response}.svg``
badges; ``/status/<slug>/manage`` each probe's state with its failure reason, and the forms people use
to open and update incidents and schedule maintenance (behind the page's ``editors``
credentials).  A page that is not public
asks for its ``auth`` credentials.
"""

from __future__ import annotations

import base64
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from guardia.probes.config import StatusAuthSpec, StatusPageSpec
from guardia.probes.service import ProbeService
from guardia.probes.status import IMPACTS, INCIDENT_STATES, Incident, StatusError, StatusStore
from guardia.probes.uptime import DAY_MS, Uptime, UptimeCache, latest_up, response_times
from guardia.storage.interface import Storage
from guardia.web.status.badges import COLORS, badge, uptime_color

STATUS_TEXT = {"up": "Operational", "down": "Down", "pending": "Degraded", "maintenance": "Maintenance",
               "unknown": "No data yet"}


@dataclass
class StatusDeps:
    service: ProbeService
    store: StatusStore
    uptime: UptimeCache
    storage: Storage | None
    external_url: str = ""
    clock: Callable[[], float] = time.time


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rfc822(ms: int) -> str:
    return format_datetime(datetime.fromtimestamp(ms / 1000, UTC))


if TYPE_CHECKING:
    import jinja2


def _env() -> jinja2.Environment:
    import jinja2  # here: made for the first page rendered, not at start-up (see ``StatusSite.env``)

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("guardia.web.status", "templates"),
        autoescape=jinja2.select_autoescape(["html", "xml"]),
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(when=_when, iso=_iso, rfc822=_rfc822)
    return env


def _pct(ratio: float | None) -> str:
    if ratio is None:
        return "no data"
    v = ratio * 100
    return "100%" if v >= 100 else f"{v:.2f}%" if v >= 99 else f"{v:.1f}%"


def _row(row_id: str, name: str, description: str, status: str, up: Uptime, labels: list[str],
         series: list[float | None]) -> dict[str, Any]:
    """One line of the page: state, uptime figures, 90 bars, and the response-time polyline."""
    # one string per line: 90 spans through the template engine cost more than the rest
    bars = Markup("".join(_bar(day, d.ratio, d.maintenance) for day, d in zip(labels, up.days, strict=True)))
    chart, rt_text = "", ""
    vals = [v for v in series if v is not None]
    if vals:
        top = max(vals) or 1.0
        chart = " ".join(f"{i},{30 - 28 * v / top:.1f}" for i, v in enumerate(series) if v is not None)
        rt_text = f"avg {1000 * sum(vals) / len(vals):.0f} ms, max {1000 * max(vals):.0f} ms"
    return {
        "id": row_id, "name": name, "description": description, "status": status,
        "status_text": STATUS_TEXT.get(status, status), "bars": bars,
        "pct_24h": _pct_of(up, 1), "pct_30d": _pct_of(up, 30), "pct_90d": _pct_of(up, 90),
        "uptime_90d": up.window(90), "chart": chart, "rt_text": rt_text,
    }


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def _bar(day: str, ratio: float | None, maintenance: int) -> str:
    if ratio is None:
        kind, title = ("maint", f"{day}: maintenance") if maintenance else ("nodata", f"{day}: no data")
    else:
        kind = "up" if ratio >= 0.999 else "partial" if ratio >= 0.95 else "down"
        title = f"{day}: {_pct(ratio)} up" + (" (maintenance excluded)" if maintenance else "")
    return f'<span class="{kind}" title="{title}"></span>'


def _pct_of(up: Uptime, days: int) -> str:
    return "maintenance" if up.only_maintenance(days) else _pct(up.window(days))


def _authorized(request: Request, auth: StatusAuthSpec | None) -> bool:
    if auth is None:
        return False
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return hmac.compare_digest(user, auth.username) and hmac.compare_digest(pw, auth.password.reveal())


def _challenge(realm: str) -> Response:
    return Response("authentication required\n", status_code=401,
                    headers={"WWW-Authenticate": f'Basic realm="{realm}"'})


class StatusSite:
    def __init__(self, deps: StatusDeps, base: str = "") -> None:
        self.deps = deps
        self.base = base
        self._env: jinja2.Environment | None = None
        self._rt_cache: dict[tuple[str, ...], tuple[int, dict[str, list[float | None]]]] = {}

    # -- data -----------------------------------------------------------------------------------

    def page(self, slug: str) -> StatusPageSpec | None:
        for p in self.deps.service.config.status_pages:
            if p.slug == slug:
                return p
        return None

    def monitor_status(self, name: str, now_ms: int) -> str:
        if self.deps.store.in_maintenance(name, now_ms) is not None:
            return "maintenance"
        return self.deps.service.monitor_status(name)

    def view(self, page: StatusPageSpec) -> dict[str, Any]:
        now_ms = int(self.deps.clock() * 1000)
        names = [n for g in page.groups for n in g.probes]
        services = [n for g in page.groups for n in g.services]
        uptimes = self.deps.uptime.uptime(names)
        svc_uptimes = self.deps.uptime.uptime(services, "up") if services else {}
        svc_states = latest_up(self.deps.storage, services, now_ms) if self.deps.storage is not None else {}
        rts = self._response_times(names, now_ms)
        labels = [_day(now_ms - now_ms % DAY_MS - (self.deps.uptime.days - 1 - i) * DAY_MS)
                  for i in range(self.deps.uptime.days)]
        monitors: dict[str, dict[str, Any]] = {}
        for name in names:
            m = self.deps.service.config.monitor(name)
            monitors[name] = _row(f"monitor-{name}", name, m.description if m else "",
                                  self.monitor_status(name, now_ms), uptimes[name], labels,
                                  rts.get(name) or [])
        rows: dict[str, dict[str, Any]] = {}
        for name in services:
            rows[name] = _row(f"service-{name}", name, "", svc_states.get(name, "unknown"), svc_uptimes[name],
                              labels, [])
        statuses = [v["status"] for v in (*monitors.values(), *rows.values())]
        incidents = self.deps.store.page_incidents(page.slug)
        active = [i for i in incidents if i.open]
        if "down" in statuses:
            down = statuses.count("down")
            kind, text = (("down", "Major outage") if down * 2 >= len(statuses)
                          else ("partial", "Partial outage"))
        elif "pending" in statuses or any(i.impact in ("major", "critical") for i in active):
            kind, text = "partial", "Degraded performance"
        elif "maintenance" in statuses:
            kind, text = "maintenance", "Under maintenance"
        elif statuses and all(s == "unknown" for s in statuses):
            kind, text = "unknown", "Waiting for the first results"
        else:
            kind, text = "up", "All systems operational"
        return {
            "page": page, "base": self.base, "now": now_ms,
            "overall": {"kind": kind, "text": text},
            "groups": [{"name": g.name,
                        "monitors": [*(monitors[n] for n in g.probes), *(rows[n] for n in g.services)]}
                       for g in page.groups],
            "active_incidents": active,
            "past_incidents": [i for i in incidents if not i.open][:20],
            "maintenance": self.deps.store.page_maintenance(page.slug),
            "email_ok": page.email is not None,
        }

    def warm(self) -> None:
        """Count the finished days of every page's monitors now (the first visitor would wait
        for 90 days of series otherwise); run off the event loop at start."""
        names = [n for p in self.deps.service.config.status_pages for g in p.groups for n in g.probes]
        if names:
            self.deps.uptime.uptime(names)

    def _response_times(self, names: list[str], now_ms: int) -> dict[str, list[float | None]]:
        """Per-monitor 24 h response-time buckets, recomputed at most every ten seconds."""
        if self.deps.storage is None:
            return {}
        key = tuple(names)
        cached = self._rt_cache.get(key)
        if cached is not None and now_ms - cached[0] < 10_000:
            return cached[1]
        rts = response_times(self.deps.storage, names, now_ms)
        self._rt_cache[key] = (now_ms, rts)
        return rts

    @property
    def env(self) -> jinja2.Environment:
        """The templates, made when the first status page is rendered: jinja2 is 1-2 MiB
        resident, and a server without status pages, or whose pages nobody opens, never
        needs it."""
        if self._env is None:
            self._env = _env()
        return self._env

    def render(self, template: str, **ctx: Any) -> str:
        ctx.setdefault("base", self.base)
        ctx.setdefault("page", None)
        return self.env.get_template(template).render(**ctx)

    def message(self, page: StatusPageSpec | None, heading: str, message: str, status: int = 200,
                action: str = "", button: str = "") -> Response:
        return HTMLResponse(self.render("message.html", page=page, heading=heading, message=message,
                                        action=action, button=button), status_code=status)

    # -- routes ---------------------------------------------------------------------------------

    def _guard(self, request: Request) -> tuple[StatusPageSpec | None, Response | None]:
        page = self.page(request.path_params["slug"])
        if page is None:
            return None, self.message(None, "Not found", "There is no status page here.", 404)
        if not page.public and not _authorized(request, page.auth):
            return page, _challenge(page.title)
        return page, None

    def _editor(self, request: Request) -> tuple[StatusPageSpec | None, Response | None]:
        page = self.page(request.path_params["slug"])
        if page is None:
            return None, self.message(None, "Not found", "There is no status page here.", 404)
        if request.scope.get("guardia.role") in ("editor", "admin"):
            return page, None  # signed in to guardia (web config) as an editor: that is enough
        if page.editors is None:
            return page, self.message(page, "Editing is off",
                                      "This page has no editors: add editors: {username, password} to its "
                                      "status_pages entry in guardia.yml.", 403)
        if not _authorized(request, page.editors):
            return page, _challenge(f"{page.title} (editors)")
        return page, None

    async def index(self, request: Request) -> Response:
        pages = [p for p in self.deps.service.config.status_pages if p.public]
        return HTMLResponse(self.render("index.html", pages=pages))

    async def show(self, request: Request) -> Response:
        page, denied = self._guard(request)
        if denied is not None or page is None:
            return denied or Response(status_code=404)
        return HTMLResponse(self.render("page.html", **self.view(page)))

    async def incident(self, request: Request) -> Response:
        page, denied = self._guard(request)
        if denied is not None or page is None:
            return denied or Response(status_code=404)
        inc = self.deps.store.incidents.get(request.path_params["iid"])
        if inc is None or inc.page != page.slug:
            return self.message(page, "Not found", "There is no such incident on this page.", 404)
        return HTMLResponse(self.render("incident.html", page=page, inc=inc))

    def _entries(self, page: StatusPageSpec) -> tuple[str, list[dict[str, Any]]]:
        url = f"{self.deps.external_url.rstrip('/')}/status/{page.slug}"
        entries: list[dict[str, Any]] = []
        for inc in self.deps.store.page_incidents(page.slug):
            last = inc.updates[-1]
            entries.append({"id": f"incidents/{inc.id}/{len(inc.updates)}",
                            "title": f"[{inc.status}] {inc.title}", "link": f"{url}/incidents/{inc.id}",
                            "updated": last.at_ms, "text": last.message})
        for m in self.deps.store.page_maintenance(page.slug):
            entries.append({"id": f"maintenance/{m.id}", "title": f"[maintenance] {m.title}", "link": url,
                            "updated": m.starts_ms,
                            "text": f"{_when(m.starts_ms)} – {_when(m.ends_ms)}: {m.description}".strip()})
        entries.sort(key=lambda e: -int(e["updated"]))
        return url, entries[:50]

    async def feed(self, request: Request) -> Response:
        page, denied = self._guard(request)
        if denied is not None or page is None:
            return denied or Response(status_code=404)
        url, entries = self._entries(page)
        kind = request.path_params["kind"]
        updated = max((int(e["updated"]) for e in entries), default=int(self.deps.clock() * 1000))
        if kind not in ("atom", "rss"):
            return self.message(page, "Not found", "Feeds are feed.atom and feed.rss.", 404)
        text = self.render(f"feed_{kind}.xml", page=page, url=url, entries=entries, updated=updated)
        media = "application/atom+xml" if kind == "atom" else "application/rss+xml"
        return Response(text, media_type=f"{media}; charset=utf-8")

    async def badge(self, request: Request) -> Response:
        page, denied = self._guard(request)
        if denied is not None or page is None:
            return denied or Response(status_code=404)
        name, kind = request.path_params["probe"], request.path_params["kind"]
        if name not in {n for g in page.groups for n in g.probes}:
            return Response(badge(name, "not on this page", COLORS["unknown"]), status_code=404,
                            media_type="image/svg+xml")
        label = request.query_params.get("label", name)
        now_ms = int(self.deps.clock() * 1000)
        if kind == "status":
            st = self.monitor_status(name, now_ms)
            svg = badge(label, STATUS_TEXT.get(st, st).lower(), COLORS.get(st, COLORS["unknown"]))
        elif kind == "uptime":
            window = request.query_params.get("window", "30d")
            days = {"24h": 1, "1d": 1, "7d": 7, "30d": 30, "90d": 90}.get(window)
            if days is None:
                return Response(badge(label, "window: 24h, 7d, 30d or 90d", COLORS["down"]), status_code=400,
                                media_type="image/svg+xml")
            ratio = self.deps.uptime.uptime([name])[name].window(days)
            svg = badge(f"{label} {window}", _pct(ratio), uptime_color(ratio))
        else:
            states = self.deps.service.state(name)
            secs = [s.last_duration_s for s in states if s.last_ms]
            value = f"{1000 * sum(secs) / len(secs):.0f} ms" if secs else "no data"
            svg = badge(label, value, "#007ec6" if secs else COLORS["unknown"])
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "max-age=30"})

    async def subscribe(self, request: Request) -> Response:
        page, denied = self._guard(request)
        if denied is not None or page is None:
            return denied or Response(status_code=404)
        form = await _form(request)
        kind, address = form.get("kind", [""])[0], form.get("address", [""])[0]
        if kind == "email" and page.email is None:
            return self.message(page, "Not subscribed",
                                "This page does not send email; use a webhook or the feed.", 400)
        try:
            sub = self.deps.store.subscribe(page.slug, kind, address)
        except StatusError as e:
            return self.message(page, "Not subscribed", str(e), 400)
        if not sub.confirmed:
            return self.message(page, "Check your inbox", f"We sent a link to {address}: follow it to "
                                "confirm. Nothing is sent to this address until then.")
        return self.message(page, "Subscribed", f"{address} will hear about incidents and maintenance on "
                                                f"{page.title}.")

    async def confirm(self, request: Request) -> Response:
        page = self.page(request.path_params["slug"])
        sub = self.deps.store.confirm(page.slug, request.path_params["token"]) if page else None
        if page is None or sub is None:
            return self.message(page, "Link not valid", "This confirmation link is unknown or older than a "
                                "week. Subscribe again from the status page.", 404)
        return self.message(page, "Subscribed", f"{sub.address} will hear about incidents and maintenance "
                                                f"on {page.title}.")

    async def unsubscribe(self, request: Request) -> Response:
        """GET asks (so a mail scanner following links unsubscribes nobody); POST does it, also
        as the one-click request of RFC 8058 that mail clients send."""
        page = self.page(request.path_params["slug"])
        token = request.path_params["token"]
        if page is None or self.deps.store.by_token(page.slug, token) is None:
            return self.message(page, "Link not valid", "This link is unknown: the address may already be "
                                "unsubscribed.", 404)
        if request.method == "GET":
            return self.message(page, "Unsubscribe?", f"Stop messages from {page.title}?",
                                action=str(request.url.path), button="Unsubscribe")
        sub = self.deps.store.unsubscribe(page.slug, token)
        address = sub.address if sub else "This address"
        return self.message(page, "Unsubscribed", f"{address} will hear nothing more from {page.title}.")

    # -- editing ----------------------------------------------------------------------------------

    async def manage(self, request: Request) -> Response:
        page, denied = self._editor(request)
        if denied is not None or page is None:
            return denied or Response(status_code=404)
        return HTMLResponse(self.render(
            "manage.html", page=page, csrf=request.scope.get("guardia.csrf", ""),
            incidents=self.deps.store.page_incidents(page.slug),
            maintenance=self.deps.store.page_maintenance(page.slug), states=INCIDENT_STATES, impacts=IMPACTS,
            probes=[n for g in page.groups for n in g.probes], now=int(self.deps.clock() * 1000),
            probe_states=[s for g in page.groups for n in g.probes for s in self.deps.service.state(n)]))

    async def _input(self, request: Request) -> Mapping[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            body = await request.json()
            return body if isinstance(body, dict) else {}
        form = await _form(request)
        out: dict[str, Any] = {k: v[0] for k, v in form.items()}
        out["probes"] = form.get("probes", [])
        return out

    def _done(self, request: Request, page: StatusPageSpec, obj: Any) -> Response:
        if request.headers.get("content-type", "").startswith("application/json"):
            from dataclasses import asdict
            return JSONResponse({"status": "success", "data": asdict(obj)})
        return RedirectResponse(f"{self.base}/status/{page.slug}/manage", status_code=303)

    def _refused(self, request: Request, page: StatusPageSpec, e: StatusError) -> Response:
        if request.headers.get("content-type", "").startswith("application/json"):
            return JSONResponse({"status": "error", "error": str(e)}, status_code=400)
        return self.message(page, "Not saved", str(e), 400)

    async def new_incident(self, request: Request) -> Response:
        page, denied = self._editor(request)
        if denied is not None or page is None:
            return denied or Response(status_code=404)
        data = await self._input(request)
        try:
            inc = self.deps.store.open_incident(
                page.slug, str(data.get("title", "")), str(data.get("message", "")),
                status=str(data.get("status", "investigating")), impact=str(data.get("impact", "major")),
                author=page.editors.username if page.editors else "")
        except StatusError as e:
            return self._refused(request, page, e)
        return self._done(request, page, inc)

    async def update_incident(self, request: Request) -> Response:
        page, denied = self._editor(request)
        if denied is not None or page is None:
            return denied or Response(status_code=404)
        data = await self._input(request)
        inc: Incident | None = self.deps.store.incidents.get(request.path_params["iid"])
        if inc is None or inc.page != page.slug:
            return self._refused(request, page, StatusError("no such incident on this page"))
        try:
            inc = self.deps.store.update_incident(
                inc.id, str(data.get("status", "")), str(data.get("message", "")),
                author=page.editors.username if page.editors else "")
        except StatusError as e:
            return self._refused(request, page, e)
        return self._done(request, page, inc)

    async def new_maintenance(self, request: Request) -> Response:
        page, denied = self._editor(request)
        if denied is not None or page is None:
            return denied or Response(status_code=404)
        data = await self._input(request)
        try:
            start, end = _time_ms(data.get("start")), _time_ms(data.get("end"))
            probes = list(data.get("probes") or [])
            unknown = [p for p in probes if p not in {n for g in page.groups for n in g.probes}]
            if unknown:
                raise StatusError(f"not on this page: {', '.join(unknown)}")
            m = self.deps.store.schedule_maintenance(
                [page.slug], str(data.get("title", "")), str(data.get("description", "")), start, end, probes,
                list(data.get("matchers") or []), author=page.editors.username if page.editors else "")
        except StatusError as e:
            return self._refused(request, page, e)
        self.deps.uptime.invalidate()
        return self._done(request, page, m)

    async def cancel_maintenance(self, request: Request) -> Response:
        page, denied = self._editor(request)
        if denied is not None or page is None:
            return denied or Response(status_code=404)
        m = self.deps.store.maintenance.get(request.path_params["mid"])
        if m is None or page.slug not in m.pages:
            return self._refused(request, page, StatusError("no such maintenance on this page"))
        m = self.deps.store.cancel_maintenance(m.id)
        self.deps.uptime.invalidate()
        return self._done(request, page, m)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/status", self.index, methods=["GET"], name="/status"),
            Route("/status/{slug}", self.show, methods=["GET"], name="/status/{slug}"),
            Route("/status/{slug}/incidents/{iid}", self.incident, methods=["GET"], name="/status/incident"),
            Route("/status/{slug}/feed.{kind:str}", self.feed, methods=["GET"], name="/status/feed"),
            Route("/status/{slug}/badge/{probe}/{kind}.svg", self.badge, methods=["GET"],
                  name="/status/badge"),
            Route("/status/{slug}/subscribe", self.subscribe, methods=["POST"], name="/status/subscribe"),
            Route("/status/{slug}/confirm/{token}", self.confirm, methods=["GET"], name="/status/confirm"),
            Route("/status/{slug}/unsubscribe/{token}", self.unsubscribe, methods=["GET", "POST"],
                  name="/status/unsubscribe"),
            Route("/status/{slug}/manage", self.manage, methods=["GET"], name="/status/manage"),
            Route("/status/{slug}/manage/incidents", self.new_incident, methods=["POST"],
                  name="/status/manage/incidents"),
            Route("/status/{slug}/manage/incidents/{iid}", self.update_incident, methods=["POST"],
                  name="/status/manage/incident"),
            Route("/status/{slug}/manage/maintenance", self.new_maintenance, methods=["POST"],
                  name="/status/manage/maintenance"),
            Route("/status/{slug}/manage/maintenance/{mid}/cancel", self.cancel_maintenance, methods=["POST"],
                  name="/status/manage/maintenance/cancel"),
        ]


async def _form(request: Request) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body (the pages' forms post nothing else)."""
    body = await request.body()
    if len(body) > 64 * 1024:
        raise StatusError("form too large")
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def _time_ms(value: Any) -> int:
    """A form's ``datetime-local`` (UTC), an RFC 3339 time, or epoch seconds, as milliseconds."""
    if isinstance(value, int | float):
        return int(value * 1000)
    text = str(value or "").strip()
    if not text:
        raise StatusError("start and end times are required")
    try:
        return int(float(text) * 1000)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise StatusError(f"{text!r} is not a time (use 2026-01-31T22:00 or RFC 3339)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)
