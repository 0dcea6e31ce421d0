"""Table-driven prometheus.yml validation: every case names the exact line, column and field path."""

from __future__ import annotations

from typing import Any

import pytest

from guardia.config import parse_yaml
from guardia.config.prometheus import parse_prometheus_config, resolve_defaults
from tests.config.cases import issue_lines, load_cases

CASES = load_cases("prometheus_cases.yml")


def issues_for(text: str) -> list[str]:
    return issue_lines(text, "prometheus.yml", parse_prometheus_config)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    got = issues_for(case["config"])
    want: list[str] = case["expect"]
    assert len(got) == len(want), "\n".join(got)
    for g, w in zip(got, want, strict=True):
        assert g.startswith(w), f"\n got: {g}\nwant: {w}"


def test_defaults_follow_prometheus() -> None:
    src = parse_yaml(
        "global: {scrape_interval: 5s}\n"
        "scrape_configs:\n"
        "  - job_name: a\n    static_configs: [{targets: ['a:1']}]\n"
        "  - job_name: b\n    scrape_interval: 30s\n    static_configs: [{targets: ['a:1']}]\n",
        "p.yml",
    )
    cfg, issues = parse_prometheus_config(src)
    assert issues == [] and cfg is not None
    # Global timeout defaults to 10s but never more than the interval.
    assert cfg.global_.scrape_timeout == 5_000
    a, b = cfg.scrape_configs
    assert (a.scrape_interval, a.scrape_timeout) == (5_000, 5_000)
    assert (b.scrape_interval, b.scrape_timeout) == (30_000, 5_000)
    assert a.metrics_path == "/metrics" and a.scheme == "http" and a.honor_timestamps and not a.honor_labels
    assert cfg.global_.evaluation_interval == 60_000


def test_limits_are_inherited_from_global() -> None:
    src = parse_yaml(
        "global: {sample_limit: 100, body_size_limit: 1MB}\n"
        "scrape_configs:\n  - job_name: a\n    sample_limit: 5\n    static_configs: [{targets: ['a:1']}]\n",
        "p.yml",
    )
    cfg, _ = parse_prometheus_config(src)
    assert cfg is not None
    job = cfg.scrape_configs[0]
    assert job.sample_limit == 5 and job.body_size_limit == 1 << 20
    assert resolve_defaults(cfg) == cfg  # idempotent
