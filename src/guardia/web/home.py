"""The plain HTML pages a browser lands on before the web UI exists: ``/``, ``/explore`` and
Prometheus's ``/graph`` links.

Notifications link here (``externalURL``, Slack's ``title_link``, an alert's ``generatorURL``,
which keeps Prometheus's ``/graph?g0.expr=...`` form because tools parse it), so each link must
open a page a person can read, not raw JSON. Rendered on the server, no JavaScript needed. The
web UI replaces these routes by registering its own; this module is the only place to drop.
"""

from __future__ import annotations

import html
import json
import time
from urllib.parse import quote_plus

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from guardia import __version__
from guardia.web import api_v1
from guardia.web.api_v1 import ApiDeps
from guardia.web.envelope import ApiError
from guardia.web.params import Params

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
          "h1{font-size:1.6rem}h2{font-size:1.15rem;margin-top:1.6rem}code,pre,input{font-family:monospace}"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}"
          "input[type=text]{width:70%}.err{color:#a00}.ok{color:#070}")


def _page(title: str, body: str, prefix: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>'
        f'<body><p><a href="{prefix}/">guardia</a> · <a href="{prefix}/explore">explore</a></p>'
        f"{body}</body></html>")


def _links(prefix: str, items: list[tuple[str, str]]) -> str:
    return "<ul>" + "".join(f'<li><a href="{prefix}{h}">{html.escape(h)}</a> — {html.escape(t)}</li>'
                            for h, t in items) + "</ul>"


