"""The template case files are Go's behaviour: render them with the real Prometheus
(``promtool``) and Alertmanager (``amtool``) and compare with the recorded expectations."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.template.conftest import QUERY_SERIES, load_cases

PROMTOOL = "/usr/bin/promtool"
AMTOOL = "/usr/bin/amtool"


def _series_text(labels: Any) -> str:
    name = labels.get("__name__")
    inner = ",".join(f'{k}="{v}"' for k, v in labels if k != "__name__")
    return f"{name}{{{inner}}}"


def _alert_expr(labels: dict[str, str], value: float) -> str:
    expr = f"vector({value})"
    for k, v in labels.items():
        expr = f'label_replace({expr}, "{k}", "{v}", "", "")'
    return expr


def test_prometheus_cases_match_promtool(tmp_path: Path) -> None:
    doc = load_cases("prometheus_cases.yml")
    defaults = doc["defaults"]
    rules = []
    for i, case in enumerate(doc["cases"]):
        labels = case.get("labels", defaults["labels"])
        value = case.get("value", defaults["value"])
        rules.append({"alert": "T", "expr": _alert_expr(labels, value),
                      "labels": {"case": str(i)}, "annotations": {"a": case["template"]}})
    (tmp_path / "r.yml").write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": rules}]}))
    test = {
        "rule_files": ["r.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "external_labels": {"cluster": "prod"},
            "input_series": [{"series": _series_text(ls), "values": str(v)}
                             for ls, v in QUERY_SERIES],
            # No alert expected: promtool then prints every alert it got, with annotations.
            "alert_rule_test": [{"eval_time": "0m", "alertname": "T", "exp_alerts": []}],
        }],
    }
    (tmp_path / "t.yml").write_text(yaml.safe_dump(test))
    proc = subprocess.run([PROMTOOL, "test", "rules", str(tmp_path / "t.yml")],
                          capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    got: dict[int, str] = {}
    for m in re.finditer(
            r'Labels:\{alertname="T", case="(\d+)"[^\n]*\}\s*\n\s*'
            r'Annotations:\{a=("(?:[^"\\]|\\.)*")\}', out):
        got[int(m.group(1))] = ast.literal_eval(m.group(2))
    assert len(got) == len(doc["cases"]), out[:2000]
    mismatches = {c["name"]: (got[i], c["expected"]) for i, c in enumerate(doc["cases"])
                  if got[i] != c["expected"]}
    assert mismatches == {}


def test_parse_error_cases_match_promtool(tmp_path: Path) -> None:
    doc = load_cases("parse_errors.yml")
    rules = [{"alert": f"T{i}", "expr": "vector(1)", "annotations": {"a": c["template"]}}
             for i, c in enumerate(doc["cases"])]
    (tmp_path / "r.yml").write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": rules}]}))
    proc = subprocess.run([PROMTOOL, "check", "rules", str(tmp_path / "r.yml")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    got = {int(m.group(1)): m.group(2).replace(f"__alert_T{m.group(1)}", "__alert_T")
           for m in re.finditer(r'rule \d+, "T(\d+)": annotation "a": (.*)', out)}
    assert {c["name"]: got.get(i) for i, c in enumerate(doc["cases"])} == {
        c["name"]: c["expected"] for c in doc["cases"]}


@pytest.mark.parametrize("cases", ["alertmanager_cases.yml", "alertmanager_data_cases.yml"])
def test_alertmanager_cases_match_amtool(tmp_path: Path, cases: str) -> None:
    doc = load_cases(cases)
    glob = tmp_path / "empty.tmpl"
    glob.write_text('{{ define "unused" }}{{ end }}')
    for case in doc["cases"]:
        if case.get("amtool", True) is False:
            continue
        proc = subprocess.run(
            [AMTOOL, "template", "render", f"--template.glob={glob}",
             f"--template.text={case['template']}"],
            capture_output=True, text=True, timeout=60)
        assert (case["name"], proc.stdout) == (case["name"], case["expected"]), proc.stderr
