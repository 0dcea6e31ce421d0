"""RuleManager: loading rule files, reload keeping alert state, running groups as tasks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from guardia.config.errors import ConfigError
from guardia.model import Labels
from guardia.rules import RuleManager
from guardia.rules.alerting import AlertingRule
from guardia.storage.memory import MemoryStorage

ROOT = Path(__file__).resolve().parents[2]


def test_loads_the_grupo_gad_rules() -> None:
    m = RuleManager(MemoryStorage())
    m.update([str(ROOT / "examples" / "grupo-gad" / "alerts.yml")])
    groups = m.rule_groups()
    assert [g.name for g in groups] == ["api", "database", "infrastructure", "redis",
                                        "websocket"]
    assert sum(len(g.rules) for g in groups) == 18
    assert all(g.interval_ms == 60_000 for g in groups)


def test_bad_file_raises_and_keeps_the_running_groups(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text("groups: [{name: g, rules: [{record: r, expr: vector(1)}]}]\n")
    m = RuleManager(MemoryStorage())
    m.update([str(good)])
    bad = tmp_path / "bad.yml"
    bad.write_text("groups: [{name: g, rules: [{record: r, expr: 'sum('}]}]\n")
    with pytest.raises(ConfigError) as err:
        m.update([str(bad)])
    assert "bad.yml" in str(err.value)
    assert list(m.groups) == [f"{good};g"]


def test_reload_keeps_active_alerts(tmp_path: Path) -> None:
    storage = MemoryStorage()
    storage.add_series(Labels({"__name__": "up", "job": "x"}), [0, 60_000], [0, 0])
    f = tmp_path / "r.yml"
    f.write_text("groups: [{name: g, rules: [{alert: Down, expr: up == 0, for: 5m}]}]\n")
    m = RuleManager(storage)
    m.update([str(f)])
    (g,) = m.groups.values()
    g.eval(0)
    f.write_text("groups: [{name: g, rules: [{alert: Down, expr: up == 0, for: 5m, "
                 "annotations: {a: b}}]}]\n")
    m.update([str(f)])
    (g2,) = m.groups.values()
    assert g2 is not g
    rule = g2.rules[0]
    assert isinstance(rule, AlertingRule)
    (alert,) = rule.active.values()
    assert alert.active_at_ms == 0  # the pending `for` did not restart


async def test_runs_groups_as_tasks_and_stops(tmp_path: Path) -> None:
    storage = MemoryStorage()
    reg = CollectorRegistry()
    m = RuleManager(storage, registry=reg)
    m.evaluation_interval_ms = 100
    src = "groups: [{name: fast, interval: 100ms, rules: [{record: one, expr: vector(1)}]}]\n"
    path = tmp_path / "fast.yml"
    path.write_text(src)
    m.update([str(path)])
    await m.start()
    await asyncio.sleep(0.45)
    await m.stop()
    key = {"rule_group": f"{path};fast"}
    runs = reg.get_sample_value("prometheus_rule_evaluations_total", key)
    assert runs is not None and 2 <= runs <= 6
    assert reg.get_sample_value("prometheus_rule_group_interval_seconds", key) == 0.1


def test_global_rule_query_offset_is_the_default(tmp_path: Path) -> None:
    f = tmp_path / "r.yml"
    f.write_text("groups:\n"
                 "  - {name: own, query_offset: 30s, rules: [{record: a, expr: vector(1)}]}\n"
                 "  - {name: inherits, rules: [{record: b, expr: vector(1)}]}\n")
    m = RuleManager(MemoryStorage(), query_offset_ms=60_000)
    m.update([str(f)])
    offsets = {g.name: g.query_offset_ms for g in m.rule_groups()}
    assert offsets == {"own": 30_000, "inherits": 60_000}
