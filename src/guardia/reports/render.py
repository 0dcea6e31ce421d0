"""A report in the format asked for, as bytes (PDF is binary)."""

from __future__ import annotations

import json

from guardia.reports.figures import Report


def render(report: Report, fmt: str, explore_base: str = "") -> bytes:
    if fmt == "json":
        return (json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n").encode()
    if fmt == "md":
        from guardia.reports.markdown import render_markdown

        return render_markdown(report).encode()
    if fmt == "html":
        from guardia.reports.html import render_html

        return render_html(report, explore_base).encode()
    if fmt == "pdf":
        from guardia.reports.html import render_html
        from guardia.reports.pdf import html_to_pdf

        return html_to_pdf(render_html(report, explore_base))
    raise ValueError(f"unknown report format {fmt!r}")
