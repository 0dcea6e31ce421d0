"""The SLO pages: a list sorted by remaining budget, and a page per SLO with its objective,
SLI, budget over time, burn rates and alert state.

The bodies are rendered here, escaped, as HTML fragments; ``guardia serve`` places them in
the web UI's layout (``ui_pages``, listed as "SLOs" in its top bar); ``routes`` serves them
in a minimal page of their own for an app without the UI.  No JavaScript is needed (charts
are SVG).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from guardia.web.slo_chart import line_chart


class SLOPageSource(Protocol):
    def list(self) -> Sequence[dict[str, Any]]: ...

    def get(self, name: str) -> dict[str, Any] | None: ...

    def history(self, name: str, points: int = ...) -> dict[str, Any] | None: ...


def _pct(v: float | None, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v * 100:.{digits}f}%"


def _num(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.3g}"


def _when(s: float | None) -> str:
    if not s:
        return "–"
    return datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _budget_cell(b: float | None) -> str:
    if b is None:
        return '<span class="muted">no data yet</span>'
    width = max(0.0, min(1.0, b)) * 100
    tone = "ok" if b > 0.5 else "warn" if b > 0 else "bad"
    return (f'<span class="slo-bar slo-{tone}" title="{escape(_pct(b))}"><span style="width:{width:.0f}%">'
            f'</span></span> <strong>{escape(_pct(b))}</strong>')


def _link(prefix: str, d: dict[str, Any]) -> str:
    return f"{prefix}/slos/{quote(d['service'])}/{quote(d['name'])}"


def list_body(slos: Sequence[dict[str, Any]], prefix: str = "") -> str:
    rows = []
    for d in slos:
        st = d.get("status") or {}
        budget = st.get("errorBudgetRemaining")
        firing = [a for a in d["alerts"] if a["state"] == "firing"]
        state = ('<span class="badge err">rejected</span>' if d["state"] == "rejected" else
                 f'<span class="badge firing">{len(firing)} firing</span>' if firing else
                 '<span class="badge ok">ok</span>')
        rows.append(
            f'<tr data-slo="{escape(d["service"])}/{escape(d["name"])}" data-state="{escape(d["state"])}">'
            f'<td><a href="{escape(_link(prefix, d))}"><strong>{escape(d["name"])}</strong></a>'
            f'<div class="muted">{escape(d["description"])}</div></td>'
            f'<td>{escape(d["service"])}</td>'
            f'<td>{d["objectivePercent"]:g}% / {escape(d["window"])}</td>'
            f'<td data-budget="{"" if budget is None else budget}">{_budget_cell(budget)}</td>'
            f'<td>{escape(_num((st.get("burnRates") or {}).get(d["burnWindows"][0]["long"])))}</td>'
            f'<td>{escape(st.get("exhaustion", "–"))}</td><td>{state}</td></tr>')
    if not rows:
        return ('<h1>SLOs</h1><p class="muted">No SLOs are defined. Add them under <code>slos:</code> '
                "in guardia.yml (guardia's form, or <code>- file:</code> naming sloth or pyrra files); "
                "see docs/slo.md.</p>")
    return ('<h1>SLOs</h1><p class="muted">Least error budget left first.</p>'
            '<div class="table-wrap"><table class="data-table slo-list"><thead><tr><th>SLO</th>'
            "<th>Service</th><th>Objective</th><th>Budget left</th><th>Burn rate (now)</th>"
            "<th>Exhaustion</th><th>State</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table></div>")


def _explore(prefix: str, expr: str, range_: str = "1d") -> str:
    return f"{prefix}/explore?{urlencode({'expr': expr, 'range': range_})}"


def detail_body(d: dict[str, Any], hist: dict[str, Any] | None, prefix: str = "") -> str:
    st = d.get("status") or {}
    ident = f'slo_service="{d["service"]}",slo="{d["name"]}"'
    parts = [f'<p><a href="{escape(prefix)}/slos">← all SLOs</a></p>',
             f'<h1>{escape(d["service"])} / {escape(d["name"])}</h1>']
    if d["description"]:
        parts.append(f"<p>{escape(d['description'])}</p>")
    parts.append(
        '<section class="card slo-summary"><dl>'
        f'<dt>Objective</dt><dd>{d["objectivePercent"]:g}% over {escape(d["window"])}'
        f'{" (calendar, UTC)" if d["calendar"] else " (rolling)"}</dd>'
        f'<dt>Error budget left</dt><dd data-budget>{_budget_cell(st.get("errorBudgetRemaining"))}</dd>'
        f'<dt>Error ratio this period</dt><dd>{escape(_pct(st.get("errorRatio"), 4))} '
        f'(allowed {100 - d["objectivePercent"]:.4g}%)</dd>'
        f'<dt>Budget runs out</dt><dd>{escape(st.get("exhaustion", "–"))}</dd>'
        f'<dt>Period</dt><dd>{escape(_when(st.get("periodStart")))} → '
        f'{escape(_when(st.get("periodEnd")))}</dd>'
        f'<dt>Defined in</dt><dd class="mono">{escape(d["file"])} ({escape(d["format"])})</dd>'
        "</dl></section>")
    if d["state"] == "rejected":
        parts.append('<section class="card"><h2>Not accepted: the data does not match</h2><ul>'
                     + "".join(f'<li class="error-text">{escape(p)}</li>' for p in d["problems"])
                     + "</ul><p class=\"muted\">Checked again every evaluation; it is accepted as "
                     "soon as these series exist.</p></section>")
    ind = d["indicator"]
    parts.append(
        f'<section class="card"><h2>SLI ({escape(ind["kind"])})</h2>'
        f'<pre class="mono">{escape(ind["source"])}</pre>'
        f'<p>Error ratio over 5m: <a class="mono" href="{escape(_explore(prefix, ind["errorRatio"]))}">'
        f'{escape(ind["errorRatio"])}</a></p></section>')
    alerts = d["alerts"]
    if alerts:
        rows = "".join(
            f'<tr data-alert-state="{escape(a["state"])}"><td>{escape(a["name"])}</td>'
            f'<td><span class="badge {"firing" if a["state"] == "firing" else "pending"}">'
            f'{escape(a["state"])}</span></td>'
            f'<td>{escape(a["labels"].get("slo_severity", a["labels"].get("severity", "")))}</td>'
            f'<td>{escape(a["labels"].get("slo_long_window", ""))} / '
            f'{escape(a["labels"].get("slo_short_window", ""))}</td>'
            f'<td>{escape(_when(a["activeAt"]))}</td></tr>' for a in alerts)
        parts.append('<section class="card"><h2>Alerts</h2><div class="table-wrap"><table class="data-table">'
                     "<thead><tr><th>Alert</th><th>State</th><th>Severity</th><th>Windows</th>"
                     f"<th>Active since</th></tr></thead><tbody>{rows}</tbody></table></div></section>")
    else:
        parts.append('<section class="card"><h2>Alerts</h2><p class="muted" data-alerts="none">'
                     "No alert is pending or firing.</p></section>")
    if hist is not None:
        budget_expr = f"slo:error_budget_remaining:ratio{{{ident}}}"
        burn_expr = f"slo:burn_rate:ratio{{{ident}}}"
        parts.append(
            '<section class="card"><h2>Error budget left this period</h2>'
            + line_chart(hist["budget"], start_ms=hist["start"], end_ms=hist["end"], percent=True,
                         refs=[(0.0, "spent")], title="error budget left")
            + f'<p><a href="{escape(_explore(prefix, budget_expr, "30d"))}">Open in Explore</a></p>'
            "</section>")
        refs = [(b["factor"], f'{b["severity"]} {b["long"]}/{b["short"]} ×{b["factor"]:g}')
                for b in d["burnWindows"]]
        parts.append(
            '<section class="card"><h2>Burn rates</h2><p class="muted">1 spends the budget exactly '
            "over the period; the dashed lines are the alert thresholds (both windows of a pair "
            "must cross theirs).</p>"
            + line_chart(hist["burn"], start_ms=hist["start"], end_ms=hist["end"], refs=refs,
                         title="burn rates")
            + f'<p><a href="{escape(_explore(prefix, burn_expr, "7d"))}">Open in Explore</a></p></section>')
    burn_rates = st.get("burnRates") or {}
    rows = "".join(
        f'<tr><td>{escape(b["severity"])}</td><td>{escape(b["long"])} / {escape(b["short"])}</td>'
        f'<td>{b["factor"]:g}</td><td>{escape(_num(burn_rates.get(b["long"])))} / '
        f'{escape(_num(burn_rates.get(b["short"])))}</td></tr>' for b in d["burnWindows"])
    parts.append('<section class="card"><h2>Alert windows</h2><div class="table-wrap">'
                 '<table class="data-table">'
                 "<thead><tr><th>Severity</th><th>Long / short window</th><th>Fires above</th>"
                 f"<th>Burn rate now (long / short)</th></tr></thead><tbody>{rows}</tbody></table></div>"
                 + (f'<p class="muted">Needs at least {d["minEvents"]} events in each window.</p>'
                    if d.get("minEvents") else "") + "</section>")
    return "".join(parts)


STYLE = """
.slo-bar{display:inline-block;width:6em;height:.7em;background:#8883;border-radius:3px;vertical-align:middle}
.slo-bar>span{display:block;height:100%;border-radius:3px}
.slo-ok>span{background:#2b8a3e}.slo-warn>span{background:#e67700}.slo-bad>span{background:#c92a2a}
.slo-chart{width:100%;max-width:760px;height:auto}
.slo-summary dl{display:grid;grid-template-columns:max-content 1fr;gap:.3em 1em}
.slo-summary dd{margin:0}
"""

_SHELL = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title} · guardia</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1000px;padding:0 1em}}
table{{border-collapse:collapse;width:100%}}
td,th{{text-align:left;padding:.35em .5em;border-bottom:1px solid #8884}}
.muted{{color:#777}}.mono,pre{{font-family:ui-monospace,monospace;white-space:pre-wrap}}
.card{{border:1px solid #8884;border-radius:6px;padding:.2em 1em;margin:1em 0}}
.badge{{padding:.1em .5em;border-radius:3px;background:#8883}}
.badge.firing,.badge.err{{background:#c92a2a;color:#fff}}
.badge.ok{{background:#2b8a3e;color:#fff}}.error-text{{color:#c92a2a}}{style}</style></head>
<body><nav><a href="{prefix}/">guardia</a> · <a href="{prefix}/slos">SLOs</a></nav>{body}</body></html>"""


def standalone(title: str, body: str, prefix: str = "") -> HTMLResponse:
    return HTMLResponse(_SHELL.format(title=escape(title), body=body, prefix=escape(prefix), style=STYLE))


def not_found(name: str, slos: Sequence[dict[str, Any]], prefix: str) -> str:
    known = ", ".join(f'<a href="{escape(_link(prefix, d))}">{escape(d["service"])}/{escape(d["name"])}</a>'
                      for d in slos) or "none"
    return f"<h1>No SLO named {escape(name)}</h1><p>Known: {known}</p>"


def routes(slos: SLOPageSource, prefix: str = "") -> list[Route]:
    """``/slos`` and ``/slos/SERVICE/NAME`` as pages of their own (no web UI in the process).

    The web app mounts routes under its route prefix; ``prefix`` is only for the links."""
    import asyncio

    async def list_page(request: Request) -> Response:
        data = await asyncio.to_thread(slos.list)
        return standalone("SLOs", list_body(data, prefix), prefix)

    async def slo_page(request: Request) -> Response:
        name = request.path_params["name"]
        d = await asyncio.to_thread(slos.get, name)
        if d is None:
            resp = standalone("SLO not found", not_found(name, slos.list(), prefix), prefix)
            resp.status_code = 404
            return resp
        hist = await asyncio.to_thread(slos.history, name)
        return standalone(f"{d['service']}/{d['name']}", detail_body(d, hist, prefix), prefix)

    return [Route("/slos", list_page, methods=["GET"]),
            Route("/slos/{name:path}", slo_page, methods=["GET"])]


def ui_pages(slos: SLOPageSource) -> list[Any]:
    """The same pages inside the web UI's layout (its top bar lists "SLOs")."""
    import asyncio

    from markupsafe import Markup

    from guardia.web.ui.render import Page, render
    from guardia.web.ui.sources import UiSources

    async def list_page(request: Request, ui: UiSources) -> Response:
        data = await asyncio.to_thread(slos.list)
        return render(request, ui, "slo.html", title="SLOs", style=Markup(STYLE),
                      body=Markup(list_body(data, ui.route_prefix)))

    async def slo_page(request: Request, ui: UiSources) -> Response:
        name = request.path_params["name"]
        d = await asyncio.to_thread(slos.get, name)
        if d is None:
            return render(request, ui, "slo.html", status_code=404, title="SLO not found",
                          style=Markup(STYLE), body=Markup(not_found(name, slos.list(), ui.route_prefix)))
        hist = await asyncio.to_thread(slos.history, name)
        return render(request, ui, "slo.html", title=f"{d['service']}/{d['name']}", style=Markup(STYLE),
                      body=Markup(detail_body(d, hist, ui.route_prefix)))

    return [Page("/slos", "SLOs", list_page), Page("/slos/{name:path}", "", slo_page)]
