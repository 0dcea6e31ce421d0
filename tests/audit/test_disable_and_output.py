"""Disable comments, output formats and the command's exit codes and errors."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from guardia.audit.finding import Finding, Severity, exit_code
from guardia.audit.inputs import from_files
from guardia.audit.output import render
from guardia.audit.run import audit
from guardia.cli.main import build_app

CASES = Path(__file__).parent / "data" / "checks"
runner = CliRunner()


def test_disable_file_disable_snooze_and_trailing_comments_silence_their_findings() -> None:
    findings = audit(from_files([str(CASES / "comment-ok" / "rules.yml")]))
    assert findings == []


def test_an_expired_snooze_no_longer_silences(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text("groups:\n  - name: g\n    rules:\n"
                     "      # guardia snooze 2020-01-31 alerts/comparison\n"
                     "      - alert: Errors\n        expr: sum(rate(errors_total[5m]))\n")
    got = audit(from_files([str(rules)]), now=datetime(2026, 1, 1, tzinfo=UTC))
    assert [(f.check, f.rule, f.line) for f in got] == [("alerts/comparison", "Errors", 5)]
    kept = audit(from_files([str(rules)]), now=datetime(2020, 1, 1, tzinfo=UTC))
    assert kept == []


def test_a_disable_with_an_argument_silences_only_that_finding(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text("groups:\n  - name: g\n    rules:\n"
                     "      # guardia disable alerts/template(instance)\n"
                     "      - alert: Disk\n        expr: sum(x) > 1\n"
                     "        annotations: {a: '{{ $labels.instance }} {{ $labels.job }}'}\n")
    got = audit(from_files([str(rules)]))
    assert [(f.check, f.arg) for f in got] == [("alerts/template", "job")]


def test_bad_snooze_date_is_reported(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text("groups:\n  - name: g\n    rules:\n"
                     "      # guardia snooze someday alerts/comparison\n"
                     "      - alert: Errors\n        expr: up == 0\n")
    got = audit(from_files([str(rules)]))
    assert [(f.check, f.line, f.arg) for f in got] == [("audit/comment", 4, "someday")]


FINDINGS = [
    Finding("promql/series", Severity.BUG, "alerts.yml", 170,
            "websocket_connections_active has never existed",
            "HighWebSocketConnections", "websocket_connections_active"),
    Finding("coverage/commented-job", Severity.INFORMATION, "prometheus.yml", 67, "caddy | commented",
            arg="caddy"),
    Finding("receiver/failing", Severity.BUG, "", None, "slack failed"),
]


def test_json_has_the_fields_ci_reads() -> None:
    data = json.loads(render(FINDINGS, "json"))
    assert data[0] == {"check": "promql/series", "severity": "Bug", "file": "alerts.yml", "line": 170,
                       "rule": "HighWebSocketConnections",
                       "message": "websocket_connections_active has never existed",
                       "arg": "websocket_connections_active"}


def test_sarif_locates_results_and_lists_rules() -> None:
    doc = json.loads(render(FINDINGS, "sarif"))
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [
        "coverage/commented-job", "promql/series", "receiver/failing"]
    first = run["results"][0]
    assert first["level"] == "error"
    assert first["locations"][0]["physicalLocation"] == {"artifactLocation": {"uri": "alerts.yml"},
                                                         "region": {"startLine": 170}}
    assert run["results"][1]["level"] == "note"
    assert "locations" not in run["results"][2]


def test_markdown_escapes_pipes_and_sorts_bugs_first() -> None:
    md = render(FINDINGS, "md")
    rows = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert rows[0].startswith("| Bug |") and rows[-1].startswith("| Information |")
    assert "caddy \\| commented" in md
    assert "3 problems: 2 bugs, 0 warnings, 1 information" in md


def test_exit_code_follows_fail_on() -> None:
    assert exit_code(FINDINGS) == 1
    assert exit_code(FINDINGS[1:2]) == 0
    assert exit_code(FINDINGS[1:2], Severity.INFORMATION) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli_usage_errors_exit_2() -> None:
    app = build_app()
    res = runner.invoke(app, ["audit", "--format", "xml", str(CASES / "absent-ok" / "rules.yml")])
    assert res.exit_code == 2 and "--format must be one of text, json, md, sarif" in res.output
    res = runner.invoke(app, ["audit", "no/such/file.yml"])
    assert res.exit_code == 2 and "no such file: no/such/file.yml" in res.output
    res = runner.invoke(app, ["audit", "--fail-on", "fatal", str(CASES / "absent-ok" / "rules.yml")])
    assert res.exit_code == 2 and "unknown severity 'fatal'" in res.output


def test_cli_warning_only_passes_unless_fail_on_warning() -> None:
    app = build_app()
    path = str(CASES / "absent-firing" / "rules.yml")
    res = runner.invoke(app, ["audit", path])
    assert res.exit_code == 0 and "Warning: alerts/absent" in res.output
    assert runner.invoke(app, ["audit", "--fail-on", "warning", path]).exit_code == 1


def test_unreachable_url_is_one_finding_not_a_crash() -> None:
    app = build_app()
    url = f"http://127.0.0.1:{_free_port()}"
    res = runner.invoke(app, ["audit", str(CASES / "series-ok" / "rules.yml"), "--url", url,
                              "--format", "json"])
    data = json.loads(res.output)
    assert [f["check"] for f in data] == ["audit/live"]
    assert url in data[0]["message"] and "skipped" in data[0]["message"]
