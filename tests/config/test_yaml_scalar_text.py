"""YAML scalars used as label values (or label names, times, ranges) are read as their source text.

Go's YAML decoders, decoding into a string, keep the scalar exactly as written: promtool 2.42
(``promtool test rules``) gives ``labels: {a: true, b: 1.50, c: 0x1F}`` the values "true",
"1.50", "0x1F", and ``amtool config routes show`` (0.25) prints ``match: {k: True, e: yes}``
as ``{e="yes",k="True"}``.  Python's ``str(value)`` gave "True", "1.5" and "31" instead, so
alerts carried other labels than under Prometheus and routes never matched them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from guardia.config import ConfigError, parse_yaml
from guardia.config.alertmanager import parse_alertmanager_config
from guardia.config.loader import load_config
from guardia.config.rulefile import parse_rule_file
from guardia.config.scalars import item_text, scalar_text
from guardia.model import MatchType

# Each spelling and the text promtool/amtool gave for it.
SPELLINGS = {
    "true": "true", "True": "True", "yes": "yes", "off": "off", "1.50": "1.50", "0x1F": "0x1F",
    "1e3": "1e3", "010": "010", "1_000": "1_000", "+12": "+12", "-0": "-0", ".inf": ".inf",
    "2001-12-14": "2001-12-14", "~": "", "null": "",
}


def _src(text: str, name: str = "x.yml"):  # type: ignore[no-untyped-def]
    return parse_yaml(textwrap.dedent(text), name)


def test_rule_labels_keep_the_source_text_of_every_scalar() -> None:
    body = "".join(f"      l{i}: {s}\n" for i, s in enumerate(SPELLINGS))
    src = parse_yaml(
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: vector(1)\n    labels:\n"
        + body + "    annotations:\n      n: 1.50\n", "rules.yml")
    rf, issues = parse_rule_file(src)
    assert rf is not None, issues
    rule = rf.groups[0].rules[0]
    assert rule.labels == {f"l{i}": want for i, want in enumerate(SPELLINGS.values())}
    assert rule.annotations == {"n": "1.50"}


def test_rule_label_holding_a_mapping_is_refused_with_its_position() -> None:
    src = _src("""
    groups:
    - name: g
      rules:
      - alert: A
        expr: vector(1)
        labels:
          team: {a: b}
    """)
    _, issues = parse_rule_file(src)
    errors = [i for i in issues if i.severity == "error"]
    assert errors and errors[0].line == 8 and "labels" in errors[0].path, errors


def test_alertmanager_matchers_from_yaml_scalars_are_go_text() -> None:
    cfg = parse_alertmanager_config(_src("""
    route:
      receiver: r
      group_by: [true, yes]
      routes:
      - receiver: r
        match: {a: true, b: 1.50, c: 0x1F, e: yes, f: ~, k: True}
        match_re: {x: 1.50}
    inhibit_rules:
    - source_match: {s: true}
      target_match: {t: 1e3}
      equal: [true, off]
    receivers:
    - name: r
    """))
    assert cfg.route is not None
    assert cfg.route.group_by == ["true", "yes"]
    ms = {m.name: (m.type, m.value) for m in cfg.route.routes[0].all_matchers()}
    assert ms == {
        "a": (MatchType.EQUAL, "true"), "b": (MatchType.EQUAL, "1.50"), "c": (MatchType.EQUAL, "0x1F"),
        "e": (MatchType.EQUAL, "yes"), "f": (MatchType.EQUAL, ""), "k": (MatchType.EQUAL, "True"),
        "x": (MatchType.REGEX, "^(?:1.50)$"),
    }
    rule = cfg.inhibit_rules[0]
    assert rule.source_match == {"s": "true"} and rule.target_match == {"t": "1e3"}
    assert rule.equal == ["true", "off"]


def test_alertmanager_match_value_that_is_a_list_is_refused() -> None:
    with pytest.raises(ConfigError) as e:
        parse_alertmanager_config(_src("""
        route:
          receiver: r
          routes:
          - receiver: r
            match: {severity: [a, b]}
        receivers:
        - name: r
        """))
    issue = e.value.issues[0]
    assert issue.line == 6 and "severity" in issue.message and "list" in issue.message, issue


def test_time_of_day_is_not_read_as_a_sexagesimal_number() -> None:
    # YAML 1.1 (PyYAML) reads 10:30 as 630; Go reads it as the text "10:30" (amtool accepts it).
    cfg = parse_alertmanager_config(_src("""
    route:
      receiver: r
      routes:
      - receiver: r
        mute_time_intervals: [day]
    time_intervals:
    - name: day
      time_intervals:
      - times: [{start_time: 10:30, end_time: 23:59}]
        days_of_month: [1, '5:10']
    receivers:
    - name: r
    """))
    ti = cfg.time_intervals[0].time_intervals[0]
    assert ti.times == [(10 * 60 + 30, 23 * 60 + 59)]
    assert ti.days_of_month == [(1, 1), (5, 10)]


def test_prometheus_label_sets_keep_the_source_text(tmp_path: Path) -> None:
    p = tmp_path / "prometheus.yml"
    p.write_text(textwrap.dedent("""
    global:
      external_labels: {replica: 01, ha: true, v: 1.50}
    scrape_configs:
    - job_name: j
      static_configs:
      - targets: [localhost:9090]
        labels: {rack: 0x1F, flag: yes, none: ~}
    """))
    cfg = load_config(p)
    assert dict(cfg.prometheus.global_.external_labels) == {"replica": "01", "ha": "true", "v": "1.50"}
    assert dict(cfg.prometheus.scrape_configs[0].static_configs[0].labels) == {
        "rack": "0x1F", "flag": "yes", "none": ""}


def test_helper_falls_back_to_go_spelling_without_source_text() -> None:
    assert scalar_text(True) == "true" and scalar_text(False) == "false"
    assert scalar_text(None) == "" and scalar_text(12) == "12" and scalar_text("x") == "x"
    assert scalar_text([1]) is None and scalar_text({"a": 1}) is None
    assert item_text({"a": True}, "a") == "true"
    src = _src("m: {a: 1.50, b: 'q'}\nl: [True, 0x1F]\n")
    assert item_text(src.data["m"], "a") == "1.50" and item_text(src.data["m"], "b") == "q"
    assert [item_text(src.data["l"], i) for i in range(2)] == ["True", "0x1F"]
    # The data itself is unchanged: numbers and booleans stay numbers and booleans.
    assert src.data == {"m": {"a": 1.5, "b": "q"}, "l": [True, 31]}


def test_merge_keys_carry_the_source_text() -> None:
    src = _src("""
    base: &b {sev: 1.50}
    rule: {<<: *b, team: ops}
    """)
    assert item_text(src.data["rule"], "sev") == "1.50"


def test_every_string_field_reads_a_scalar_as_written() -> None:
    # Go decodes any scalar into a string field as its text: a numeric password keeps its
    # leading zero (PyYAML reads 0123 as octal 83), a header value of 1 is "1".
    cfg = parse_alertmanager_config(_src("""
    route:
      receiver: mail
      routes:
      - receiver: mail
        mute_time_intervals: [2024]
    time_intervals:
    - name: 2024
      time_intervals: [{years: ['2024']}]
    receivers:
    - name: mail
      email_configs:
      - to: ops@corp.example.org
        from: am@corp.example.org
        smarthost: smtp.corp.example.org:587
        auth_username: 1e3
        auth_password: 0123
        headers: {X-Priority: 1, X-Flag: true}
    """))
    e = cfg.receivers[0].email_configs[0]
    assert e.auth_password is not None and e.auth_password.reveal() == "0123"
    assert e.auth_username == "1e3"
    assert e.headers == {"X-Priority": "1", "X-Flag": "true"}
    assert cfg.route is not None and cfg.route.routes[0].mute_time_intervals == ["2024"]
    assert cfg.time_intervals[0].name == "2024"


def test_rule_expression_and_name_scalars_are_text() -> None:
    rf, issues = parse_rule_file(_src("""
    groups:
    - name: 2024
      rules:
      - record: r
        expr: 1.50
    """))
    assert rf is not None, issues
    assert rf.groups[0].name == "2024" and rf.groups[0].rules[0].expr == "1.50"


def test_numbers_still_read_as_numbers_where_a_number_is_expected() -> None:
    cfg = parse_alertmanager_config(_src("""
    route: {receiver: t}
    receivers:
    - name: t
      telegram_configs:
      - bot_token: "123:abc"
        chat_id: -0100
        send_resolved: yes
    """))
    t = cfg.receivers[0].telegram_configs[0]
    assert t.chat_id == -64 and t.send_resolved is True
