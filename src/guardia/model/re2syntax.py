"""Translate RE2 regular expressions (Prometheus's dialect) into Python ``re`` syntax.

Two RE2 features Python lacks show up in real queries: inline flags in the middle of a
pattern (``.*(?i)prod.*`` — RE2 applies them to the rest of the enclosing group, Python
only accepts them at the very start) and POSIX classes inside brackets (``[[:alpha:]]``).
Flags become scoped groups ``(?i:...)`` around the rest of each alternative they cover.
"""

from __future__ import annotations

import re

_FLAG_GROUP = re.compile(r"\(\?([imsU]*)(?:-([imsU]*))?\)")
_POSIX = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "0-9A-Za-z",
    "upper": "A-Z",
    "lower": "a-z",
    "space": r"\t\n\v\f\r ",
    "blank": r"\t ",
    "punct": r"!-/:-@\[-`{-~",
    "xdigit": "0-9A-Fa-f",
    "word": "0-9A-Za-z_",
    "cntrl": r"\x00-\x1f\x7f",
    "print": r" -~",
    "graph": r"!-~",
    "ascii": r"\x00-\x7f",
}


def translate(pattern: str) -> str:
    """Python-compatible equivalent of an RE2 ``pattern`` (unchanged if already fine)."""
    if "(?" not in pattern and "[:" not in pattern:
        return pattern
    out, _ = _group(pattern, 0, frozenset(), frozenset())
    return out


def _class(p: str, i: int) -> tuple[str, int]:
    """Copy a bracket expression starting at ``p[i] == '['``, expanding POSIX classes."""
    j = i + 1
    buf = ["["]
    if j < len(p) and p[j] == "^":
        buf.append("^")
        j += 1
    if j < len(p) and p[j] == "]":
        buf.append(r"\]")
        j += 1
    while j < len(p) and p[j] != "]":
        if p[j] == "\\" and j + 1 < len(p):
            buf.append(p[j : j + 2])
            j += 2
            continue
        m = re.match(r"\[:(\^?)([a-z]+):\]", p[j:])
        if m and m.group(2) in _POSIX and not m.group(1):
            buf.append(_POSIX[m.group(2)])
            j += m.end()
            continue
        if p[j] == "[":
            buf.append(r"\[")
        else:
            buf.append(p[j])
        j += 1
    buf.append("]")
    return "".join(buf), j + 1


def _flags(on: frozenset[str], off: frozenset[str]) -> str:
    s = "".join(sorted(on - {"U"}))
    o = "".join(sorted(off - {"U"}))
    return s + (f"-{o}" if o else "")


def _group(p: str, i: int, on: frozenset[str], off: frozenset[str]) -> tuple[str, int]:
    """Translate up to the ``)`` closing the current group (or the end); returns the text
    and the index just past the group's content."""
    alts: list[str] = []
    segs: list[tuple[str, str]] = []  # (flags, text) pieces of the current alternative
    cur_flags = ""
    text: list[str] = []

    def flush() -> None:
        if text:
            segs.append((cur_flags, "".join(text)))
            text.clear()

    while i < len(p):
        c = p[i]
        if c == "\\" and i + 1 < len(p):
            text.append(p[i : i + 2])
            i += 2
        elif c == "[":
            s, i = _class(p, i)
            text.append(s)
        elif c == "(":
            m = _FLAG_GROUP.match(p, i)
            if m:
                flush()
                on = (on | set(m.group(1))) - set(m.group(2) or "")
                off = (off | set(m.group(2) or "")) - set(m.group(1))
                cur_flags = _flags(on, off)
                i = m.end()
                continue
            m2 = re.match(r"\((\?(?:P?<[A-Za-z_][A-Za-z0-9_]*>|[imsU-]*:))?", p[i:])
            prefix = m2.group(0) if m2 else "("
            inner, i = _group(p, i + len(prefix), on, off)
            text.append(prefix + inner + ")")
            i += 1  # the closing paren
        elif c == ")":
            break
        elif c == "|":
            flush()
            alts.append(_join(segs))
            segs = []
            i += 1
        else:
            text.append(c)
            i += 1
    flush()
    alts.append(_join(segs))
    return "|".join(alts), i


def _join(segs: list[tuple[str, str]]) -> str:
    return "".join(f"(?{f}:{t})" if f else t for f, t in segs)
