"""Label matchers (``=``, ``!=``, ``=~``, ``!~``) with Prometheus semantics.

Regular expressions are fully anchored and ``.`` matches newlines, as Prometheus compiles
them (``^(?s:re)$``).  A matcher against a missing label sees the empty string, so
``{foo=""}`` selects series without ``foo`` and ``{foo!=""}`` those that have it.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from functools import lru_cache

from guardia.model.labels import Labels, escape_label_value
from guardia.model.re2syntax import translate


class MatcherError(ValueError):
    """A matcher that cannot be built, e.g. an invalid regular expression."""


class MatchType(enum.Enum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"

    @classmethod
    def parse(cls, op: str) -> MatchType:
        for m in cls:
            if m.value == op:
                return m
        raise MatcherError(f"unknown match operator {op!r}; use one of =, !=, =~, !~")


_RE2_UNSUPPORTED = re.compile(r"\(\?[=!<]|\\[1-9]")


@lru_cache(maxsize=4096)
def compile_anchored(pattern: str) -> re.Pattern[str]:
    """Compile a Prometheus regex: dot matches newline; callers use ``fullmatch`` to anchor.

    RE2 (the engine Prometheus uses) has no look-around and no back-references; they are
    refused here too, so a config valid for guardia is valid for Prometheus.  RE2 features
    Python spells differently (mid-pattern flags, POSIX classes) are translated first.
    """
    if _RE2_UNSUPPORTED.search(pattern):
        raise MatcherError(
            f"invalid regular expression {pattern!r}: look-around and back-references are not "
            "supported (Prometheus uses RE2 syntax)"
        )
    try:
        return re.compile(translate(pattern), re.DOTALL)
    except re.error as e:
        raise MatcherError(f"invalid regular expression {pattern!r}: {e}") from None


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    type: MatchType
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        if self.type in (MatchType.REGEX, MatchType.NOT_REGEX):
            object.__setattr__(self, "_regex", compile_anchored(self.value))

    @classmethod
    def equal(cls, name: str, value: str) -> Matcher:
        return cls(name, MatchType.EQUAL, value)

    @classmethod
    def parse(cls, name: str, op: str, value: str) -> Matcher:
        return cls(name, MatchType.parse(op), value)

    def matches(self, value: str) -> bool:
        t = self.type
        if t is MatchType.EQUAL:
            return value == self.value
        if t is MatchType.NOT_EQUAL:
            return value != self.value
        assert self._regex is not None
        hit = self._regex.fullmatch(value) is not None
        return hit if t is MatchType.REGEX else not hit

    def matches_labels(self, labels: Labels) -> bool:
        return self.matches(labels.get(self.name))

    @property
    def matches_empty(self) -> bool:
        """Whether a series lacking this label is selected: decides index strategy."""
        return self.matches("")

    def __str__(self) -> str:
        return f'{self.name}{self.type.value}"{escape_label_value(self.value)}"'


def matches_all(matchers: list[Matcher] | tuple[Matcher, ...], labels: Labels) -> bool:
    return all(m.matches(labels.get(m.name)) for m in matchers)


_MATCHER_RE = re.compile(
    r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*'
)


def parse_matchers(text: str) -> list[Matcher]:
    """Parse a series selector: ``up{a="b", c=~"d"}``, ``{a="b"}`` or ``a="b",c=~"d"``.

    Values must be double-quoted; a bare metric name before the braces becomes a
    ``__name__`` equality matcher.  Alertmanager's grammar (bare values, ``{a=b}``) is a
    different language and lives in ``guardia.model.am_matchers``.
    """
    s = text.strip()
    out: list[Matcher] = []
    m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|$)", s)
    if m:
        out.append(Matcher.equal("__name__", m.group(1)))
        s = s[m.end():].strip()
    if s.startswith("{"):
        if not s.endswith("}"):
            raise MatcherError(f"unclosed brace in matcher list {text!r}")
        s = s[1:-1]
    pos = 0
    while pos < len(s):
        mm = _MATCHER_RE.match(s, pos)
        if not mm:
            raise MatcherError(f"cannot parse matcher at {s[pos:]!r} in {text!r}")
        raw = mm.group(3)
        value = re.sub(r"\\(.)", lambda g: {"n": "\n", "t": "\t"}.get(g.group(1), g.group(1)), raw)
        out.append(Matcher.parse(mm.group(1), mm.group(2), value))
        pos = mm.end()
        if pos < len(s):
            if s[pos] != ",":
                raise MatcherError(f"expected ',' at {s[pos:]!r} in {text!r}")
            pos += 1
    return out
