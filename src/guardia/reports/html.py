"""The report as one self-contained HTML page: tables, inline SVG charts, no JavaScript, styles
for screen and print (the PDF is this page printed by a headless browser).

Every figure links to the explore page with its query, so a reader goes from a number to the
data behind it in one click.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlencode

from guardia.model import format_duration, parse_timestamp
from guardia.reports import fmt, svg
from guardia.reports.figures import Figure, Report
from guardia.reports.markdown import MAX_DETAIL_ROWS

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2125;margin:1.5em auto;
max-width:1040px;padding:0 1em;line-height:1.4}
h1{margin:.2em 0}h2{margin-top:1.6em;border-bottom:2px solid #dfe3e8;padding-bottom:.2em}
table{border-collapse:collapse;width:100%;margin:.6em 0;font-size:.92em}
td,th{text-align:left;padding:.3em .5em;border-bottom:1px solid #e3e6ea;vertical-align:top}
th{background:#f5f6f8}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.muted,.note{color:#5c6670}.note{font-size:.88em;margin:.2em 0}
.verdict{font-weight:600;padding:.05em .45em;border-radius:3px;white-space:nowrap}
.v-pass{background:#d3f9d8;color:#1b5e20}.v-fail{background:#ffe3e3;color:#a51111}
.v-no_data{background:#fff3bf;color:#7a5b00}.v-info{color:#5c6670}
.score{font-size:1.5em;font-weight:700}.summary{display:grid;grid-template-columns:max-content 1fr;
gap:.2em 1em}.summary dd{margin:0}
code,.q{font-family:ui-monospace,"SFMono-Regular",monospace;font-size:.85em;word-break:break-all}
a.q{color:#1c5fb0;text-decoration:none}
.chart,.timeline{width:100%;max-width:640px;height:auto;display:block;margin:.3em 0}
.chart .grid{stroke:#e3e6ea}.chart .tick,.timeline .tick{font-size:10px;fill:#5c6670}
.chart .band{fill:#d0e2ff;opacity:.8}.chart .median{stroke:#4263eb;stroke-dasharray:4 3}
.chart .line{fill:none;stroke:#e8590c;stroke-width:1.6}
.timeline .up{fill:#b2f2bb}.timeline .down{fill:#e03131}.timeline .gap{fill:#adb5bd}
.legend{font-size:.82em;color:#5c6670}.legend i{display:inline-block;width:1.6em;height:.7em;
margin:0 .3em 0 .8em;vertical-align:middle}
ol.queries{font-size:.85em;padding-left:2em}ol.queries li{margin:.15em 0}
figure{margin:.6em 0;break-inside:avoid}
figcaption{font-size:.88em;color:#5c6670}
@media print{body{margin:0;max-width:none;font-size:10.5pt}a.q{color:#1d2125}
h2{break-after:avoid}tr{break-inside:avoid}}
@page{size:A4;margin:14mm 12mm}
"""


def explore_link(base: str, query: str, range_ms: int, end_ms: int) -> str:
    """``{base}/explore?expr=...``: guardia's explore page, over the figure's window."""
    params = {"expr": query, "range": format_duration(range_ms), "end": f"{end_ms / 1000:.0f}"}
    return f"{base.rstrip('/')}/explore?{urlencode(params)}"


def _verdict(f: Figure) -> str:
    word = {"pass": "pass", "fail": "fail", "no_data": "no data", "info": "–"}[f.verdict]
    return f'<span class="verdict v-{f.verdict}">{word}</span>'


def _cell(v: Any) -> str:
    if isinstance(v, dict):
        return escape(", ".join(f"{k}={x}" for k, x in v.items()))
    if isinstance(v, list):
        return escape(", ".join(str(x) for x in v))
    if isinstance(v, float):
        return escape(f"{v:.4g}")
    return "–" if v is None else escape(str(v))


def _details(rows: list[dict[str, Any]]) -> str:
    cols: list[str] = []
    for r in rows[:MAX_DETAIL_ROWS]:
        cols.extend(k for k in r if k not in cols)
    head = "".join(f"<th>{escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in cols) + "</tr>"
                   for r in rows[:MAX_DETAIL_ROWS])
    more = (f'<p class="muted">… and {len(rows) - MAX_DETAIL_ROWS} more (all of them in the JSON '
            "report)</p>") if len(rows) > MAX_DETAIL_ROWS else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _ms(text: Any) -> int | None:
    return parse_timestamp(str(text)) if text else None


def _availability_chart(r: Report, f: Figure) -> str:
    related = [g for g in r.figures() if g.labels == f.labels and g.name in ("outages", "data_coverage")]
    spans: list[tuple[int, int, str, str]] = []
    for g in related:
        for row in g.details:
            a: int | None
            b: int | None
            if g.name == "outages":
                a, b = _ms(row["start"]), _ms(row["end"]) or r.end_ms
                kind, tip = "down", f"{row['instance']} down {row['start']} → {row['end'] or 'ongoing'}"
            else:
                a, b = _ms(row["from"]), _ms(row["to"])
                kind, tip = "gap", f"{row['instance']} no data {row['from']} → {row['to']}"
            if a is not None and b is not None:
                spans.append((a, b, kind, tip))
    bar = svg.timeline(r.start_ms, r.end_ms, spans, f"{f.name} {fmt.labels(f.labels)}")
    return (f"<figure>{bar}<figcaption>{escape(fmt.labels(f.labels))}: "
            '<span class="legend"><i style="background:#b2f2bb"></i>up<i style="background:#e03131">'
            '</i>outage<i style="background:#adb5bd"></i>no data</span></figcaption></figure>')


