"""Prometheus 3's name escaping schemes (the cases of prometheus/common's model tests) and the
text format's quoted names."""

from __future__ import annotations

import pytest

from guardia.model import textparse as P
from guardia.model.escaping import (
    escape_labels,
    escape_name,
    negotiate,
    series_text,
    unescape_values,
)


@pytest.mark.parametrize(("name", "underscores", "dots", "values"), [
    ("no:escaping_required", "no:escaping_required", "no:escaping__required", "no:escaping_required"),
    ("mysystem.prod.west.cpu.load", "mysystem_prod_west_cpu_load",
     "mysystem_dot_prod_dot_west_dot_cpu_dot_load", "U__mysystem_2e_prod_2e_west_2e_cpu_2e_load"),
    ("mysystem.prod.west.cpu.load_total", "mysystem_prod_west_cpu_load_total",
     "mysystem_dot_prod_dot_west_dot_cpu_dot_load__total",
     "U__mysystem_2e_prod_2e_west_2e_cpu_2e_load__total"),
    ("http.status:sum", "http_status:sum", "http_dot_status:sum", "U__http_2e_status:sum"),
    ("label with 😱", "label_with__", "label__with____", "U__label_20_with_20__1f631_"),
    ("label with _😱_", "label_with____", "label__with________", "U__label_20_with_20____1f631___"),
    ("1st", "_st", "__st", "U___31_st"),
])
def test_schemes(name: str, underscores: str, dots: str, values: str) -> None:
    assert escape_name(name, "underscores") == underscores
    assert escape_name(name, "dots") == dots
    assert escape_name(name, "values") == values
    assert escape_name(name, "allow-utf-8") == name
    assert unescape_values(values) == name


def test_unescape_leaves_what_is_not_escaped() -> None:
    assert unescape_values("plain_name") == "plain_name"
    assert unescape_values("U__bad_zz_") == "U__bad_zz_"
    assert unescape_values("U__open_2e") == "U__open_2e"


def test_labels_escape_names_and_the_metric_name_value_only() -> None:
    pairs = [("__name__", "http.server.duration"), ("k8s.pod", "a.b"), ("job", "x")]
    assert escape_labels(pairs, "underscores") == [
        ("__name__", "http_server_duration"), ("k8s_pod", "a.b"), ("job", "x")]
    assert escape_labels(pairs, "allow-utf-8") == pairs


@pytest.mark.parametrize(("accept", "want"), [
    ("", ("0.0.4", "underscores")),
    # Prometheus 2.42's federation scrape
    ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
     "text/plain;version=0.0.4;q=0.5,*/*;q=0.25", ("0.0.4", "underscores")),
    # Prometheus 3's
    ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;"
     "version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,"
     "*/*;q=0.2", ("1.0.0", "allow-utf-8")),
    ("text/plain;version=1.0.0;escaping=values", ("1.0.0", "values")),
    ("text/plain;version=0.0.4;q=0.9,text/plain;version=1.0.0;escaping=dots", ("1.0.0", "dots")),
    ("text/plain;escaping=nonsense", ("0.0.4", "underscores")),
])
def test_negotiation(accept: str, want: tuple[str, str]) -> None:
    assert negotiate(accept) == want


def test_quoted_names_round_trip_through_the_text_parser() -> None:
    labels = [("a.b", 'x"y'), ("job", "j"), ("le", "1")]
    text = "\n".join([
        '# HELP "http.server.duration" time "taken"',
        '# TYPE "http.server.duration" histogram',
        series_text("http.server.duration", labels) + " 3",
        series_text("legacy_name", [("k8s.pod", "p")]) + " 4 1000",
        '{"a.b"="y", "http.server.duration"} 5',
    ]) + "\n"
    assert text.splitlines()[2] == '{"http.server.duration","a.b"="x\\"y",job="j",le="1"} 3'
    exp = P.parse(text)
    assert [(s.name, s.labels, s.value, s.timestamp_ms) for s in exp.samples] == [
        ("http.server.duration", tuple(labels), 3.0, None),
        ("legacy_name", (("k8s.pod", "p"),), 4.0, 1000),
        ("http.server.duration", (("a.b", "y"),), 5.0, None),
    ]
    md = exp.metadata["http.server.duration"]
    assert (md.type, md.help) == ("histogram", 'time "taken"')
    om = P.parse('# TYPE "a.b" counter\n# UNIT "a.b" seconds\n{"a.b_total"} 1\n# EOF\n', openmetrics=True)
    assert om.metadata["a.b"].unit == "seconds" and om.samples[0].name == "a.b_total"


@pytest.mark.parametrize(("line", "reason"), [
    ('{"a"="b"} 1', "expected a metric name: as the first quoted string inside the braces"),
    ('{"x", "y"} 1', "unexpected quoted metric name 'y'"),
    ('foo{"x"} 1', "unexpected quoted metric name 'x'"),
    ('{"x} 1', "unterminated quoted name"),
    ('{""} 1', "empty metric name"),
    ('{"x", ""="v"} 1', "empty label name"),
    ('# TYPE "x counter', "unterminated quoted name"),
])
def test_bad_quoted_forms_name_the_problem(line: str, reason: str) -> None:
    with pytest.raises(P.ParseError) as e:
        P.parse(line + "\n")
    assert reason in str(e.value) and e.value.line == 1
