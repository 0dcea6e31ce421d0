"""Every PromQL parse error says where: ``line:col: parse error: ...``, as Prometheus does.

The compiled grammar answers some inputs with a bare "invalid promql query"; the position is
then found by the first token after which no completion parses, or the end of the input.
"""

from __future__ import annotations

import re

import pytest

from guardia.promql.errors import ParseError
from guardia.promql.parse import parse

# query -> the position and message Prometheus 3 gives
LIKE_PROMETHEUS = {
    "up +": "1:5: parse error: unexpected end of input",
    "1 +* 2": '1:4: parse error: unexpected "*"',
    "foo bar": '1:5: parse error: unexpected "bar"',
    "sum(x) by": "1:10: parse error: unexpected end of input",
    "sum by (job) (rate(x[5m])) /": "1:29: parse error: unexpected end of input",
    "a and": "1:6: parse error: unexpected end of input",
}

BAD = [
    "up +", "1 +* 2", "foo bar", "sum(rate(x[5m])", 'foo{a="b"', "rate(x[5m)", "up[5m", "x offset",
    "sum(x) by", "up == bool", "rate(x[5m]) > on() group_left", "histogram_quantile(0.9, x) )",
    "sum(x) without", "topk(", "{}", "up{", "count_values(", "x[5m:", "up @", "1 2", "(", ")", "*",
    "sum(rate(x{a=\"b\"}[5m])) by (job) / on(job) foo bar", "foo\n  +\n  * bar", "nosuchfn(x)",
    "rate(x)", "'unterminated", "x{a=~\"(\"}", "up[5x]",
]


@pytest.mark.parametrize("query", list(LIKE_PROMETHEUS))
def test_position_and_message_as_prometheus(query: str) -> None:
    with pytest.raises(ParseError) as e:
        parse(query)
    assert str(e.value) == LIKE_PROMETHEUS[query]


@pytest.mark.parametrize("query", BAD)
def test_every_parse_error_has_a_position(query: str) -> None:
    with pytest.raises(ParseError) as e:
        parse(query)
    assert re.match(r"^\d+:\d+: parse error: ", str(e.value)), str(e.value)
    assert e.value.line is not None and e.value.column is not None
    lines = query.split("\n")
    assert 1 <= e.value.line <= len(lines)
    assert 1 <= e.value.column <= len(lines[e.value.line - 1]) + 1


def test_the_multiline_position_is_on_the_right_line() -> None:
    with pytest.raises(ParseError) as e:
        parse("foo\n  +\n  * bar")
    assert (e.value.line, e.value.column) == (3, 3)
