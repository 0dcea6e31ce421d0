"""The logs: section: Promtail-shaped jobs, limits, and errors with their field paths and lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardia.cli.check_config import collect
from guardia.logs.config import LogsConfigError, parse_logs_config


def test_a_promtail_shaped_section_parses(tmp_path: Path) -> None:
    cfg = parse_logs_config(
        {
            "retention": "7d",
            "retention_size": "1GB",
            "limits": {"max_streams": 50, "max_line_size": "64KB"},
            "rule_files": ["rules/*.yml"],
            "scrape_configs": [
                {
                    "job_name": "nginx",
                    "static_configs": [{"labels": {"job": "nginx", "__path__": "/var/log/nginx/*.log"}}],
                    "pipeline_stages": [
                        {"regex": {"expression": "(?P<status>\\d{3})"}},
                        {"labels": {"status": None}},
                        {"multiline": {"firstline": "^\\d"}},
                    ],
                },
                {"job_name": "sys", "syslog": {"listen_address": "0.0.0.0:1514", "listen_protocol": "udp"}},
                {"job_name": "journal", "journal": {"max_age": "1h"}},
            ],
        },
        tmp_path,
    )
    assert cfg.retention_ms == 7 * 86400_000 and cfg.retention_bytes == 1_000_000_000
    assert cfg.max_streams == 50 and cfg.max_line_bytes == 64_000
    assert cfg.rule_files == (str(tmp_path / "rules/*.yml"),)
    [t] = cfg.tail
    assert t.include == ("/var/log/nginx/*.log",) and dict(t.labels) == {"job": "nginx"}
    assert len(t.stages) == 2 and t.multiline is not None
    [s] = cfg.syslog
    assert (s.listen_address, s.protocol, s.labels) == ("0.0.0.0:1514", "udp", (("job", "sys"),))
    assert cfg.journal[0].max_age_s == 3600


def test_delete_request_cancel_period_is_a_duration() -> None:
    assert parse_logs_config({"delete_request_cancel_period": "24h"}).delete_request_cancel_period_s == 86400
    assert parse_logs_config({"retention": "1d"}).delete_request_cancel_period_s == 0


@pytest.mark.parametrize(
    ("raw", "msg"),
    [
        ({"bogus": 1}, "logs.bogus: unknown field"),
        ({"retention": "soon"}, "logs.retention: invalid duration"),
        ({"limits": {"max_streams": -1}}, "logs.limits.max_streams: must be a positive integer"),
        (
            {"scrape_configs": [{"job_name": "a", "static_configs": [{"labels": {"job": "a"}}]}]},
            "__path__: is required",
        ),
        ({"scrape_configs": [{"job_name": "a"}]}, "needs exactly one of static_configs"),
        (
            {
                "scrape_configs": [
                    {"job_name": "a", "syslog": {"listen_address": "x", "listen_protocol": "sctp"}}
                ]
            },
            "listen_address: is required as host:port",
        ),
        (
            {"scrape_configs": [{"job_name": "a", "relabel_configs": [{"action": "explode"}],
                                 "journal": {}}]},
            'logs.scrape_configs[0].relabel_configs[0].action: unknown relabel action "explode"',
        ),
        (
            {"scrape_configs": [{"job_name": "a", "relabel_configs": [{"action": "replace"}],
                                 "journal": {}}]},
            "relabel configuration for replace action requires 'target_label' value",
        ),
        ({"scrape_configs": [{"job_name": "a", "relabel_configs": {}, "journal": {}}]},
         "relabel_configs: must be a list of relabel rules"),
        ({"delete_request_cancel_period": "soon"}, "logs.delete_request_cancel_period: "),
    ],
)
def test_bad_sections_name_the_field(raw: dict[str, object], msg: str) -> None:
    with pytest.raises(LogsConfigError) as info:
        parse_logs_config(raw)
    assert msg in str(info.value)


def test_check_config_reports_logs_problems_with_their_line(tmp_path: Path) -> None:
    f = tmp_path / "guardia.yml"
    f.write_text(
        "logs:\n  scrape_configs:\n    - job_name: app\n      pipeline_stages:\n        - regex: {}\n"
        "      static_configs: [{labels: {__path__: /tmp/x.log}}]\n"
    )
    _, issues = collect([f])
    [issue] = issues
    assert issue.path == "logs.scrape_configs[0].pipeline_stages[0].regex.expression"
    assert issue.line == 5 and "is required" in issue.message
