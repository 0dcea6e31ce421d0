"""`guardia promqltest`: per-file and total counts, failure details, exit status."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from guardia.cli.main import app

DATA = Path(__file__).with_name("data")


def test_passing_script_exits_zero_and_counts() -> None:
    # pass.test ends with a native histogram load and eval: they run like the others.
    res = CliRunner().invoke(app, ["promqltest", str(DATA / "pass.test")])
    assert res.exit_code == 0, res.output
    assert "7 passed, 0 failed" in res.output
    assert "total: 7 passed, 0 failed; 100.0% of evals pass" in res.output


def test_failing_script_prints_query_and_difference() -> None:
    res = CliRunner().invoke(app, ["promqltest", str(DATA / "pass.test"), str(DATA / "fail.test")])
    assert res.exit_code == 1
    assert "FAIL " in res.output and "fail.test:5: m" in res.output
    assert "m: expected 4.0, got 3.0" in res.output
    assert "fail.test:8: m * 2" in res.output
    assert "expected [(0, 2.0), (60000, 4.0), (120000, 7.0)]" in res.output
    assert "fail.test:14: h" in res.output
    assert "h: expected {count:2, sum:1, (0.5,1]:2}, got {count:1, sum:1, (0.5,1]:1}" in res.output
    assert "total: 7 passed, 3 failed" in res.output


def test_missing_file_is_a_usage_error() -> None:
    res = CliRunner().invoke(app, ["promqltest", str(DATA / "nope.test")])
    assert res.exit_code == 2
