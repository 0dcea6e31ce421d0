"""Table-driven rule file validation, plus the loaded model's shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from guardia.config import ConfigError, parse_yaml
from guardia.config.rulefile import load_rule_file, parse_rule_file
from tests.config.cases import issue_lines, load_cases

CASES = load_cases("rulefile_cases.yml")


def issues_for(text: str) -> list[str]:
    return issue_lines(text, "rules.yml", parse_rule_file)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    got = issues_for(case["rules"])
    want: list[str] = case["expect"]
    assert len(got) == len(want), "\n".join(got)
    for g, w in zip(got, want, strict=True):
        assert g.startswith(w), f"\n got: {g}\nwant: {w}"


def test_loaded_rules_have_names_and_durations(tmp_path: Path) -> None:
    f = tmp_path / "r.yml"
    f.write_text(CASES[0]["rules"])
    rf = load_rule_file(f)
    assert rf.file == str(f)
    g = rf.groups[0]
    assert (g.name, g.interval, g.limit, g.query_offset) == ("api", 30_000, 10, 60_000)
    assert g.labels == {"team": "backend"}
    assert g.interval_ms(15_000) == 30_000
    alert, rec, one = g.rules
    assert alert.is_alerting and alert.name == "APIDown" and alert.for_ == 60_000
    assert alert.keep_firing_for == 300_000
    assert not rec.is_alerting and rec.name == "job:http_requests:rate5m" and rec.for_ == 0
    assert one.expr == "1"


def test_group_interval_defaults_to_evaluation_interval() -> None:
    rf, _ = parse_rule_file(parse_yaml("groups: [{name: g, rules: []}]", "r.yml"))
    assert rf is not None and rf.groups[0].interval_ms(15_000) == 15_000


def test_load_rule_file_raises_with_every_error(tmp_path: Path) -> None:
    f = tmp_path / "bad.yml"
    f.write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==\n      - expr: up\n"
    )
    with pytest.raises(ConfigError) as e:
        load_rule_file(f)
    assert len(e.value.errors) == 2
    assert f"{f}:5:15: groups[0].rules[0].expr" in str(e.value)


def test_parse_errors_carry_the_parsers_explanation() -> None:
    got = issues_for("groups:\n  - name: g\n    rules:\n      - {record: a, expr: 'sum(rate(x[5m])'}\n"
                     "      - {record: b, expr: 'rate(up)'}\n")
    assert len(got) == 2
    assert got[0].endswith("unclosed left parenthesis")
    assert "in call to function 'rate'" in got[1]
