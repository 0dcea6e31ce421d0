"""SLOs in the process: checked against the data, rules installed in the rule manager (so
visible in /api/v1/rules), budgets computed and written as series, the API views."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from guardia.model import Matcher
from guardia.promql import Engine
from guardia.rules import RuleManager
from guardia.slo.service import SLOService
from guardia.storage.memory import MemoryStorage
from tests.slo.synth import HOUR, MIN, T0, Traffic, error_ratio

DATA = Path(__file__).parent / "data"


def config(tmp_path: Path, text: str) -> SimpleNamespace:
    f = tmp_path / "guardia.yml"
    f.write_text(text)
    return SimpleNamespace(file=str(f), slos=("x",))


GOOD = f"""slos:
  - file: {DATA / 'sloth_api.yml'}
  - name: latency
    service: api
    objective: 99
    window: month
    indicator:
      latency: {{metric: nothing_seconds, threshold: 0.5}}
"""


def make(storage: MemoryStorage, now_ms: int) -> tuple[SLOService, RuleManager]:
    rules = RuleManager(storage, run_in_thread=False)
    rules.update([])
    return SLOService(storage, Engine(), rules, clock=lambda: now_ms / 1000), rules


def test_an_slo_on_missing_data_is_rejected_and_gets_no_rules(tmp_path: Path) -> None:
    now = T0 + 2 * HOUR
    svc, rules = make(Traffic.steady(2).store(), now)
    svc.apply_config(config(tmp_path, GOOD))
    by = {d["name"]: d for d in svc.list()}
    assert by["requests-availability"]["state"] == "ok"
    assert by["latency"]["state"] == "rejected"
    assert "nobody exposes it" in by["latency"]["problems"][0]
    names = [g["name"] for g in rules.rules()["groups"]]
    assert names == ["slo:api:requests-availability"]


def test_the_rules_run_and_the_budget_is_written_as_series(tmp_path: Path) -> None:
    tr = Traffic.steady(3).burst(at_min=120, minutes=10, ratio=0.05)
    storage = tr.store()
    now = T0 + 3 * HOUR - MIN
    svc, rules = make(storage, now)
    svc.apply_config(config(tmp_path, GOOD))
    (group,) = rules.groups.values()
    for t in range(T0 + 10 * MIN, now, MIN):
        group.eval(t)
        svc.tick(t)
    cached_at = svc.ratios[svc.slos[0].id][0]
    assert now - cached_at <= 5 * MIN  # the period's ratio is re-read every 5 minutes
    svc.ratios.clear()
    group.eval(now)
    svc.tick(now)
    d = svc.get("api/requests-availability")
    assert d is not None
    st = d["status"]
    # 10 minutes at 5% of 600/min errors over the 3h of traffic there are (the budget covers
    # the stored history, not only the time since the SLO was added)
    expect_ratio = float(error_ratio(tr, np.array([now]), 30 * 24 * HOUR)[0])
    assert st["errorRatio"] == pytest.approx(expect_ratio, rel=0.01)
    assert st["errorBudgetRemaining"] == pytest.approx(1 - st["errorRatio"] / 0.001)
    assert st["burnRates"]["5m"] == 0
    assert st["exhaustion"] in ("exhausted", "never at the current burn rate")
    q = storage.querier(now - HOUR, now)
    got = q.select([Matcher.equal("__name__", "slo:error_budget_remaining:ratio")])
    assert got and got[0].labels.get("slo") == "requests-availability"
    assert math.isclose(float(got[0].values[-1]), st["errorBudgetRemaining"])
    burn = q.select([Matcher.equal("__name__", "slo:burn_rate:ratio")])
    assert sorted(s.labels.get("slo_window") for s in burn) == ["1d", "1h", "2h", "30m", "3d", "5m", "6h"]
    # 0.28% of the traffic failed in the 6h and 3d windows (over 1x the 0.1% budget): the
    # 3d/6h ticket is firing, and only it; the API shows it with its window pair
    firing = [(a["labels"]["slo_severity"], a["labels"]["slo_long_window"]) for a in d["alerts"]
              if a["state"] == "firing"]
    assert firing == [("ticket", "3d")]


def test_a_rejected_slo_is_accepted_once_its_series_appear(tmp_path: Path) -> None:
    storage = MemoryStorage()
    now = T0 + 2 * HOUR
    svc, rules = make(storage, now)
    svc.apply_config(config(tmp_path, GOOD))
    assert all(d["state"] == "rejected" for d in svc.list())
    assert rules.rules()["groups"] == []
    Traffic.steady(2).store(storage)
    assert svc.tick(now) is True
    svc.install()
    assert [g["name"] for g in rules.rules()["groups"]] == ["slo:api:requests-availability"]


def test_a_broken_slo_file_keeps_the_old_slos(tmp_path: Path) -> None:
    svc, _ = make(Traffic.steady(1).store(), T0 + HOUR)
    svc.apply_config(config(tmp_path, GOOD))
    with pytest.raises(ValueError, match="objective"):
        svc.apply_config(config(tmp_path, GOOD.replace("objective: 99", "objective: 990")))
    assert len(svc.slos) == 2


def test_the_list_puts_the_least_budget_first(tmp_path: Path) -> None:
    svc, _ = make(MemoryStorage(), T0)
    svc.apply_config(config(tmp_path, GOOD))
    from guardia.slo.status import Status
    a, b = svc.slos
    svc.accepted = {(a.service, a.name), (b.service, b.name)}
    svc.status[(a.service, a.name)] = Status(T0, T0, T0, budget_remaining=0.9)
    svc.status[(b.service, b.name)] = Status(T0, T0, T0, budget_remaining=-0.5)
    assert [d["name"] for d in svc.list()] == [b.name, a.name]
