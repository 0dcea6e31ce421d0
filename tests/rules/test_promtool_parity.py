"""`guardia test rules` against the real `promtool test rules`: same verdicts, same report."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from guardia.rules.unittest import run_unit_tests

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_TESTS = sorted((ROOT / "examples" / "grupo-gad" / "tests").glob("*_test.yml"))
DATA = Path(__file__).parent / "data"
PARITY = sorted((DATA / "parity").glob("*_test.yml"))
PROMTOOL = "/usr/bin/promtool"


def _guardia(files: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = run_unit_tests(files, out=out, err=err)
    return rc, f"stdout:\n{out.getvalue()}stderr:\n{err.getvalue()}"


def _promtool(files: list[str]) -> tuple[int, str]:
    proc = subprocess.run([PROMTOOL, "test", "rules", *files], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    return proc.returncode, f"stdout:\n{proc.stdout}stderr:\n{proc.stderr}"


def test_every_grupo_gad_alert_has_a_test() -> None:
    rules = (ROOT / "examples" / "grupo-gad" / "alerts.yml").read_text()
    alerts = {line.split("alert:")[1].strip() for line in rules.splitlines()
              if line.strip().startswith("- alert:")}
    tested = {line.split("alertname:")[1].strip()
              for f in EXAMPLE_TESTS for line in f.read_text().splitlines()
              if "alertname:" in line}
    assert alerts and alerts <= tested


@pytest.mark.parametrize("path", EXAMPLE_TESTS, ids=[p.name for p in EXAMPLE_TESTS])
def test_example_rule_tests_pass_under_both(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    p_rc, p_out = _promtool([rel])
    g_rc, g_out = _guardia([str(path)])
    assert p_rc == 0, p_out
    assert g_rc == 0, g_out
    assert "SUCCESS" in g_out


def test_wrong_expectation_fails_under_both_with_the_same_report(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    rel = str((DATA / "grupo_gad_wrong_test.yml").relative_to(ROOT))
    p_rc, p_out = _promtool([rel])
    g_rc, g_out = _guardia([rel])
    assert (p_rc, g_rc) == (1, 1)
    assert g_out == p_out
    assert "got:[]" in g_out and 'severity="critical"' in g_out


@pytest.mark.parametrize("path", PARITY, ids=[p.name for p in PARITY])
def test_parity_cases_give_the_same_report(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Passing and failing cases: same exit code, same stdout and stderr, byte for byte."""
    monkeypatch.chdir(ROOT)
    rel = str(path.relative_to(ROOT))
    assert _guardia([rel]) == _promtool([rel])
