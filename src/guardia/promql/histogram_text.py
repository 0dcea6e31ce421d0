"""The promqltest notation of native histograms: ``{{schema:0 sum:5 count:4 buckets:[1 2 1]}}``.

Used by ``load`` lines (with ``{{a}}+{{b}}x3`` / ``{{a}}-{{b}}x3`` / ``{{a}}x3`` expansion,
mixed freely with float points, ``_`` and ``stale``) and by eval expectations.  Keys as
Prometheus's series-description lexer knows them: ``schema``, ``sum``, ``count``,
``z_bucket``, ``z_bucket_w``, ``buckets`` + ``offset``, ``n_buckets`` + ``n_offset``,
``custom_values`` and ``counter_reset_hint`` (``unknown``, ``reset``, ``not_reset``,
``gauge``).
"""

from __future__ import annotations

import re

from guardia.model.histogram import HINT_NAMES, FloatHistogram, HistogramError

_PAIR = re.compile(r"\s*([a-z_]+)\s*:\s*(\[[^\]]*\]|[^\s\[\]]+)")
_SUFFIX = re.compile(r"(?:x(\d+)|([+-])\{\{(.*?)\}\}x(\d+))")


class HistogramSyntaxError(ValueError):
    """A malformed ``{{...}}``: the message names the key or the text at fault."""


def _num(s: str) -> float:
    low = s.lower()
    if low in ("inf", "+inf"):
        return float("inf")
    if low == "-inf":
        return float("-inf")
    try:
        return float(s)
    except ValueError:
        raise HistogramSyntaxError(f"invalid number {s!r} in histogram") from None


def parse_histogram(body: str) -> FloatHistogram:
    """One histogram from the text between ``{{`` and ``}}``."""
    h = FloatHistogram()
    pos: list[float] = []
    neg: list[float] = []
    offset = n_offset = 0
    i = 0
    body = body.strip()
    while i < len(body):
        m = _PAIR.match(body, i)
        if not m:
            raise HistogramSyntaxError(f"invalid histogram description at {body[i:]!r}")
        key, val = m.group(1), m.group(2)
        i = m.end()
        is_list = val.startswith("[")
        items = [_num(x) for x in val[1:-1].split()] if is_list else []
        if (key in ("buckets", "n_buckets", "custom_values")) != is_list:
            raise HistogramSyntaxError(f"histogram key {key!r} takes a list [...]")
        if key == "schema":
            h.schema = int(_num(val))
        elif key == "sum":
            h.sum = _num(val)
        elif key == "count":
            h.count = _num(val)
        elif key == "z_bucket":
            h.zero_count = _num(val)
        elif key == "z_bucket_w":
            h.zero_threshold = _num(val)
        elif key == "buckets":
            pos = items
        elif key == "n_buckets":
            neg = items
        elif key == "offset":
            offset = int(_num(val))
        elif key == "n_offset":
            n_offset = int(_num(val))
        elif key == "custom_values":
            h.custom_values = items
        elif key == "counter_reset_hint":
            if val not in HINT_NAMES:
                raise HistogramSyntaxError(
                    f"invalid counter_reset_hint {val!r}: one of {', '.join(HINT_NAMES)}"
                )
            h.counter_reset_hint = HINT_NAMES[val]
        else:
            raise HistogramSyntaxError(f"unknown histogram key {key!r}")
    h.positive = {offset + k: c for k, c in enumerate(pos)}
    h.negative = {n_offset + k: c for k, c in enumerate(neg)}
    return h


def split_tokens(text: str) -> list[str]:
    """Whitespace-separated tokens, a ``{{...}}`` (with its expansion suffix) kept whole."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text.startswith("{{", i):
            j = text.find("}}", i)
            if j < 0:
                raise HistogramSyntaxError(f"unclosed histogram at {text[i:]!r}")
            j += 2
            m = _SUFFIX.match(text, j)
            if m:
                j = m.end()
            out.append(text[i:j])
            i = j
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        out.append(text[i:j])
        i = j
    return out


def expand_histogram(token: str) -> list[FloatHistogram]:
    """``{{a}}`` → [a]; ``{{a}}x2`` → [a, a, a]; ``{{a}}+{{b}}x2`` → [a, a+b, a+2b]."""
    j = token.find("}}")
    base = parse_histogram(token[2:j])
    rest = token[j + 2 :]
    if not rest:
        return [base]
    m = _SUFFIX.fullmatch(rest)
    if not m:
        raise HistogramSyntaxError(f"invalid histogram expansion {rest!r}")
    if m.group(1) is not None:
        return [base.copy() for _ in range(int(m.group(1)) + 1)]
    inc = parse_histogram(m.group(3))
    out = [base]
    cur = base
    for _ in range(int(m.group(4))):
        if cur.schema > inc.schema and not cur.uses_custom_buckets:
            raise HistogramSyntaxError(
                f"error combining histograms: cannot merge from schema {inc.schema} to {cur.schema}"
            )
        try:
            cur, _r = cur.add(inc) if m.group(2) == "+" else cur.sub(inc)
        except HistogramError as e:
            raise HistogramSyntaxError(f"error combining histograms: {e}") from None
        out.append(cur)
    return out
