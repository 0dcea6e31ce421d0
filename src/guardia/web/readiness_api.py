"""``/api/v1/readiness`` and the UI's Readiness page: the running guardia's go/no-go checklist.

``data`` is the document ``guardia readiness --format json`` prints (``profile``, ``generated``,
``verdict``, ``items`` with their evidence), inside the Prometheus envelope as every guardia
API; ``?profile=government`` picks the profile.  The checklist is computed on request in a
worker thread (it runs the audit and may restore a snapshot), one at a time.
"""

from __future__ import annotations

import asyncio
from html import escape
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from guardia.audit.readiness import PROFILES
from guardia.web.envelope import ApiError, json_response, success

DEFAULT_PROFILE = "small-team"


class ReadinessRetriever(Protocol):
    def readiness(self, profile: str) -> dict[str, Any]: ...


def _profile(request: Request) -> str:
    profile = request.query_params.get("profile") or DEFAULT_PROFILE
    if profile not in PROFILES:
        raise ApiError("bad_data", f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    return profile


async def checklist(ready: ReadinessRetriever, profile: str) -> dict[str, Any]:
    try:
        return await asyncio.to_thread(ready.readiness, profile)
    except RuntimeError as e:
        raise ApiError("unavailable", str(e)) from None


def routes(ready: ReadinessRetriever) -> list[Route]:
    async def get(request: Request) -> Response:
        try:
            return success(await checklist(ready, _profile(request)))
        except ApiError as e:
            return json_response({"status": "error", "errorType": e.error_type, "error": e.message}, e.status)

    return [Route("/api/v1/readiness", get, methods=["GET"])]


STYLE = """
.ready-status{display:inline-block;min-width:5.5em;text-align:center;padding:0 .4em;border-radius:3px;
font-weight:600;font-size:.85em}
.ready-pass{background:#e6f4ea;color:#137333}.ready-fail{background:#fde2e1;color:#a40e0e}
.ready-unknown{background:#fff2cc;color:#7a5a00}
.ready-verdict{font-size:1.4em;font-weight:700}.ready-go{color:#137333}.ready-no-go{color:#a40e0e}
.ready-ev{margin:.3em 0 0 1.1em;padding:0}.ready-ev li{margin:.15em 0}
.ready-where{font-family:monospace;font-size:.85em;color:var(--muted,#555);word-break:break-all}
"""


def _where(e: dict[str, Any]) -> str:
    parts = []
    if e.get("file"):
        parts.append(f'{e["file"]}:{e["line"]}' if e.get("line") else e["file"])
    if e.get("query"):
        parts.append(f'{e["query"]} = {e["value"]}' if e.get("value") else e["query"])
    elif e.get("value"):
        parts.append(str(e["value"]))
    if e.get("timestamp"):
        from datetime import UTC, datetime

        parts.append(datetime.fromtimestamp(e["timestamp"], UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    return " · ".join(parts)


def body(doc: dict[str, Any]) -> str:
    profile = doc["profile"]
    current = ' aria-current="page"'
    links = " · ".join(f'<a href="?profile={p}"{current if p == profile else ""}>{p}</a>' for p in PROFILES)
    verdict = doc["verdict"]
    head = (f'<h1>Readiness</h1><p class="muted">Profile: {links}. Generated {escape(doc["generated"])}. '
            "The same checklist: <code>guardia readiness --format json</code>, "
            f'<code>/api/v1/readiness?profile={escape(profile)}</code>.</p>'
            f'<p class="ready-verdict ready-{verdict.lower()}" data-verdict="{verdict}">{verdict}</p>')
    rows = []
    for i in doc["items"]:
        st = i["status"].lower()
        ev = "".join(f'<li>{escape(e["text"])}'
                     + (f' <span class="ready-where">{escape(_where(e))}</span>' if _where(e) else "")
                     + "</li>" for e in i["evidence"])
        rows.append(
            f'<tr data-item="{escape(i["id"])}" data-status="{i["status"]}">'
            f'<td><span class="ready-status ready-{st}">{i["status"]}</span></td>'
            f'<td>{escape(i["title"])}{"" if i["required"] else " <em>(advisory)</em>"}</td>'
            f'<td>{escape(i["summary"])}' + (f'<ul class="ready-ev">{ev}</ul>' if ev else "") + "</td></tr>")
    return (head + '<div class="table-wrap"><table class="data-table readiness-list"><thead><tr>'
            "<th>Status</th><th>Item</th><th>Evidence</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table></div>")


def ui_pages(ready: ReadinessRetriever) -> list[Any]:
    """The Readiness page inside the web UI's layout (listed in its top bar)."""
    from markupsafe import Markup

    from guardia.web.ui.render import Page, render
    from guardia.web.ui.sources import UiSources

    async def page(request: Request, ui: UiSources) -> Response:
        try:
            doc = await checklist(ready, _profile(request))
        except ApiError as e:
            err = f'<h1>Readiness</h1><p class="error-text">{escape(e.message)}</p>'
            return render(request, ui, "slo.html", status_code=e.status, title="Readiness",
                          style=Markup(STYLE), body=Markup(err))
        return render(request, ui, "slo.html", title="Readiness", style=Markup(STYLE), body=Markup(body(doc)))

    return [Page("/readiness", "Readiness", page)]
