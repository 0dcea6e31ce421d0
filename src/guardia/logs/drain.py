"""Log patterns (``/loki/api/v1/patterns``): lines clustered into templates, Drain style.

A line is cut into tokens: runs of non-space characters, with ``key=`` kept apart from its
value so logfmt values vary on their own (``duration=<_>``), and the spaces between them.
Lines are grouped by token count and by their first tokens (a token holding a digit counts as
a variable there, as in Drain's prefix tree); inside a group a line joins the most similar
template when at least ``SIMILARITY`` of its tokens are equal, and the tokens that differ
become ``<_>``; otherwise it starts a template of its own.  A template is written as Loki writes
patterns, usable in a LogQL pattern filter or parser: ``ts=<_> level=info msg=<_>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

VAR = "<_>"
SIMILARITY = 0.3  # Loki's drain sim_th
PREFIX_TOKENS = 2  # Drain's tree depth less the length level
MAX_TEMPLATES_PER_GROUP = 100
MAX_TOKENS = 80  # longer lines are cut: their tail becomes one variable

_TOKEN = re.compile(r"\s+|[^\s=]+=(?=\S)|\S+")
_DIGIT = re.compile(r"\d")


def tokenize(line: str) -> list[str]:
    toks = _TOKEN.findall(line)
    if len(toks) > MAX_TOKENS:
        toks = [*toks[: MAX_TOKENS - 1], VAR]
    return toks


@dataclass
class Template:
    tokens: list[str]
    count: int = 0
    # step start (ns) -> lines
    samples: dict[int, int] = field(default_factory=dict)

    def text(self) -> str:
        out: list[str] = []
        for t in self.tokens:
            if t == VAR and out and out[-1] == VAR:
                continue  # two captures in a row are one variable
            out.append(t)
        return "".join(out)


def _similarity(template: list[str], toks: list[str]) -> float:
    same = total = 0
    for a, b in zip(template, toks, strict=True):
        if b.isspace():
            continue
        total += 1
        if a == b:
            same += 1
    return same / total if total else 1.0


class Drain:
    def __init__(self) -> None:
        self.groups: dict[tuple[int, tuple[str, ...]], list[Template]] = {}

    def _key(self, toks: list[str]) -> tuple[int, tuple[str, ...]]:
        words = [t for t in toks if not t.isspace()][:PREFIX_TOKENS]
        return len(toks), tuple(VAR if _DIGIT.search(w) else w for w in words)

    def add(self, line: str, ts_ns: int = 0, step_ns: int = 0) -> Template:
        toks = tokenize(line)
        group = self.groups.setdefault(self._key(toks), [])
        best: Template | None = None
        best_sim = -1.0
        for tpl in group:
            sim = _similarity(tpl.tokens, toks)
            if sim > best_sim:
                best, best_sim = tpl, sim
        if best is None or best_sim < SIMILARITY:
            if best is None or len(group) < MAX_TEMPLATES_PER_GROUP:
                best = Template(toks)
                group.append(best)
        else:
            best.tokens = [a if a == b else VAR for a, b in zip(best.tokens, toks, strict=True)]
        best.count += 1
        if step_ns:
            bucket = ts_ns - ts_ns % step_ns
            best.samples[bucket] = best.samples.get(bucket, 0) + 1
        return best

    def templates(self) -> list[Template]:
        """Every template, the most frequent first; templates that came to the same text merged."""
        merged: dict[str, Template] = {}
        for group in self.groups.values():
            for tpl in group:
                text = tpl.text()
                have = merged.get(text)
                if have is None:
                    merged[text] = Template(tpl.tokens, tpl.count, dict(tpl.samples))
                else:
                    have.count += tpl.count
                    for k, v in tpl.samples.items():
                        have.samples[k] = have.samples.get(k, 0) + v
        return sorted(merged.values(), key=lambda t: -t.count)


def detect(lines: Iterable[tuple[int, str]], step_ns: int) -> list[Template]:
    d = Drain()
    for ts, line in lines:
        d.add(line, ts, step_ns)
    return d.templates()
