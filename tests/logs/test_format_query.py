"""format_query's canonical LogQL: every query of the LogQL cases parses back to the same tree."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from guardia.logs.logql import parse
from guardia.logs.logql.format import format_expr

CASES = yaml.safe_load((Path(__file__).parent / "logql_cases.yml").read_text())["cases"]
EXTRA = [
    'sum by (host) (rate({job="nginx"} |= "GET" [5m]))'
    ' / ignoring(host) group_left sum(rate({job="nginx"}[5m]))',
    'quantile_over_time(0.99, {job="app"} | json | unwrap duration(latency) | __error__=""'
    ' [5m] offset 1h) by (env)',
    '{job="app"} | logfmt --strict level, d="duration"'
    ' | bytes > 1KiB and (level="error" or duration >= 250ms)',
    'topk(3, sum without (env) (count_over_time({job="app"} != "x\\"y" [1m]))) > bool 2',
    'label_replace(vector(1), "dst", "$1", "src", "(.*)")',
    '{job="app"} | label_format a=b, c="{{.d}}" | drop x, y="z" | keep a | decolorize'
    ' | line_format "{{.a}}\\n"',
]


@pytest.mark.parametrize("query", [c["query"] for c in CASES if "error" not in c] + EXTRA)
def test_formatted_query_parses_back_to_the_same_query(query: str) -> None:
    tree = parse(query)
    text = format_expr(tree)
    assert parse(text) == tree, text
    assert format_expr(parse(text)) == text  # stable


def test_spacing_is_normalised_as_loki_documents() -> None:
    assert format_expr(parse('{foo=   "bar"}')) == '{foo="bar"}'
    assert format_expr(parse('count_over_time( {a="b"}|="x"[5m] )')) == 'count_over_time({a="b"} |= "x" [5m])'
