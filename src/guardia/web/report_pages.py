"""Scheduled operations reports over HTTP: ``/api/v1/reports`` for machines, ``/reports`` in the
UI for people (the latest reports, newest first, each a printable page of its own).

guardia's own shape in the Prometheus envelope (``status``/``data``), as ``/api/v1/slos``.  The
web package sees the scheduler only through ``ReportRetriever``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any, Protocol
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from guardia.reports.source import SourceUnreachable
from guardia.web.envelope import ApiError, json_response, success

MEDIA = {"html": "text/html; charset=utf-8", "md": "text/markdown; charset=utf-8",
         "json": "application/json"}


class ReportRetriever(Protocol):
    def entries(self) -> list[dict[str, Any]]: ...

    def schedules(self) -> list[dict[str, Any]]: ...

    def read(self, rid: str, fmt: str) -> bytes | None: ...

    async def run_report(self, name: str) -> dict[str, Any]: ...


def _error(e: ApiError) -> Response:
    return json_response({"status": "error", "errorType": e.error_type, "error": e.message}, e.status)


def routes(reports: ReportRetriever) -> list[Route]:
    """The API, mounted under the web app's route prefix like the other API routes."""

    async def list_reports(request: Request) -> Response:
        return success({"schedules": reports.schedules(), "reports": reports.entries()})

    async def get_report(request: Request) -> Response:
        rid = request.path_params["rid"]
        fmt = request.query_params.get("format", "json")
        if fmt not in MEDIA:
            return _error(ApiError("bad_data", f"format {fmt!r}: use json, md or html"))
        body = await asyncio.to_thread(reports.read, rid, fmt)
        if body is None:
            return _error(ApiError("not_found", f"no report {rid!r}; GET /api/v1/reports lists them"))
        return Response(body, media_type=MEDIA[fmt])

    async def run(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            entry = await reports.run_report(name)
        except KeyError:
            known = ", ".join(s["name"] for s in reports.schedules()) or "none"
            return _error(ApiError("not_found", f"no report schedule {name!r} (known: {known})"))
        except SourceUnreachable as e:  # the schedule's remote engine did not answer
            return _error(ApiError("unavailable", str(e)))
        return success(entry)

    return [
        Route("/api/v1/reports", list_reports, methods=["GET"]),
        Route("/api/v1/reports/{rid}", get_report, methods=["GET"]),
        Route("/api/v1/reports/{name}/run", run, methods=["POST"]),
    ]


def _when(s: float | None) -> str:
    if not s:
        return "–"
    return datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _score(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return '<span class="muted">no checks</span>'
    tone = "ok" if v >= 9 else "firing" if v < 7 else "pending"
    return f'<span class="badge {tone}">{v:g}/10</span>'


def list_body(schedules: Sequence[dict[str, Any]], entries: Sequence[dict[str, Any]],
              prefix: str = "") -> str:
    parts = ["<h1>Reports</h1>"]
    if schedules:
        sched_rows = "".join(
            f'<tr data-schedule="{escape(s["name"])}"><td><strong>{escape(s["name"])}</strong></td>'
            f'<td class="mono">{escape(s["schedule"])}</td>'
            f'<td>{escape(s["window"])} vs {escape(s["baseline"])}</td>'
            f'<td>{escape(s["service"] or "all")}</td><td>{escape(", ".join(s["receivers"]) or "–")}</td>'
            f"<td>{escape(_when(s['next_run']))}</td></tr>" for s in schedules)
        parts.append('<div class="table-wrap"><table class="data-table"><thead><tr><th>Schedule</th>'
                     "<th>When (UTC)</th><th>Window vs baseline</th><th>Service</th><th>Sent to</th>"
                     f"<th>Next run</th></tr></thead><tbody>{sched_rows}</tbody></table></div>")
    else:
        parts.append('<p class="muted">No report is scheduled. Add <code>reports.schedules</code> to '
                     "guardia.yml, or write one now with <code>guardia report ops</code>; see "
                     "docs/reports.md.</p>")
    if entries:
        rows = []
        for e in entries:
            link = f"{prefix}/reports/{quote(e['id'])}"
            sent = e.get("deliveries") or []
            failed = [d for d in sent if not d["ok"]]
            sent_txt = ("–" if not sent else f"{len(sent) - len(failed)} of {len(sent)} delivered"
                        + "".join(f'<div class="error-text">{escape(d["receiver"])} '
                                  f'{escape(d["integration"])}: {escape(d["error"])}</div>' for d in failed))
            rows.append(
                f'<tr data-report="{escape(e["id"])}">'
                f'<td><a href="{escape(link)}">{escape(e["schedule"])}</a></td>'
                f"<td>{escape(_when(e['generated']))}</td>"
                f"<td>{escape(_when(e['window']['start']))} → {escape(_when(e['window']['end']))}</td>"
                f"<td>{escape(e['service'] or 'all')}</td><td>{_score(e['score'])}</td>"
                f"<td>{e['failed']} failed, {e['no_data']} without data</td><td>{sent_txt}</td>"
                f'<td><a href="{escape(link)}">HTML</a> · <a href="{escape(link)}?format=md">Markdown</a> · '
                f'<a href="{escape(prefix)}/api/v1/reports/{quote(e["id"])}">JSON</a></td></tr>')
        parts.append('<h2>Latest reports</h2><div class="table-wrap"><table class="data-table report-list">'
                     "<thead><tr><th>Report</th><th>Written</th><th>Window</th><th>Service</th><th>Score</th>"
                     "<th>Checks</th><th>Delivery</th><th>Formats</th></tr></thead><tbody>"
                     + "".join(rows) + "</tbody></table></div>")
    elif schedules:
        parts.append('<p class="muted">No report written yet: the first comes at the next run.</p>')
    return "".join(parts)


def ui_pages(reports: ReportRetriever) -> list[Any]:
    """``/reports`` in the web UI's layout (its top bar lists "Reports") and ``/reports/{id}``,
    each report as the printable page it was written as."""
    from markupsafe import Markup

    from guardia.web.ui.render import Page, render
    from guardia.web.ui.sources import UiSources

    async def list_page(request: Request, ui: UiSources) -> Response:
        body = list_body(reports.schedules(), await asyncio.to_thread(reports.entries), ui.route_prefix)
        return render(request, ui, "slo.html", title="Reports", style=Markup(""), body=Markup(body))

    async def report_page(request: Request, ui: UiSources) -> Response:
        rid = request.path_params["rid"]
        fmt = request.query_params.get("format", "html")
        body = await asyncio.to_thread(reports.read, rid, fmt) if fmt in ("html", "md") else None
        if body is None:
            missing = (f"<h1>No report {escape(rid)}</h1><p><a href=\"{escape(ui.route_prefix)}"
                       "/reports\">All reports</a></p>")
            return render(request, ui, "slo.html", status_code=404, title="Report not found",
                          style=Markup(""), body=Markup(missing))
        return Response(body, media_type=MEDIA[fmt])

    return [Page("/reports", "Reports", list_page), Page("/reports/{rid}", "", report_page)]
