"""Time ranges, intervals and template variables, as Grafana resolves them."""

from __future__ import annotations

import datetime as dt

import pytest

from guardia.web.ui.dashboards.templating import Selected, builtins, interpolate, selection
from guardia.web.ui.dashboards.timerange import (
    TimeRangeError,
    format_duration_ms,
    nice_interval,
    parse_time,
    query_interval,
    rate_interval,
    time_range,
)
from guardia.web.ui.dashboards.variables import _apply_regex, _split_custom

NOW = int(dt.datetime(2026, 3, 4, 15, 30, 20, tzinfo=dt.UTC).timestamp() * 1000)


def ms(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp() * 1000)  # type: ignore[misc]


def test_grafana_time_expressions() -> None:
    assert parse_time("now", NOW) == NOW
    assert parse_time("now-6h", NOW) == NOW - 6 * 3600_000
    assert parse_time("now/d", NOW) == ms(2026, 3, 4)
    assert parse_time("now/d", NOW, is_end=True) == ms(2026, 3, 5) - 1
    assert parse_time("now-1d/d", NOW) == ms(2026, 3, 3)
    assert parse_time("1700000000000", NOW) == 1700000000000
    assert parse_time("2026-01-02T03:04:05Z", NOW) == ms(2026, 1, 2, 3, 4, 5)
    with pytest.raises(TimeRangeError, match="is not a time: use now, now-6h"):
        parse_time("yesterday", NOW)
    with pytest.raises(TimeRangeError, match=r"ends .* before it starts"):
        time_range("now", "now-1h", NOW)


def test_intervals() -> None:
    assert nice_interval(72_000) == 60_000
    assert query_interval(24 * 3600_000, 1200, 15_000) == 60_000
    assert query_interval(3600_000, 1200, 15_000) == 15_000  # never below the scrape interval
    assert rate_interval(15_000, 15_000) == 60_000
    assert rate_interval(120_000, 15_000) == 135_000
    assert format_duration_ms(135_000) == "2m15s"


def test_variable_syntaxes_and_formats() -> None:
    scope = {
        "job": Selected(("api",)),
        "handler": Selected(("/a", "/b.c"), multi=True),
        "one": Selected(("x.y",), multi=True),
        "all": Selected(("a", "b"), multi=True, is_all=True, all_value=".*"),
        **builtins(0, 3600_000, 30_000, 60_000),
    }
    assert interpolate('up{job="$job"}', scope) == 'up{job="api"}'
    assert interpolate('up{job="${job}"} [[job]]', scope) == 'up{job="api"} api'
    assert interpolate('h=~"$handler"', scope) == r'h=~"(/a|/b\.c)"'
    got = interpolate('h=~"${handler:regex}" ${handler:pipe} ${handler:csv}', scope)
    assert got == r'h=~"(/a|/b\.c)" /a|/b.c /a,/b.c'
    assert interpolate('h=~"$one"', scope) == r'h=~"x\.y"'
    assert interpolate('s=~"$all"', scope) == 's=~".*"'
    got = interpolate("rate(x[$__rate_interval]) [$__interval] [$__range]", scope)
    assert got == "rate(x[1m]) [30s] [3600s]"
    assert interpolate("$unknown stays", scope) == "$unknown stays"


def test_selection_from_the_url() -> None:
    opts = ["a", "b"]
    assert selection(["$__all"], opts, multi=True, include_all=True, all_value=None).values == ("a", "b")
    assert selection(["b", "a"], opts, multi=False, include_all=False, all_value=None).values == ("b",)
    assert selection(["b", "a"], opts, multi=True, include_all=False, all_value=None).values == ("b", "a")


def test_custom_values_and_variable_regexes() -> None:
    assert [(o.text, o.value) for o in _split_custom(r"p50 : 0.5, p95 : 0.95, a\,b")] == [
        ("p50", "0.5"), ("p95", "0.95"), ("a,b", "a,b")]
    lines = ['{instance="a:9100", job="node"} 1 0', '{instance="b:9100", job="node"} 1 0']
    assert [o.value for o in _apply_regex(lines, '/instance="([^"]+)"/')] == ["a:9100", "b:9100"]
    named = _apply_regex(lines, r'/instance="(?<text>[^:]+):(?<value>\d+)"/')
    assert [(o.text, o.value) for o in named] == [("a", "9100")]  # equal values kept once
