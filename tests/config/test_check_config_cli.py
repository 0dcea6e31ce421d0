"""`guardia check config` on the example configs: exactly the real problems, nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guardia.cli.main import app

ROOT = Path(__file__).parents[2]
GAD = "examples/grupo-gad"
CEP = "examples/cepcomunicacion"

SMTP = ("global.smtp_auth_password: SMTP password is the placeholder 'your-smtp-app-password'; {r} "
        "would never deliver — set the real value (or use the *_file variant)")
SLACK = ("Slack webhook URL looks like a placeholder ('https://hooks.slack.com/services/YOUR/WEBHOOK/URL'); "
         '{r} would never deliver — set the real value (or use the *_file variant)')


def receivers(*names: str) -> str:
    """One issue names every receiver a shared placeholder breaks."""
    quoted = [f'"{n}"' for n in names]
    if len(quoted) == 1:
        return f"receiver {quoted[0]}"
    return f"receivers {', '.join(quoted[:-1])} and {quoted[-1]}"

UNREACHABLE = ('no alert defined in the checked rule files can reach this route (receiver "{r}"): every '
               "alert it matches is caught first by an earlier sibling route without 'continue: true'; "
               "reorder the routes or add continue: true to the earlier one")

GAD_EXPECTED = [
    f"{GAD}/alertmanager.yml:10:23: error: "
    + SMTP.format(r=receivers("default-receiver", "critical-alerts", "database-team", "api-team")),
    f"{GAD}/alertmanager.yml:11:18: error: global.slack_api_url: "
    + SLACK.format(r=receivers("critical-alerts", "warning-alerts")),
    f"{GAD}/alertmanager.yml:30:7: warning: route.routes[2]: " + UNREACHABLE.format(r="database-team"),
    f"{GAD}/alertmanager.yml:33:7: warning: route.routes[3]: " + UNREACHABLE.format(r="api-team"),
    f"{GAD}/alertmanager.yml:47:18: warning: inhibit_rules[1].source_match.alertname: no alerting rule in "
    'the checked rule files is named "InstanceDown", so this inhibition\'s source never matches; define the '
    "alert or fix the name (known: APIDown, CriticalLatencyP99, CriticalMemoryUsage, DiskSpaceCritical, "
    "DiskSpaceLow, HighCPUUsage, HighDatabaseDiskUsage, HighErrorRate, ...)",
]

CEP_EXPECTED = [
    f"{CEP}/alertmanager.yml:10:23: error: " + SMTP.format(r=receivers(
        "critical-alerts", "platform-team", "backend-team", "marketing-team", "database-team",
        "security-team")),
    f"{CEP}/alertmanager.yml:31:7: warning: route.routes[4]: " + UNREACHABLE.format(r="database-team"),
    f"{CEP}/alertmanager.yml:51:18: error: receivers[0].slack_configs[0].api_url: "
    + SLACK.format(r=receivers("critical-alerts")),
    f"{CEP}/alertmanager.yml:55:22: error: receivers[0].pagerduty_configs[0].service_key: PagerDuty service "
    "key looks like a placeholder ('your…-key'); receiver \"critical-alerts\" would never deliver — set the "
    "real value (or use the *_file variant)",
]


def run(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["check", "config", *args], catch_exceptions=False)
    return result.exit_code, result.output.splitlines()


def test_grupo_gad_flags_exactly_the_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, lines = run(f"{GAD}/alertmanager.yml", f"{GAD}/alerts.yml", f"{GAD}/prometheus.yml")
    assert code == 1
    assert lines[:-1] == GAD_EXPECTED
    assert lines[-1] == (
        f"FAILED: 2 errors, 3 warnings in 3 files: {GAD}/alertmanager.yml (alertmanager.yml), "
        f"{GAD}/alerts.yml (rule file), {GAD}/prometheus.yml (prometheus.yml)"
    )


def test_cepcomunicacion_flags_exactly_the_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    files = [f"{CEP}/alertmanager.yml", f"{CEP}/prometheus.yml", f"{CEP}/alerts/application.yml",
             f"{CEP}/alerts/infrastructure.yml", f"{CEP}/rules/recording.yml"]
    code, lines = run(*files)
    assert code == 1
    assert lines[:-1] == CEP_EXPECTED
    assert lines[-1].startswith("FAILED: 3 errors, 1 warning in 5 files")


def test_valid_files_exit_zero_and_warnings_do_not_fail(tmp_path: Path) -> None:
    p = tmp_path / "prometheus.yml"
    p.write_text("global:\n  query_log_file: q.log\nscrape_configs: [{job_name: a, static_configs: "
                 "[{targets: ['a:1']}]}]\n")
    code, lines = run(str(p))
    assert code == 0
    assert lines == [
        f"{p}:2:19: warning: global.query_log_file: query_log_file is ignored by guardia; queries are logged "
        "through the process log",
        f"OK, 1 warning in 1 file: {p} (prometheus.yml)",
    ]
    code, lines = run("--no-warnings", str(p))
    assert code == 0 and lines == [f"OK, 1 warning in 1 file: {p} (prometheus.yml)"]


def test_json_output(tmp_path: Path) -> None:
    p = tmp_path / "rules.yml"
    p.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==\n")
    result = CliRunner().invoke(app, ["check", "config", "--json", str(p)])
    assert result.exit_code == 1
    [issue] = json.loads(result.output)
    message = issue.pop("message")
    assert issue == {"file": str(p), "line": 5, "column": 15, "path": "groups[0].rules[0].expr",
                     "severity": "error"}
    assert message.startswith('group "g", rule 1, "A": could not parse expression: ')


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("scrape_configs: [\n")
    code, lines = run(str(tmp_path / "nope.yml"), str(bad))
    assert code == 1
    assert lines[0] == f"{tmp_path}/nope.yml: error: file not found; check the path"
    assert lines[1].startswith(f"{bad}:2:1: error: invalid YAML")


def test_help_teaches() -> None:
    result = CliRunner().invoke(app, ["check", "config", "--help"])
    assert result.exit_code == 0
    for phrase in ("FILE:LINE:COL", "placeholders", "Exit status", "guardia check config prometheus.yml"):
        assert phrase in result.output


def test_real_command_line() -> None:
    """The installed entry point, as a user runs it (also what the benchmark times)."""
    proc = subprocess.run(
        [sys.executable, "-m", "guardia.cli.main", "check", "config", f"{GAD}/prometheus.yml",
         f"{GAD}/alerts.yml"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().startswith("OK, 0 warnings in 2 files")


def test_a_rule_file_named_twice_is_reported_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules.yml").write_text("groups:\n  - name: g\n    rules:\n      - record: bad-name\n"
                                        "        expr: up\n")
    (tmp_path / "prometheus.yml").write_text("rule_files: [rules.yml]\n")
    code, lines = run("prometheus.yml", "rules.yml", "./rules.yml")
    assert code == 1
    assert [line.split(": error: ")[0] for line in lines[:-1]] == ["rules.yml:4:17"]
    assert lines[-1].startswith("FAILED: 1 error, 0 warnings in 3 files")
