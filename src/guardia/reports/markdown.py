"""The report as Markdown: one table per section, the rows behind each count, and every
figure's PromQL as a footnote."""

from __future__ import annotations

from typing import Any

from guardia.reports import fmt
from guardia.reports.figures import Figure, Report

MAX_DETAIL_ROWS = 20


def _cell(v: Any) -> str:
    if isinstance(v, dict):
        v = ", ".join(f"{k}={x}" for k, x in v.items())
    elif isinstance(v, list):
        v = ", ".join(str(x) for x in v)
    elif isinstance(v, float):
        v = f"{v:.4g}"
    elif v is None:
        v = "–"
    return str(v).replace("|", "\\|").replace("\n", " ")


def details_table(rows: list[dict[str, Any]]) -> list[str]:
    cols: list[str] = []
    for r in rows[:MAX_DETAIL_ROWS]:
        cols.extend(k for k in r if k not in cols)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in rows[:MAX_DETAIL_ROWS]]
    if len(rows) > MAX_DETAIL_ROWS:
        out.append(f"\n… and {len(rows) - MAX_DETAIL_ROWS} more (all of them in the JSON report)")
    return out


class _Notes:
    """Footnotes, one per distinct query."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def ref(self, f: Figure) -> str:
        text = f"`{_one_line(f.query)}`" if f.query else "(no query)"
        if f.baseline_query and f.baseline_query != f.query:
            text += f"; baseline: `{_one_line(f.baseline_query)}`"
        if f.test and f.test.get("query"):
            text += f"; per interval: `{_one_line(str(f.test['query']))}`"
        n = self.ids.setdefault(text, len(self.ids) + 1)
        return f"[^{n}]"

    def lines(self) -> list[str]:
        return [f"[^{n}]: {text}" for text, n in self.ids.items()]


def _one_line(q: str) -> str:
    return " ".join(q.split()).replace("`", "'")


def render_markdown(r: Report) -> str:
    notes = _Notes()
    out = [f"# {r.title}", ""]
    out.append(f"- Window: {fmt.when(r.start_ms)} → {fmt.when(r.end_ms)} "
               f"({fmt.seconds((r.end_ms - r.start_ms) / 1000)})"
               + (f", since the deployment of {r.since_deploy}" if r.since_deploy else ""))
    out.append(f"- Baseline: {fmt.when(r.baseline_start_ms)} → {fmt.when(r.baseline_end_ms)} "
               f"(per-interval values every {fmt.seconds(r.interval_ms / 1000)})")
    out.append(f"- Service: {r.service or 'all'}; data: {r.source}; generated {fmt.when(r.generated_ms)}")
    if r.coverage:
        out.append(f"- Data coverage: {r.coverage.get('summary', '')}")
    if r.score is not None:
        s = r.score
        shown = "no checks could be evaluated" if s.value is None else f"**{s.value:g}/10**"
        out += ["", f"**Score:** {shown} — {s.passed} passed, {s.failed} failed, {s.no_data} without data.",
                "", f"*{s.formula}.*"]
    for sec in r.sections:
        out += ["", f"## {sec.title}", ""]
        if sec.figures:
            out += ["| figure | labels | value | baseline | change | target | verdict | query |",
                    "|---|---|---|---|---|---|---|---|"]
            for f in sec.figures:
                out.append(f"| {f.name} | {_cell(fmt.labels(f.labels))} | {fmt.value(f.value, f.unit)} | "
                           f"{fmt.value(f.baseline, f.unit) if f.baseline_query else ''} | {fmt.change(f)} | "
                           f"{fmt.target(f)} | {fmt.VERDICT_WORD[f.verdict]} | {notes.ref(f)} |")
            for f in sec.figures:
                if f.note and (f.verdict in ("fail", "no_data") or f.test):
                    out.append(f"\n- {f.name} ({fmt.labels(f.labels)}): {f.note}")
            for f in sec.figures:
                if f.details:
                    out += ["", f"**{f.name}** ({fmt.labels(f.labels)}):", "", *details_table(f.details)]
        else:
            out.append("Nothing to report: no series for this section.")
        for n in sec.notes:
            out += ["", f"*{n}*"]
    out += ["", "## Not evaluated", ""]
    if r.not_evaluated:
        for ne in r.not_evaluated:
            q = f" — `{_one_line(ne.query)}`" if ne.query else ""
            out.append(f"- **{ne.name}** ({fmt.labels(ne.labels)}): {ne.reason}{q}")
    else:
        out.append("Everything was evaluated.")
    out += ["", *notes.lines(), ""]
    return "\n".join(out)
