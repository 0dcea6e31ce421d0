"""Checks across rule files and alertmanager.yml: unknown alert names, routes nobody reaches."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from guardia.config.loader import check_files, load_config

RULES = """\
groups:
  - name: g
    rules:
      - alert: APIDown
        expr: up{job="api"} == 0
        labels: {severity: critical, component: api}
      - alert: SlowQueries
        expr: pg_slow > 0
        labels: {severity: warning, component: database}
      - alert: Info
        expr: x > 1
        labels: {severity: info}
"""

CASES = [
    ("severity routes shadow component routes", """\
        route:
          receiver: default
          routes:
            - {matchers: ['severity="critical"'], receiver: crit}
            - {matchers: ['severity=~"warning|info"'], receiver: warn}
            - {matchers: ['component="database"'], receiver: dba}
            - {matchers: ['team="x"'], receiver: team-x}
        receivers: [{name: default}, {name: crit}, {name: warn}, {name: dba}, {name: team-x}]
        """, ["6:7 route.routes[2]: dba"]),
    ("continue: true lets alerts through", """\
        route:
          receiver: default
          routes:
            - {matchers: ['severity="critical"'], receiver: crit, continue: true}
            - {matchers: ['severity="warning"'], receiver: warn, continue: true}
            - {matchers: ['component="database"'], receiver: dba}
        receivers: [{name: default}, {name: crit}, {name: warn}, {name: dba}]
        """, []),
    ("labels the rules do not set may come from the series", """\
        route:
          receiver: default
          routes:
            - {matchers: ['env="prod"'], receiver: prod}
            - {matchers: ['component="database"'], receiver: dba}
        receivers: [{name: default}, {name: prod}, {name: dba}]
        """, []),
    ("nested routes", """\
        route:
          receiver: default
          routes:
            - matchers: ['component=~"api|database"']
              receiver: backend
              routes:
                - {matchers: ['alertname=~".+"'], receiver: all}
                - {matchers: ['alertname="APIDown"'], receiver: pager}
        receivers: [{name: default}, {name: backend}, {name: all}, {name: pager}]
        """, ["8:11 route.routes[0].routes[1]: pager"]),
    ("inhibitions of alerts nobody defines", """\
        route: {receiver: default}
        receivers: [{name: default}]
        inhibit_rules:
          - source_match: {alertname: InstanceDown}
            target_match: {severity: warning}
            equal: [instance]
          - source_matchers: ['severity="critical"', 'alertname="NodeDown"']
            target_matchers: ['alertname="SlowQueries"']
          - source_matchers: ['alertname="APIDown"']
            target_matchers: ['component="api"']
        """, ["4:31 inhibit_rules[0].source_match.alertname: InstanceDown",
              "7:46 inhibit_rules[1].source_matchers[1]: NodeDown"]),
]


@pytest.mark.parametrize(("name", "am", "expected"), CASES, ids=[c[0] for c in CASES])
def test_coherence(tmp_path: Path, name: str, am: str, expected: list[str]) -> None:
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "alertmanager.yml").write_text(textwrap.dedent(am))
    results = check_files([tmp_path / "alertmanager.yml", tmp_path / "rules.yml"])
    warnings = [i for r in results for i in r.issues if i.severity == "warning"]
    assert all(r.ok for r in results), [str(i) for r in results for i in r.issues]
    got = []
    for w in warnings:
        subject = w.message.split('"')[1]  # the receiver or the alert name
        got.append(f"{w.line}:{w.column} {w.path}: {subject}")
    assert got == expected


def test_no_rule_files_no_coherence_warnings(tmp_path: Path) -> None:
    (tmp_path / "alertmanager.yml").write_text(textwrap.dedent(CASES[0][1]))
    [result] = check_files([tmp_path / "alertmanager.yml"])
    assert result.issues == ()


def test_guardia_yml_checks_its_inline_alertmanager_against_its_rules(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "guardia.yml").write_text(textwrap.dedent("""\
        rule_files: [rules.yml]
        alertmanager:
          route: {receiver: default}
          receivers: [{name: default}]
          inhibit_rules:
            - source_match: {alertname: InstanceDown}
              target_match: {severity: warning}
        """))
    cfg = load_config(tmp_path / "guardia.yml")
    [w] = cfg.warnings
    assert (w.line, w.column, w.severity) == (6, 33, "warning")
    assert w.path == "alertmanager.inhibit_rules[0].source_match.alertname"
