import pytest

from guardia.model import Matcher, MatcherError, MatchType
from guardia.model.matchers import parse_matchers

CASES = [
    # (op, pattern, value, expected)
    ("=", "api", "api", True),
    ("=", "api", "api2", False),
    ("=", "", "", True),
    ("!=", "api", "web", True),
    ("!=", "", "", False),
    ("=~", "api", "api", True),
    ("=~", "api", "my-api", False),  # fully anchored
    ("=~", "api", "api-2", False),
    ("=~", "5..", "503", True),
    ("=~", "5..", "1503", False),
    ("=~", "a|b", "b", True),
    ("=~", ".*", "", True),
    ("=~", ".+", "", False),
    ("=~", "a.b", "a\nb", True),  # dot matches newline, as (?s)
    ("!~", "5..", "200", True),
    ("!~", "5..", "500", False),
    ("!~", "", "", False),
    ("=~", "(?i)API", "api", True),
]


@pytest.mark.parametrize(("op", "pattern", "value", "expected"), CASES)
def test_matcher_semantics(op: str, pattern: str, value: str, expected: bool) -> None:
    assert Matcher.parse("l", op, pattern).matches(value) is expected


def test_invalid_regex_is_a_clear_error() -> None:
    with pytest.raises(MatcherError, match="invalid regular expression"):
        Matcher("a", MatchType.REGEX, "(")


def test_lookaround_is_refused_like_re2() -> None:
    with pytest.raises(MatcherError, match="RE2"):
        Matcher("a", MatchType.REGEX, "(?=x)x")


def test_matches_empty_decides_selector_validity() -> None:
    assert Matcher.parse("a", "=~", ".*").matches_empty
    assert not Matcher.parse("a", "=~", ".+").matches_empty


def test_parse_matchers_forms() -> None:
    ms = parse_matchers('up{job="api", status=~"5..",x!="a\\"b"}')
    assert [str(m) for m in ms] == ['__name__="up"', 'job="api"', 'status=~"5.."', 'x!="a\\"b"']
    assert parse_matchers('alertname="APIDown"')[0].value == "APIDown"
    with pytest.raises(MatcherError):
        parse_matchers("{job=api}")


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("prod-(?i)EU.*", "prod-eu-west", True),
        ("prod-(?i)EU.*", "PROD-eu-west", False),
        ("[[:digit:]]+", "123", True),
        ("[[:alpha:]]+", "abc1", False),
    ],
)
def test_re2_only_syntax_is_understood(pattern: str, value: str, expected: bool) -> None:
    m = Matcher.parse("l", "=~", pattern)
    assert m.matches(value) is expected
    assert m.value == pattern  # the user's spelling is kept for display and APIs
