"""Loki's ``pattern`` parser expressions: ``<ip> - - [<_>] "<method> <path> <_>" <status>``.

Literals are found left to right; each capture takes the text up to the next literal (the last
one takes the rest of the line).  A pattern starting with a literal must match at the start.
"""

from __future__ import annotations

import re

from guardia.logs.errors import QueryError


def compile_pattern(pattern: str) -> list[tuple[str, str]]:
    """A pattern expression as (kind, text) parts: ``lit`` literals and ``cap`` captures
    (``<_>`` is an unnamed capture).  Two captures in a row are refused, as Loki does."""
    parts: list[tuple[str, str]] = []
    pos = 0
    for m in re.finditer(r"<(_|[A-Za-z_][A-Za-z0-9_]*)>", pattern):
        if m.start() > pos:
            parts.append(("lit", pattern[pos : m.start()]))
        if parts and parts[-1][0] == "cap":
            raise QueryError(f"invalid pattern {pattern!r}: two captures must be separated by a literal")
        parts.append(("cap", m.group(1)))
        pos = m.end()
    if pos < len(pattern):
        parts.append(("lit", pattern[pos:]))
    if not any(k == "cap" and t != "_" for k, t in parts):
        raise QueryError(f"invalid pattern {pattern!r}: it needs at least one named capture such as <status>")
    seen: set[str] = set()
    for k, t in parts:
        if k == "cap" and t != "_":
            if t in seen:
                raise QueryError(f"invalid pattern {pattern!r}: capture <{t}> appears twice")
            seen.add(t)
    return parts


def match_pattern(parts: list[tuple[str, str]], line: str) -> list[tuple[str, str]] | None:
    out: list[tuple[str, str]] = []
    pos = 0
    for i, (kind, text) in enumerate(parts):
        if kind == "lit":
            if i == 0:
                if not line.startswith(text):
                    return None
                pos = len(text)
            continue
        nxt = parts[i + 1][1] if i + 1 < len(parts) else None
        if nxt is None:
            value = line[pos:]
            pos = len(line)
        else:
            j = line.find(nxt, pos)
            if j < 0:
                return None
            value = line[pos:j]
            pos = j + len(nxt)
        if text != "_":
            out.append((text, value))
    return out
