"""`guardia test rules`: newer promtool fields, bad test files, the CLI exit codes."""

from __future__ import annotations

import io
from pathlib import Path

from typer.testing import CliRunner

from guardia.cli.main import app
from guardia.model import format_duration as model_duration
from guardia.rules.unittest import run_unit_tests

DATA = Path(__file__).parent / "data"


def _run(path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = run_unit_tests([str(path)], out=out, err=err)
    return rc, out.getvalue(), err.getvalue()


def test_start_timestamp_and_fuzzy_compare() -> None:
    rc, out, err = _run(DATA / "unit" / "start_timestamp_test.yml")
    assert (rc, err) == (0, "")
    assert "SUCCESS" in out


def test_unknown_field_is_reported(tmp_path: Path) -> None:
    f = tmp_path / "t.yml"
    f.write_text("rule_files: []\ntests:\n  - intervall: 1m\n")
    rc, _, err = _run(f)
    assert rc == 1
    assert "tests[0]: field intervall not found" in err


def test_missing_alertname_is_reported(tmp_path: Path) -> None:
    f = tmp_path / "t.yml"
    f.write_text("rule_files: []\ntests:\n  - name: x\n    alert_rule_test:\n"
                 "      - eval_time: 5m\n        exp_alerts: []\n")
    rc, _, err = _run(f)
    assert rc == 1
    assert ("an item under alert_rule_test misses required attribute alertname at "
            "eval_time 5m (in TestGroup x)") in err


def test_rule_evaluation_error_stops_the_test_group(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(
        "groups: [{name: g, rules: [{record: bad, expr: 'm + on() m'}]}]\n")
    f = tmp_path / "t.yml"
    f.write_text("rule_files: [r.yml]\ntests:\n  - input_series:\n"
                 "      - {series: 'm{a=\"1\"}', values: '1'}\n"
                 "      - {series: 'm{a=\"2\"}', values: '1'}\n"
                 "    promql_expr_test: [{expr: m, eval_time: 0m, exp_samples: []}]\n")
    rc, _, err = _run(f)
    assert rc == 1
    assert err.startswith("  FAILED:\n    rule: bad, time: 0s, err: ")
    assert "many-to-many" in err


def test_missing_file_fails() -> None:
    rc, _, err = _run(DATA / "does_not_exist.yml")
    assert rc == 1 and "No such file" in err


def test_cli_exit_codes() -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["test", "rules", str(DATA / "unit" / "start_timestamp_test.yml")])
    assert ok.exit_code == 0
    bad = runner.invoke(app, ["test", "rules", str(DATA / "grupo_gad_wrong_test.yml")])
    assert bad.exit_code == 1


def test_model_duration_matches_prometheus_spelling() -> None:
    assert [model_duration(ms) for ms in (0, 90_000, 3_600_000, 5_400_000, 604_800_000,
                                          694_800_000)] == ["0s", "1m30s", "1h", "1h30m",
                                                            "1w", "8d1h"]


def test_run_filter_and_junit_report(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    report = tmp_path / "junit.xml"
    wrong = str(DATA / "grupo_gad_wrong_test.yml")
    ok = str(DATA.parents[2] / "examples" / "grupo-gad" / "tests" / "redis_test.yml")
    out, err = io.StringIO(), io.StringIO()
    rc = run_unit_tests([ok, wrong], out=out, err=err, run=["memory", "wrong"],
                        junit=str(report))
    assert rc == 1
    suites = ET.parse(report).getroot().findall("testsuite")
    assert [(s.get("tests"), s.get("failures")) for s in suites] == [("2", "0"), ("1", "1")]
    names = [c.get("name") for c in suites[0].findall("testcase")]
    assert names == ["memory at 95% of maxmemory", "memory at 50% of maxmemory"]
    failures = list(suites[1].iter("failure"))
    assert len(failures) == 3  # one per failed expectation of the group
    assert "alertname: APIDown" in (failures[0].text or "")
