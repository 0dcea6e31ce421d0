"""Findings as text (one per line, ``FILE:LINE: Severity: check: message``), JSON (a list of
objects with at least check, severity, file, line, rule and message), Markdown (a table for a
pull request or a wiki) and SARIF 2.1.0 (for code-scanning UIs, which annotate the lines)."""

from __future__ import annotations

import json
from typing import Any

from guardia.audit.finding import Finding, Severity

FORMATS = ("text", "json", "md", "sarif")


def render(findings: list[Finding], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([f.to_dict() for f in findings], indent=2, ensure_ascii=False) + "\n"
    if fmt == "md":
        return markdown(findings)
    if fmt == "sarif":
        return json.dumps(sarif(findings), indent=2, ensure_ascii=False) + "\n"
    return text(findings)


def summary(findings: list[Finding]) -> str:
    by = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    def n(k: int, word: str) -> str:
        return f"{k} {word}" + ("" if k == 1 or word == "information" else "s")

    return (f"{n(len(findings), 'problem')}: {n(by[Severity.BUG], 'bug')}, "
            f"{n(by[Severity.WARNING], 'warning')}, {n(by[Severity.INFORMATION], 'information')}")


def text(findings: list[Finding]) -> str:
    lines = []
    for f in findings:
        rule = f' rule "{f.rule}":' if f.rule else ""
        lines.append(f"{f.location()}: {f.severity.label}: {f.check}:{rule} {f.message}")
    lines.append(summary(findings) if findings else "no problems found")
    return "\n".join(lines) + "\n"


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def markdown(findings: list[Finding]) -> str:
    out = ["# guardia audit", "", summary(findings), ""]
    if findings:
        out += ["| severity | check | where | rule | problem |", "|---|---|---|---|---|"]
        for f in sorted(findings, key=lambda f: (-f.severity, f.sort_key())):
            out.append(f"| {f.severity.label} | `{f.check}` | `{_cell(f.location())}` | "
                       f"{_cell(f.rule)} | {_cell(f.message)} |")
    return "\n".join(out) + "\n"


_SARIF_LEVEL = {Severity.BUG: "error", Severity.WARNING: "warning", Severity.INFORMATION: "note"}


def sarif(findings: list[Finding]) -> dict[str, Any]:
    rules = sorted({f.check for f in findings})
    results = []
    for f in findings:
        r: dict[str, Any] = {"ruleId": f.check, "level": _SARIF_LEVEL[f.severity],
                             "message": {"text": (f'rule "{f.rule}": ' if f.rule else "") + f.message}}
        if f.file:
            loc: dict[str, Any] = {"artifactLocation": {"uri": f.file}}
            if f.line:
                loc["region"] = {"startLine": f.line}
            r["locations"] = [{"physicalLocation": loc}]
        results.append(r)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "guardia audit", "informationUri": "https://github.com/guardia",
                                "rules": [{"id": c, "shortDescription": {"text": c}} for c in rules]}},
            "results": results,
        }],
    }
