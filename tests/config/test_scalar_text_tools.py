"""The label values guardia reads from YAML scalars are the ones promtool and amtool read.

Runs the real Debian tools (promtool 2.42, amtool 0.25) on documents full of unquoted
booleans, numbers, dates and nulls used as label values, and compares what they report with
what guardia parsed, value for value.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from guardia.config import parse_yaml
from guardia.config.alertmanager import load_alertmanager_config
from guardia.config.rulefile import parse_rule_file
from guardia.model.am_matchers import format_matchers

SCALARS = ["true", "True", "yes", "off", "1.50", "0x1F", "1e3", "010", "1_000", "+12", "-0", ".inf",
           "2001-12-14", "~"]
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _alert_labels(tmp_path: Path, labels_yaml: str) -> tuple[dict[str, str], dict[str, str]]:
    """Labels of an alert whose rule has ``labels_yaml`` (indented lines), as promtool and
    as guardia read them."""
    rules = tmp_path / "rules.yml"
    rules.write_text("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: vector(1)\n    labels:\n"
                     + labels_yaml)
    (tmp_path / "test.yml").write_text(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n  input_series: []\n"
        "  alert_rule_test:\n  - eval_time: 1m\n    alertname: A\n    exp_alerts: [{exp_labels: {}}]\n")
    # The expectation is deliberately empty: the failure report lists the labels promtool got.
    proc = subprocess.run(["promtool", "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    got_line = (proc.stdout + proc.stderr).split("got:", 1)[1]
    promtool = dict(_LABEL.findall(got_line.split("Labels:", 1)[1].split("}", 1)[0]))

    rf, issues = parse_rule_file(parse_yaml(rules.read_text(), str(rules)))
    assert rf is not None, issues
    ours = {k: v for k, v in rf.groups[0].rules[0].labels.items() if v != ""}  # empty = no label
    return promtool, {"alertname": "A", **ours}


def test_rule_labels_match_promtool(tmp_path: Path) -> None:
    promtool, ours = _alert_labels(tmp_path, "".join(f"      l{i}: {s}\n" for i, s in enumerate(SCALARS)))
    assert ours == promtool


def test_route_matchers_match_amtool(tmp_path: Path) -> None:
    match = ", ".join(f"l{i}: {s}" for i, s in enumerate(SCALARS))
    am = tmp_path / "alertmanager.yml"
    am.write_text(f"route:\n  receiver: r\n  routes:\n  - receiver: r\n    match: {{{match}}}\n"
                  "    match_re: {x: 1.50, y: true}\nreceivers:\n- name: r\n")
    proc = subprocess.run(["amtool", "config", "routes", "show", f"--config.file={am}"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    amtool = next(line for line in proc.stdout.splitlines() if "{" in line)
    amtool_matchers = amtool[amtool.index("{"):amtool.rindex("}") + 1]

    cfg = load_alertmanager_config(am)
    assert cfg.route is not None
    assert format_matchers(cfg.route.routes[0].all_matchers()) == amtool_matchers


def test_label_names_spelled_like_booleans_match_promtool(tmp_path: Path) -> None:
    """YAML 1.1 reads `true:`, `on:` and `yes:` as the boolean true; Go keeps a key as
    written, so they are three different label names, not one given three times."""
    names = ["true", "on", "yes", "off", "no", "False"]
    promtool, ours = _alert_labels(tmp_path, "".join(f"      {n}: v{i}\n" for i, n in enumerate(names)))
    assert ours == promtool
    assert len(promtool) == len(names) + 1
