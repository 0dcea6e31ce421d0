"""The real Prometheus agrees: ``promtool test rules`` (Debian's prometheus package) runs the
sloth-generated rules and guardia's generated rules over the same history and expects, at
every evaluation where an alert changes, exactly the alerts guardia's rule engine raised."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from guardia.slo import load_file, rule_file, to_yaml
from tests.slo.replay import Replay, replay
from tests.slo.synth import HOUR, MIN, Traffic

DATA = Path(__file__).parent / "data"
STEP = 5 * MIN
HOURS = 16

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None,
                                reason="promtool (Debian package prometheus) is not installed")


# Debian's promtool is Prometheus 2, whose range windows include a sample exactly at their
# start ([t-w, t]); Prometheus 3 and guardia exclude it ((t-w, t]).  Sampling every 60.001s
# keeps every sample off the window edges for the whole test, so both read the same samples.
SAMPLE_MS = 60_001


def scenario() -> Traffic:
    tr = Traffic.steady(HOURS)
    # promtool's series start at time 0; the first value is left out (``_``) so that no sample
    # sits on the edge of a window that starts at 0 either.
    tr.start_ms, tr.step_ms = SAMPLE_MS, SAMPLE_MS
    return tr.burst(at_min=60, minutes=15, ratio=0.10).burst(at_min=9 * 60, minutes=5 * 60, ratio=0.01)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def expanding(values: np.ndarray) -> str:
    """promtool's expanding notation: runs of a constant step as ``a+bxn``."""
    parts = []
    i, n = 0, len(values)
    while i < n:
        if i + 1 == n:
            parts.append(_num(values[i]))
            break
        d = values[i + 1] - values[i]
        j = i + 1
        while j + 1 < n and values[j + 1] - values[j] == d:
            j += 1
        parts.append(f"{_num(values[i])}{'+' if d >= 0 else '-'}{_num(abs(d))}x{j - i}")
        i = j + 1
    return " ".join(parts)


def promtool_test(tmp: Path, rules_name: str, rules_text: str, tr: Traffic, got: Replay) -> str:
    (tmp / rules_name).write_text(rules_text)
    err, total = tr.counters()
    series = [
        {"series": 'http_requests_total{job="api",status="500"}', "values": "_ " + expanding(err)},
        {"series": 'http_requests_total{job="api",status="200"}', "values": "_ " + expanding(total - err)},
    ]
    tests = []
    prev: object = None
    for i, (t, firing) in enumerate(zip(got.times, got.firing, strict=True)):
        state = sorted(tuple(sorted(f.labels.items())) for f in firing)
        if state == prev and i % 24:
            continue  # every change, and every 2h even without one
        prev = state
        for name in sorted({f.labels["alertname"] for f in firing} | {"APIHighErrorRate"}):
            tests.append({"eval_time": f"{t // 1000}s", "alertname": name, "exp_alerts": [
                {"exp_labels": {k: v for k, v in f.labels.items() if k != "alertname"},
                 "exp_annotations": f.annotations}
                for f in firing if f.labels["alertname"] == name]})
    # promtool orders groups by name unless told; guardia's replay runs them in file order
    # (recordings before the alerts that read them), so promtool is told the same order.
    order = [g["name"] for g in yaml.safe_load(rules_text)["groups"]]
    doc = {"rule_files": [rules_name], "evaluation_interval": f"{STEP // 1000}s",
           "group_eval_order": order,
           "tests": [{"interval": f"{SAMPLE_MS}ms", "input_series": series, "alert_rule_test": tests}]}
    (tmp / "test.yml").write_text(yaml.safe_dump(doc, sort_keys=False, width=1_000_000))
    p = subprocess.run(["promtool", "test", "rules", "test.yml"], cwd=tmp, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    return p.stdout


def test_promtool_raises_the_alerts_guardia_raises_for_sloths_rules(tmp_path: Path) -> None:
    tr = scenario()
    text = (DATA / "sloth_api.rules.yml").read_text()
    got = replay([str(DATA / "sloth_api.rules.yml")], tr.store(), 0, HOURS * HOUR - STEP, STEP)
    assert any(got.active(sloth_severity="page")) and any(got.active(sloth_severity="ticket"))
    assert "SUCCESS" in promtool_test(tmp_path, "sloth.rules.yml", text, tr, got)


def test_promtool_raises_the_alerts_guardia_raises_for_its_own_rules(tmp_path: Path) -> None:
    tr = scenario()
    slos, _ = load_file(DATA / "sloth_api.yml")
    text = to_yaml(rule_file(slos, with_budget=False))
    (tmp_path / "g.rules.yml").write_text(text)
    got = replay([str(tmp_path / "g.rules.yml")], tr.store(), 0, HOURS * HOUR - STEP, STEP)
    assert all(any(got.active(slo_long_window=w)) for w in ("1h", "6h", "1d", "3d"))
    assert "SUCCESS" in promtool_test(tmp_path, "g.rules.yml", text, tr, got)
