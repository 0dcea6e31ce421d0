"""The /api/v1/rules and /api/v1/alerts data, shaped as Prometheus returns it."""

from __future__ import annotations

import pytest
from tests.rules.conftest import MIN, make_group

from guardia.model import Labels
from guardia.rules.api import RulesFilterError, alerts_data, rules_data
from guardia.storage.memory import MemoryStorage

RULES = """
groups:
  - name: g
    interval: 30s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: InstanceDown
        expr: up == 0
        for: 5m
        keep_firing_for: 1m
        labels: {severity: page}
        annotations: {summary: '{{ $labels.instance }} down'}
      - record: broken
        expr: up + on() up
"""


def _group():  # type: ignore[no-untyped-def]
    storage = MemoryStorage()
    for inst, v in (("a:1", 0.0), ("b:1", 1.0)):
        storage.add_series(Labels({"__name__": "up", "job": "api", "instance": inst}),
                           [0, MIN], [v, v])
    g = make_group(RULES, storage)
    g.eval(MIN)
    return g


def test_rules_data_shape() -> None:
    data = rules_data([_group()])
    (grp,) = data["groups"]
    assert grp["name"] == "g" and grp["file"] == "rules.yml"
    assert grp["interval"] == 30 and grp["limit"] == 0
    assert grp["lastEvaluation"] == "1970-01-01T00:01:00Z"
    assert isinstance(grp["evaluationTime"], float)
    rec, alert, broken = grp["rules"]
    assert list(rec) == ["name", "query", "labels", "health", "evaluationTime",
                         "lastEvaluation", "type"]
    assert rec["type"] == "recording" and rec["health"] == "ok"
    assert alert["type"] == "alerting"
    assert alert["state"] == "pending"
    assert (alert["duration"], alert["keepFiringFor"]) == (300, 60)
    assert alert["alerts"] == [{
        "labels": {"alertname": "InstanceDown", "instance": "a:1", "job": "api",
                   "severity": "page"},
        "annotations": {"summary": "a:1 down"},
        "state": "pending",
        "activeAt": "1970-01-01T00:01:00Z",
        "value": "0e+00",
    }]
    assert broken["health"] == "err" and "many-to-many" in broken["lastError"]


def test_rules_filters() -> None:
    g = _group()
    assert [r["name"] for r in rules_data([g], type_="alert")["groups"][0]["rules"]] == [
        "InstanceDown"]
    assert [r["name"] for r in rules_data([g], type_="record")["groups"][0]["rules"]] == [
        "job:up:sum", "broken"]
    assert rules_data([g], rule_names=["nope"]) == {"groups": []}
    assert rules_data([g], rule_groups=["other"]) == {"groups": []}
    assert rules_data([g], files=["rules.yml"])["groups"][0]["name"] == "g"
    assert "alerts" not in rules_data([g], exclude_alerts=True)["groups"][0]["rules"][1]
    with pytest.raises(RulesFilterError):
        rules_data([g], type_="alerts")


def test_alerts_data() -> None:
    data = alerts_data([_group()])
    assert [a["labels"]["instance"] for a in data["alerts"]] == ["a:1"]
    assert data["alerts"][0]["state"] == "pending"


def test_manager_exposes_the_same_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from guardia.rules import RuleManager

    f = tmp_path / "r.yml"
    f.write_text(RULES)
    storage = MemoryStorage()
    storage.add_series(Labels({"__name__": "up", "job": "api", "instance": "a:1"}), [0], [0])
    m = RuleManager(storage)
    m.update([str(f)])
    for g in m.rule_groups():
        g.eval(0)
    assert m.rules(type_="alert")["groups"][0]["rules"][0]["name"] == "InstanceDown"
    assert m.alerts()["alerts"][0]["labels"]["instance"] == "a:1"
