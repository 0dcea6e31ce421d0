"""Line filters on a whole chunk at once: the joined text is searched with ``bytes.find``.

``|= "500"`` over a chunk is a loop of ``find`` calls (C ``memchr``-speed) that jumps to the
next line after each hit; the hit positions become line numbers with one ``searchsorted``.
Regular expressions that are plain literals (or ``(?i)`` literals, or alternations of
literals) take the same path; other regular expressions are searched line by line inside
the joined text (``pattern.search(text, start, end)``, no slicing).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from guardia.logs.chunk import Lines
from guardia.logs.logql.ast import LineFilter
from guardia.model.re2syntax import translate

_META = set(".^$*+?{}[]\\|()")

Mask = npt.NDArray[np.bool_]


def literal_alternatives(pattern: str) -> tuple[list[str], bool] | None:
    """(literals, case-insensitive) when ``pattern`` is ``lit``, ``(?i)lit`` or ``a|b|c``."""
    fold = False
    p = pattern
    if p.startswith("(?i)"):
        fold, p = True, p[4:]
    parts = p.split("|")
    if any(not s or any(c in _META for c in s) for s in parts):
        return None
    return parts, fold


def contains_mask(lines: Lines, needles: list[bytes], fold: bool = False) -> Mask:
    n = len(lines)
    if n == 0:
        return np.zeros(0, dtype=bool)
    text = lines.text
    if fold:
        text = text.lower()
        needles = [x.lower() for x in needles]
    if any(not x for x in needles):
        return np.ones(n, dtype=bool)
    if any(b"\n" in x for x in needles):
        return np.fromiter(
            (
                any(x in text[s:e] for x in needles)
                for s, e in zip(lines.starts.tolist(), lines.ends.tolist(), strict=True)
            ),
            dtype=bool,
            count=n,
        )
    hits: list[int] = []
    hit_ends: list[int] = []
    find = text.find
    lo, hi = int(lines.starts[0]), int(lines.ends[-1])
    for x in needles:
        pos = find(x, lo, hi)
        while pos >= 0:
            hits.append(pos)
            hit_ends.append(pos + len(x))
            nl = find(b"\n", pos + len(x), hi)
            if nl < 0:
                break
            pos = find(x, nl + 1, hi)
    mask = np.zeros(n, dtype=bool)
    if hits:
        idx = np.searchsorted(lines.starts, np.asarray(hits, dtype=np.int64), side="right") - 1
        # ``lines`` may be a subset of the lines of ``text`` (a time range, a label filter): a
        # hit counts only inside one of them, not in a line left out between two
        inside = lines.ends[idx] >= np.asarray(hit_ends, dtype=np.int64)
        mask[idx[inside]] = True
    return mask


def regex_mask(lines: Lines, rx: re.Pattern[bytes]) -> Mask:
    search = rx.search
    text = lines.text
    return np.fromiter(
        (
            search(text, s, e) is not None
            for s, e in zip(lines.starts.tolist(), lines.ends.tolist(), strict=True)
        ),
        dtype=bool,
        count=len(lines),
    )


def compile_bytes_regex(pattern: str) -> re.Pattern[bytes]:
    return re.compile(translate(pattern).encode(), re.MULTILINE)


def chunk_filter(f: LineFilter) -> Callable[[Lines], Mask]:
    """A function giving the mask of lines of a chunk that pass ``f``."""
    negate = f.op in ("!=", "!~")
    fns: list[Callable[[Lines], Mask]] = []
    if f.op in ("|=", "!="):
        needles = [v.encode() for v in f.values]
        fns.append(lambda ls: contains_mask(ls, needles))
    else:
        lits: list[bytes] = []
        for v in f.values:
            alt = literal_alternatives(v)
            if alt is not None and not alt[1]:
                lits.extend(s.encode() for s in alt[0])
            elif alt is not None:
                folded = [s.encode() for s in alt[0]]
                fns.append(lambda ls, fd=folded: contains_mask(ls, fd, fold=True))  # type: ignore[misc]
            else:
                rx = compile_bytes_regex(v)
                fns.append(lambda ls, r=rx: regex_mask(ls, r))  # type: ignore[misc]
        if lits:
            fns.append(lambda ls: contains_mask(ls, lits))

    def run(ls: Lines) -> Mask:
        mask = fns[0](ls)
        for fn in fns[1:]:
            mask |= fn(ls)
        return ~mask if negate else mask

    return run


def line_predicate(f: LineFilter) -> Callable[[str], bool]:
    """The same filter on one (possibly rewritten) line, for filters after line_format."""
    if f.op in ("|=", "!="):
        vals = f.values
        if f.op == "|=":
            return lambda s: any(v in s for v in vals)
        return lambda s: not any(v in s for v in vals)
    rxs = [re.compile(translate(v), re.MULTILINE) for v in f.values]
    if f.op == "|~":
        return lambda s: any(r.search(s) is not None for r in rxs)
    return lambda s: not any(r.search(s) is not None for r in rxs)
