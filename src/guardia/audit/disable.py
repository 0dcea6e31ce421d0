"""Silencing a finding in the file it concerns, with a comment (pint's ``# pint disable``).

Three forms, written in any YAML file the audit reads (rule files, prometheus.yml,
alertmanager.yml, guardia.yml)::

    # guardia disable CHECK[(ARG)] [CHECK...]       for the list item it touches
    # guardia snooze 2026-12-31 CHECK[(ARG)]        the same, until that date (UTC)
    # guardia file/disable CHECK[(ARG)]             for the whole file

A comment *touches* a list item (a rule, a route, a receiver, a scrape job) when it is inside
it, or on the lines right above it with no blank line between, as pint requires.  ``ARG``
narrows the comment to one finding of the check (a metric name, a job, a receiver).  A
comment that touches nothing is itself reported (``audit/comment``), so a misplaced one does
not silently stop working.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from guardia.audit.finding import Finding, Severity

_COMMENT = re.compile(r"#\s*guardia\s+(disable|file/disable|snooze)\s+(.*)$")
_NAME = re.compile(r"([\w/.-]+)(?:\(([^)]*)\))?")


@dataclass(frozen=True, slots=True)
class Directive:
    check: str
    arg: str
    start: int  # the span of lines (1-based, inclusive) it silences
    end: int

    def covers(self, f: Finding) -> bool:
        if f.check != self.check and self.check != "all":
            return False
        if self.arg and self.arg != f.arg:
            return False
        return f.line is None or self.start <= f.line <= self.end


@dataclass(slots=True)
class FileDirectives:
    directives: list[Directive] = field(default_factory=list)
    dangling: list[Finding] = field(default_factory=list)


def _item_spans(text: str) -> list[tuple[int, int]]:
    """(first line, last line) of every list item in the document, outermost first."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return []
    spans: list[tuple[int, int]] = []

    def walk(node: yaml.Node) -> None:
        if isinstance(node, yaml.SequenceNode):
            for item in node.value:
                end = item.end_mark.line + (1 if item.end_mark.column > 0 else 0)
                spans.append((item.start_mark.line + 1, max(end, item.start_mark.line + 1)))
                walk(item)
        elif isinstance(node, yaml.MappingNode):
            for _, v in node.value:
                walk(v)

    if root is not None:
        walk(root)
    return spans


def _target(lines: list[str], spans: list[tuple[int, int]], at: int) -> tuple[int, int] | None:
    """The item a comment on line ``at`` touches: the one starting right below the comment
    block, else the innermost one containing the line."""
    nxt = at + 1
    while nxt <= len(lines) and lines[nxt - 1].strip().startswith("#"):
        nxt += 1
    if nxt <= len(lines) and not lines[nxt - 1].strip():
        return None  # a blank line between: it touches nothing (as pint reads it)
    starting = [s for s in spans if s[0] == nxt]
    if starting:
        return min(starting, key=lambda s: s[1] - s[0])
    inside = [s for s in spans if s[0] <= at <= s[1]]
    if inside:
        return min(inside, key=lambda s: s[1] - s[0])
    return None


def read_directives(path: str, now: datetime | None = None) -> FileDirectives:
    out = FileDirectives()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return out
    if "guardia" not in text:
        return out
    lines = text.splitlines()
    spans: list[tuple[int, int]] | None = None
    today = now or datetime.now(UTC)
    for i, line in enumerate(lines, 1):
        m = _COMMENT.search(line)
        if m is None:
            continue
        kind, rest = m.group(1), m.group(2).strip()
        if kind == "snooze":
            until_text, _, rest = rest.partition(" ")
            try:
                until = datetime.fromisoformat(until_text.replace("Z", "+00:00"))
            except ValueError:
                out.dangling.append(Finding(
                    "audit/comment", Severity.WARNING, path, i,
                    f"cannot read the date {until_text!r} in this snooze comment: write "
                    "'# guardia snooze YYYY-MM-DD CHECK'", arg=until_text))
                continue
            if until.tzinfo is None:
                until = until.replace(tzinfo=UTC)
            if until <= today:
                continue
        names = [(n.group(1), n.group(2) or "") for n in _NAME.finditer(rest)]
        if kind == "file/disable":
            out.directives += [Directive(c, a, 1, max(len(lines), 1)) for c, a in names]
            continue
        if spans is None:
            spans = _item_spans(text)
        # a comment at the end of a line belongs to the item on that line
        if line.lstrip().startswith("#"):
            target = _target(lines, spans, i)
        else:
            inside = [s for s in spans if s[0] <= i <= s[1]]
            target = min(inside, key=lambda s: s[1] - s[0]) if inside else None
        if target is None:
            out.dangling.append(Finding(
                "audit/comment", Severity.WARNING, path, i,
                "this disable comment touches no rule, route, receiver or job, so it silences "
                "nothing: put it inside the item or on the line right above it",
                arg=",".join(c for c, _ in names)))
            continue
        out.directives += [Directive(c, a, target[0], target[1]) for c, a in names]
    return out


def apply(findings: list[Finding], now: datetime | None = None) -> list[Finding]:
    """``findings`` without the ones a comment in their file silences, plus misplaced comments."""
    cache: dict[str, FileDirectives] = {}
    kept: list[Finding] = []
    for f in findings:
        if f.file and f.file not in cache:
            cache[f.file] = read_directives(f.file, now)
        d = cache.get(f.file)
        if d is not None and any(x.covers(f) for x in d.directives):
            continue
        kept.append(f)
    for d in cache.values():
        kept += d.dangling
    return kept


def extra_files(findings: list[Finding], files: list[str], now: datetime | None = None) -> list[Finding]:
    """Misplaced comments in audited files that had no finding (so ``apply`` did not read them)."""
    seen = {f.file for f in findings}
    out: list[Finding] = []
    for p in files:
        if p not in seen:
            out += read_directives(p, now).dangling
    return out
