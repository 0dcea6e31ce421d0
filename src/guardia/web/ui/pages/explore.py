"""``/explore?expr=&range=&step=``: ad-hoc PromQL, graph or table; the URL holds the state.

The server checks the expression's syntax so a typo is reported inline even without
JavaScript; the bundle then runs the query through ``/api/v1/query_range`` (or ``/query``
for the table) and draws it.
"""

from __future__ import annotations

import promql_parser
from starlette.requests import Request
from starlette.responses import Response

from guardia.web.ui.render import Page, render
from guardia.web.ui.sources import UiSources

RANGES = ["5m", "15m", "1h", "6h", "24h", "7d"]


def syntax_error(expr: str) -> str:
    """Empty when ``expr`` parses; otherwise the parser's message."""
    if not expr.strip():
        return ""
    try:
        promql_parser.parse(expr)
    except (ValueError, TypeError) as e:
        return f"bad expression: {e}"
    return ""


async def explore_page(request: Request, ui: UiSources) -> Response:
    q = request.query_params
    expr = q.get("expr", "")
    query = {k: v for k, v in q.items() if k in ("expr", "range", "step", "end", "tab")}
    return render(
        request, ui, "explore.html", title="Explore", expr=expr, range=q.get("range", "1h"),
        step=q.get("step", ""), end=q.get("end", ""), tab=q.get("tab", "graph"), ranges=RANGES,
        error=syntax_error(expr), query=query,
        without_end={k: v for k, v in query.items() if k != "end"},
    )


PAGES = [Page("/explore", "Explore", explore_page)]