def home_routes(deps: ApiDeps, prefix: str = "", alertmanager: bool = False) -> list[Route]:
    """``/``, ``/explore`` and ``/graph``; ``prefix`` is the route prefix links need."""

    async def home(request: Request) -> Response:
        parts = [f"<h1>guardia {html.escape(__version__)}</h1>",
                 "<p>Monitoring and alerting in one process: scraping, storage, PromQL, rules and "
                 "Alertmanager-compatible notifications.</p>"]
        if deps.targets is not None:
            targets = deps.targets.active_targets()
            up = sum(1 for t in targets if t.health == "up")
            down = [t for t in targets if t.health == "down"]
            parts.append(f"<h2>Targets</h2><p><span class=ok>{up} up</span>, "
                         f"<span class={'err' if down else 'ok'}>{len(down)} down</span> "
                         f"of {len(targets)}.</p>")
            if down:
                parts.append("<table><tr><th>job</th><th>instance</th><th>error</th></tr>" + "".join(
                    f"<tr><td>{html.escape(t.scrape_pool)}</td>"
                    f"<td>{html.escape(t.labels.get('instance', ''))}</td>"
                    f"<td>{html.escape(t.last_error)}</td></tr>" for t in down[:20]) + "</table>")
        if deps.rules is not None:
            groups = deps.rules.rule_groups()
            rules = [r for g in groups for r in g.rules]
            firing = [(r, a) for r in rules for a in r.alerts if a.state == "firing"]
            parts.append(f"<h2>Rules and alerts</h2><p>{len(groups)} rule groups, {len(rules)} rules, "
                         f"<span class={'err' if firing else 'ok'}>{len(firing)} alerts firing</span>.</p>")
            if firing:
                parts.append("<ul>" + "".join(
                    f"<li>{html.escape(r.name)} {html.escape(str(dict(a.labels)))}</li>"
                    for r, a in firing[:20]) + "</ul>")
        parts.append("<h2>Explore</h2><form action=\"" + prefix + "/explore\"><input type=text name=expr "
                     "placeholder=\"PromQL, e.g. up == 0\"> <button>Run</button></form>")
        parts.append("<h2>API</h2>" + _links(prefix, [
            ("/api/v1/targets", "scrape targets and their health"),
            ("/api/v1/rules", "rule groups, rules and their alerts"),
            ("/api/v1/alerts", "alerts from rules"),
            ("/api/v1/alertmanagers", "where rule alerts are sent"),
            ("/api/v1/status/config", "the running configuration"),
            ("/api/v1/status/buildinfo", "version"),
            ("/metrics", "guardia's own metrics"),
            ("/-/healthy", "health check"), ("/-/ready", "readiness check"),
        ]))
        if alertmanager:
            parts.append("<h2>Alertmanager</h2>" + _links(prefix, [
                ("/api/v2/alerts", "alerts held by the Alertmanager (amtool: guardia alert query)"),
                ("/api/v2/silences", "silences (guardia silence query)"),
                ("/api/v2/status", "Alertmanager configuration and status"),
            ]))
        else:
            parts.append("<h2>Alertmanager</h2><p>No Alertmanager is configured: add an "
                         "<code>alertmanager:</code> section to guardia.yml (see docs/configuration.md).</p>")
        parts.append("<h2>Docs</h2><p>In the repository: <code>README.md</code>, "
                     "<code>docs/configuration.md</code> (every guardia.yml section), "
                     "<code>docs/architecture.md</code>; the HTTP API is Prometheus's "
                     "(<a href=\"https://prometheus.io/docs/prometheus/latest/querying/api/\">reference</a>) "
                     "and Alertmanager's API v2.</p>")
        # Alertmanager's own links (Slack's title_link) point at /#/alerts?receiver=...: the
        # fragment never reaches the server, so say on the page where those alerts are.
        parts.append("<p id=amlink></p><script>if(location.hash.startsWith('#/alerts')){"
                     "var q=location.hash.split('?')[1]||'';document.getElementById('amlink').innerHTML="
                     "'Alerts of this notification: "
                     f"<a href=\"{prefix}/api/v2/alerts?'+q+'\">/api/v2/alerts?'"
                     "+q.replace(/</g,'&lt;')+'</a>';}</script>")
        return _page("guardia", "".join(parts), prefix)

    async def explore(request: Request) -> Response:
        expr = request.query_params.get("expr", "")
        body = [f"<h1>Explore</h1><form><input type=text name=expr value=\"{html.escape(expr)}\" "
                "placeholder=\"PromQL, e.g. rate(http_requests_total[5m])\"> <button>Run</button></form>"]
        if expr:
            body.append(f'<p>As JSON: <a href="{prefix}/api/v1/query?query={quote_plus(expr)}">'
                        f"/api/v1/query?query={html.escape(quote_plus(expr))}</a></p>")
            body.append(await _result(deps, expr))
        return _page(f"guardia: {expr}" if expr else "guardia: explore", "".join(body), prefix)

    async def graph(request: Request) -> Response:
        """Prometheus's ``/graph?g0.expr=...`` (generatorURL, graphLink, tableLink) opens in Explore."""
        expr = request.query_params.get("g0.expr", "")
        target = f"{prefix}/explore" + (f"?expr={quote_plus(expr)}" if expr else "")
        return RedirectResponse(target, status_code=302)

    return [Route("/", home, methods=["GET"], name="/"),
            Route("/explore", explore, methods=["GET"], name="/explore"),
            Route("/graph", graph, methods=["GET"], name="/graph")]


async def _result(deps: ApiDeps, expr: str) -> str:
    try:
        resp = await api_v1.query(deps, Params([("query", expr), ("time", f"{time.time():.3f}")]))
    except ApiError as e:
        return f"<p class=err>{html.escape(e.error_type)}: {html.escape(e.message)}</p>"
    data = json.loads(bytes(resp.body))["data"]
    kind, result = data["resultType"], data["result"]
    if kind in ("scalar", "string"):
        return f"<p>{kind}: <code>{html.escape(str(result[1]))}</code></p>"
    if not result:
        return "<p>No data: the expression matched no series at this time.</p>"
    rows = []
    for s in result[:500]:
        labels = ", ".join(f'{k}="{v}"' for k, v in s["metric"].items())
        points = s.get("values") or [[0, ""]]
        value = s["value"][1] if kind == "vector" else f"{len(points)} points, last {points[-1][1]}"
        rows.append(f"<tr><td><code>{{{html.escape(labels)}}}</code></td><td>{html.escape(value)}</td></tr>")
    more = f"<p>{len(result) - 500} more series not shown.</p>" if len(result) > 500 else ""
    return f"<table><tr><th>series</th><th>value</th></tr>{''.join(rows)}</table>{more}"
