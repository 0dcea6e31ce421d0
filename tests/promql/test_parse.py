"""The parser wrapper: conversions the binding gets wrong or leaves out."""

from __future__ import annotations

import re

import pytest

from guardia.model.re2syntax import translate
from guardia.promql import BadDataError, Engine, parse, plan
from guardia.storage.memory import MemoryStorage


@pytest.mark.parametrize(
    ("query", "at"),
    [
        ("foo @ -10", -10_000),
        ("foo @ 1.5", 1_500),
        ('foo{a="@ 3"} @ -2', -2_000),
        ("foo # a comment @ 5\n @ 10", 10_000),
        ("foo @ start()", "start"),
    ],
)
def test_at_modifier_values_come_from_the_text(query: str, at: int | str) -> None:
    node = parse(query)
    assert isinstance(node, plan.VectorSelector)
    assert node.at == at


def test_offsets_in_milliseconds() -> None:
    node = parse("rate(foo[5m] offset -1m30s)")
    assert isinstance(node, plan.Call)
    ms = node.args[0]
    assert isinstance(ms, plan.MatrixSelector)
    assert ms.range_ms == 300_000
    assert ms.selector.offset_ms == -90_000


@pytest.mark.parametrize(
    ("re2", "matches", "rejects"),
    [
        ("((?i)PRO).*", ["production", "PROD"], ["canary"]),
        (".*((?i)tion)", ["producTION"], ["production-x"]),
        ("a(?i)b|c", ["aB", "C"], ["AB"]),
        ("[[:digit:]]+", ["123"], ["12a"]),
    ],
)
def test_re2_patterns_translate(re2: str, matches: list[str], rejects: list[str]) -> None:
    rx = re.compile(translate(re2), re.DOTALL)
    assert all(rx.fullmatch(s) for s in matches)
    assert not any(rx.fullmatch(s) for s in rejects)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('count_values("a\\xc5z", foo)', 'invalid label name "a\\xc5z"'),
        (
            'label_replace(foo, "\\xff", "", "src", "(.*)")',
            "invalid destination label name in label_replace(): \\xff",
        ),
    ],
)
def test_invalid_utf8_label_names_are_refused(query: str, message: str) -> None:
    st = MemoryStorage()
    from guardia.model import Labels

    st.add_series(Labels.of(__name__="foo", src="x"), [0], [1.0])
    with pytest.raises(BadDataError) as ei:
        Engine().instant(st, query, 0)
    assert ei.value.message == message
    # A valid non-ASCII name is fine (Prometheus 3 accepts UTF-8 label names).
    res = Engine().instant(st, 'count_values("versión", foo)', 0)
    assert res.value[0].labels.get("versión") == "1"


@pytest.mark.parametrize(
    ("query", "prefix"),
    [
        ('foo{a~"b"}', "1:6: parse error: unexpected character inside braces"),
        ("foo[5x]", "1:5: parse error: bad number or duration syntax"),
        ("sum(unknown_fn(x))", "1:5: parse error: unknown function with name 'unknown_fn'"),
        ('foo{a="rate"} + rate(foo)', "1:17: parse error: expected type matrix"),
        ('foo{a="b}', "1:7: parse error: unterminated quoted string"),
        ('foo\n  + bar{a~"x"}', "2:10: parse error: unexpected character inside braces"),
        ("sum(rate(x[5m])", "1:16: parse error: unclosed left parenthesis"),
    ],
)
def test_parse_errors_carry_positions(query: str, prefix: str) -> None:
    from guardia.promql import ParseError

    with pytest.raises(ParseError) as ei:
        parse(query)
    assert ei.value.message.startswith(prefix), ei.value.message
