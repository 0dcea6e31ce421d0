"""RelabelConfig validation, table-driven, cross-checked against promtool from Prometheus."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from guardia.config import ConfigError, parse_yaml
from guardia.config.relabel import RelabelConfig
from guardia.config.validate import StrictModel, validate

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "relabel_config_cases.yml").read_text()
)


class _Holder(StrictModel):
    relabel_configs: list[RelabelConfig]


def _load(rule: dict[str, Any]) -> RelabelConfig:
    text = yaml.safe_dump({"relabel_configs": [rule]}, sort_keys=False)
    return validate(_Holder, parse_yaml(text, "relabel.yml")).relabel_configs[0]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(ConfigError) as e:
            _load(case["rule"])
        issue = e.value.issues[0]
        assert case["error"] in issue.message, issue.message
        assert issue.path.startswith("relabel_configs[0]")
        assert issue.line is not None
    else:
        cfg = _load(case["rule"])
        for field, want in case.get("expect", {}).items():
            got = getattr(cfg, field)
            assert (got.value if hasattr(got, "value") else got) == want


def test_regex_is_anchored_and_dot_matches_newline() -> None:
    cfg = RelabelConfig.model_validate({"source_labels": ["a"], "regex": "fo.", "action": "keep"})
    assert cfg.compiled.fullmatch("foo")
    assert not cfg.compiled.fullmatch("xfoo")
    assert cfg.compiled.fullmatch("fo\n")


def test_error_points_at_the_rule_line() -> None:
    text = (
        "relabel_configs:\n  - source_labels: [a]\n    target_label: b\n"
        "  - action: hashmod\n    target_label: c\n"
    )
    with pytest.raises(ConfigError) as e:
        validate(_Holder, parse_yaml(text, "p.yml"))
    (issue,) = e.value.issues
    assert issue.path == "relabel_configs[1]"
    assert issue.line == 4
    assert "non-zero modulus" in issue.message


def _promtool(tmp_path: Path, rules: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    cfg = {
        "scrape_configs": [
            {"job_name": "j", "static_configs": [{"targets": ["localhost:9"]}], "relabel_configs": rules}
        ]
    }
    f = tmp_path / "prometheus.yml"
    f.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return subprocess.run(
        ["promtool", "check", "config", str(f)], capture_output=True, text=True, timeout=60
    )


def test_promtool_accepts_the_good_cases(tmp_path: Path) -> None:
    good = [c["rule"] for c in CASES if "error" not in c]
    res = _promtool(tmp_path, good)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("case", [c for c in CASES if "error" in c], ids=lambda c: c["name"])
def test_promtool_refuses_the_bad_cases_for_the_same_reason(tmp_path: Path, case: dict[str, Any]) -> None:
    res = _promtool(tmp_path, [case["rule"]])
    if case.get("promtool_accepts"):
        assert res.returncode == 0, res.stdout
        return
    assert res.returncode != 0
    assert case.get("promtool_error", case["error"]) in res.stdout + res.stderr
