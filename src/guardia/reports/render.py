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
    raise ValueError(f"unknown report format {fmt!r}")
