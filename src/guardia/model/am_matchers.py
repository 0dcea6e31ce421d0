"""Alertmanager's matcher grammar: ``{name="value", other=~"re"}`` in alertmanager.yml
(``matchers:``, ``source_matchers:``), amtool arguments and the API's ``filter`` parameter.

It is a different language from PromQL's selectors (bare values, Alertmanager's escaping), and
is read by config, alerting, web and the CLI alike, so it sits in ``model`` beside ``Matcher``.
``format_matchers`` writes the spelling Alertmanager uses in route keys, hence in group keys.
"""

from __future__ import annotations

import re

from guardia.model.gostrings import go_quote
from guardia.model.matchers import Matcher, MatcherError, MatchType

_MATCHER_RE = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*(.*?)\s*$", re.DOTALL)


def parse_am_matcher(text: str) -> Matcher:
    """One matcher as Alertmanager reads it: ``name op value``, value quoted or bare."""
    m = _MATCHER_RE.match(text)
    if not m:
        raise MatcherError(f"bad matcher format: {text}")
    raw = m.group(3)
    expect_quote = raw.startswith('"')
    if expect_quote:
        raw = raw[1:]
    out: list[str] = []
    escaped = False
    for i, ch in enumerate(raw):
        if escaped:
            escaped = False
            if ch == "n":
                out.append("\n")
            elif ch in '"\\':
                out.append(ch)
            else:
                out.append("\\" + ch)
            continue
        if ch == "\\":
            if i < len(raw) - 1:
                escaped = True
                continue
            out.append("\\")
        elif ch == '"':
            if not expect_quote or i < len(raw) - 1:
                raise MatcherError(f"matcher value contains unescaped double quote: {m.group(3)}")
            expect_quote = False
        else:
            out.append(ch)
    if expect_quote:
        raise MatcherError(f"missing terminating double quote: {m.group(3)}")
    return Matcher(m.group(1), MatchType.parse(m.group(2)), "".join(out))


def parse_am_matchers(text: str) -> list[Matcher]:
    """``{a="b", c=~d}`` or ``a=b,c=d``: comma-separated, commas inside quotes kept."""
    s = text.strip()
    if s.startswith("{"):
        s = s[1:]
    if s.endswith("}"):
        s = s[:-1]
    tokens: list[str] = []
    tok: list[str] = []
    in_quotes = escaped = False
    for ch in s:
        if ch == "," and not in_quotes:
            tokens.append("".join(tok))
            tok = []
            continue
        if ch == '"':
            if not escaped:
                in_quotes = not in_quotes
            else:
                escaped = False
        elif ch == "\\":
            escaped = not escaped
        else:
            escaped = False
        tok.append(ch)
    last = "".join(tok).strip()
    if last:
        tokens.append(last)
    return [parse_am_matcher(t) for t in tokens]


def sort_matchers(ms: list[Matcher]) -> list[Matcher]:
    """Alertmanager's order: by name, then value, then operator (``=`` < ``!=`` < ``=~`` < ``!~``)."""
    order = {MatchType.EQUAL: 0, MatchType.NOT_EQUAL: 1, MatchType.REGEX: 2, MatchType.NOT_REGEX: 3}
    return sorted(ms, key=lambda m: (m.name, m.value, order[m.type]))


def format_matchers(ms: list[Matcher] | tuple[Matcher, ...]) -> str:
    """``{a="b",c=~"d"}``: the spelling Alertmanager uses inside route keys."""
    return "{" + ",".join(_go_quote_matcher(m) for m in ms) + "}"


def _go_quote_matcher(m: Matcher) -> str:
    return f"{m.name}{m.type.value}{go_quote(m.value)}"