def _band_chart(r: Report, f: Figure) -> str:
    chart = svg.band_chart(f.points, [v for _, v in f.baseline_points], r.start_ms, r.end_ms,
                           lambda v: fmt.value(v, f.unit), f"{f.name} {fmt.labels(f.labels)}")
    if not chart:
        return ""
    return (f"<figure>{chart}<figcaption>{escape(f.name)} ({escape(fmt.labels(f.labels))}) every "
            f"{escape(fmt.seconds(r.interval_ms / 1000))}: "
            '<span class="legend"><i style="background:#e8590c"></i>window'
            '<i style="background:#d0e2ff"></i>baseline P25–P75'
            '<i style="border-top:2px dashed #4263eb;height:0"></i>baseline median</span>'
            "</figcaption></figure>")


def render_html(r: Report, explore_base: str = "") -> str:
    queries: dict[str, int] = {}

    def link(f: Figure) -> str:
        if not f.query:
            return ""
        n = queries.setdefault(f.query, len(queries) + 1)
        href = explore_link(explore_base, f.query, r.end_ms - r.start_ms, r.end_ms)
        return f'<a class="q" href="{escape(href)}" title="{escape(" ".join(f.query.split()))}">[{n}]</a>'

    def query_list() -> str:
        span = r.end_ms - r.start_ms
        items = "".join(
            f'<li value="{n}"><a class="q" href="{escape(explore_link(explore_base, q, span, r.end_ms))}">'
            f'{escape(" ".join(q.split()))}</a></li>' for q, n in queries.items() if n > shown[0])
        shown[0] = len(queries)
        return f'<ol class="queries">{items}</ol>' if items else ""

    shown = [0]

    out = [f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(r.title)}</title>"
           f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style>'
           "</head><body>", f"<h1>{escape(r.title)}</h1>"]
    s = r.score
    score = "–" if s is None or s.value is None else f"{s.value:g}/10"
    out.append('<dl class="summary">'
               f"<dt>Window</dt><dd>{escape(fmt.when(r.start_ms))} → {escape(fmt.when(r.end_ms))}"
               + (f" (since the deployment of {escape(r.since_deploy)})" if r.since_deploy else "") + "</dd>"
               f"<dt>Baseline</dt><dd>{escape(fmt.when(r.baseline_start_ms))} → "
               f"{escape(fmt.when(r.baseline_end_ms))}</dd>"
               f"<dt>Service</dt><dd>{escape(r.service or 'all')}</dd>"
               f"<dt>Data</dt><dd>{escape(r.source)}</dd>"
               f"<dt>Coverage</dt><dd data-coverage>{escape(str(r.coverage.get('summary', '')))}</dd>"
               f'<dt>Score</dt><dd><span class="score" data-score>{escape(score)}</span> '
               + (f"{s.passed} passed, {s.failed} failed, {s.no_data} without data"
                  f'<div class="note">{escape(s.formula)}</div>' if s is not None else "")
               + f"</dd><dt>Generated</dt><dd>{escape(fmt.when(r.generated_ms))}</dd></dl>")
    for sec in r.sections:
        out.append(f'<section id="{escape(sec.key)}"><h2>{escape(sec.title)}</h2>')
        if not sec.figures:
            out.append('<p class="muted">Nothing to report: no series for this section.</p>')
        else:
            out.append("<table><thead><tr><th>figure</th><th>labels</th><th>value</th><th>baseline</th>"
                       "<th>change</th><th>target</th><th>verdict</th><th>query</th></tr></thead><tbody>")
            for f in sec.figures:
                base = fmt.value(f.baseline, f.unit) if f.baseline_query else ""
                out.append(
                    f'<tr data-figure="{escape(f.name)}" data-verdict="{f.verdict}"><td>{escape(f.name)}</td>'
                    f"<td>{escape(fmt.labels(f.labels))}</td>"
                    f'<td class="num">{escape(fmt.value(f.value, f.unit))}</td>'
                    f'<td class="num">{escape(base)}</td><td class="num">{escape(fmt.change(f))}</td>'
                    f'<td class="num">{escape(fmt.target(f))}</td>'
                    f"<td>{_verdict(f)}</td><td>{link(f)}</td></tr>")
            out.append("</tbody></table>" + query_list())
            for f in sec.figures:
                if f.note and (f.verdict in ("fail", "no_data") or f.test):
                    out.append(f'<p class="note"><strong>{escape(f.name)}</strong> '
                               f"({escape(fmt.labels(f.labels))}): {escape(f.note)}</p>")
            for f in sec.figures:
                if f.name == "availability" and f.value is not None:
                    out.append(_availability_chart(r, f))
                elif f.points:
                    out.append(_band_chart(r, f))
            for f in sec.figures:
                if f.details:
                    out.append(f"<h3>{escape(f.name)} <span class=\"muted\">"
                               f"({escape(fmt.labels(f.labels))})</span></h3>{_details(f.details)}")
        out.extend(f'<p class="note"><em>{escape(n)}</em></p>' for n in sec.notes)
        out.append("</section>")
    out.append('<section id="not-evaluated"><h2>Not evaluated</h2>')
    if r.not_evaluated:
        out.append("<ul>" + "".join(
            f"<li><strong>{escape(n.name)}</strong> ({escape(fmt.labels(n.labels))}): {escape(n.reason)}"
            + (f' <code>{escape(" ".join(n.query.split()))}</code>' if n.query else "") + "</li>"
            for n in r.not_evaluated) + "</ul>")
    else:
        out.append("<p>Everything was evaluated.</p>")
    out.append("</section></body></html>")
    return "".join(out)

