"""``/api/v1/audit`` and the UI's Audit page: the continuous audit's last findings.

Not a Prometheus endpoint, so the shape is guardia's own inside the Prometheus envelope
(``status``/``data``).  ``?severity=bug`` keeps findings at or above a severity,
``?check=promql/series`` one check.  The web package sees the audit only through
``AuditRetriever``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from guardia.web.envelope import ApiError, json_response, success

SEVERITIES = ("information", "warning", "bug")


class AuditRetriever(Protocol):
    def view(self) -> dict[str, Any]: ...


def filtered(view: dict[str, Any], severity: str | None, check: str | None) -> dict[str, Any]:
    if severity is not None and severity.lower() not in SEVERITIES:
        raise ApiError("bad_data", f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    low = SEVERITIES.index(severity.lower()) if severity else 0
    keep = [f for f in view["findings"] if SEVERITIES.index(f["severity"].lower()) >= low
            and (check is None or f["check"] == check)]
    return {**view, "findings": keep}


def routes(audit: AuditRetriever) -> list[Route]:
    async def get_audit(request: Request) -> Response:
        try:
            data = filtered(audit.view(), request.query_params.get("severity"),
                            request.query_params.get("check"))
        except ApiError as e:
            return json_response({"status": "error", "errorType": e.error_type, "error": e.message}, e.status)
        return success(data)

    return [Route("/api/v1/audit", get_audit, methods=["GET"])]


STYLE = """
.audit-sev{display:inline-block;padding:0 .4em;border-radius:3px;font-size:.85em}
.audit-bug{background:#fde2e1;color:#a40e0e}.audit-warning{background:#fff2cc;color:#7a5a00}
.audit-information{background:#e4efff;color:#1d4f91}
"""


def _when(s: float | None) -> str:
    return datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if s else "not yet"


def body(view: dict[str, Any], severity: str | None = None) -> str:
    f_all = view["findings"]
    sev_links = " · ".join(
        f'<a href="?severity={s}">{s} and above</a>' for s in SEVERITIES)
    head = (f'<h1>Audit</h1><p class="muted">Last run {escape(_when(view["lastRun"]))} '
            f'({view["durationSeconds"]:.2f} s), every {view["intervalSeconds"] / 60:.0f} minutes and after '
            f'each reload. Show: <a href="?">all</a> · {sev_links}. The same findings: '
            '<code>guardia audit</code>, <code>/api/v1/audit</code>, '
            "<code>guardia_audit_problems</code>.</p>")
    if view["error"]:
        head += f'<p class="error-text">The last audit failed: {escape(view["error"])}</p>'
    if not f_all:
        return head + '<p data-audit-empty>No problems found.</p>'
    rows = []
    for f in f_all:
        sev = f["severity"].lower()
        where = f'{f["file"]}:{f["line"]}' if f["file"] and f["line"] else (f["file"] or "(live)")
        rows.append(f'<tr data-check="{escape(f["check"])}" data-severity="{sev}">'
                    f'<td><span class="audit-sev audit-{sev}">{escape(f["severity"])}</span></td>'
                    f'<td class="mono">{escape(f["check"])}</td><td class="mono">{escape(where)}</td>'
                    f'<td>{escape(f["rule"])}</td><td>{escape(f["message"])}</td></tr>')
    return (head + '<div class="table-wrap"><table class="data-table audit-list"><thead><tr><th>Severity</th>'
            "<th>Check</th><th>Where</th><th>Rule</th><th>Problem</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></div>")


def ui_pages(audit: AuditRetriever) -> list[Any]:
    """The Audit page inside the web UI's layout (its top bar lists "Audit")."""
    from markupsafe import Markup

    from guardia.web.ui.render import Page, render
    from guardia.web.ui.sources import UiSources

    async def page(request: Request, ui: UiSources) -> Response:
        sev = request.query_params.get("severity")
        try:
            view = filtered(audit.view(), sev, request.query_params.get("check"))
        except ApiError as e:
            return render(request, ui, "slo.html", status_code=400, title="Audit", style=Markup(STYLE),
                          body=Markup(f'<h1>Audit</h1><p class="error-text">{escape(e.message)}</p>'))
        return render(request, ui, "slo.html", title="Audit", style=Markup(STYLE),
                      body=Markup(body(view, sev)))

    return [Page("/audit", "Audit", page)]
