"""For a sloth file, guardia's alerts fire and resolve at the same evaluations as the rules
sloth itself generates for it (``data/sloth_api.rules.yml``), both run by guardia's rule
engine over the same history; and the same SLO written as sloth (both forms), pyrra and
guardia's own form gives the same alerts."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardia.promql import Engine
from guardia.slo import load_file
from guardia.slo.backtest import backtest, engine_queries
from guardia.slo.generate import as_rule_file
from tests.slo.replay import Replay, replay
from tests.slo.synth import HOUR, MIN, T0, Traffic

DATA = Path(__file__).parent / "data"
STEP = 5 * MIN
HOURS = 16


def scenario() -> Traffic:
    """Sixteen hours: a fast burn, a quiet spell long enough for every alert to resolve, a
    slow burn."""
    return (Traffic.steady(HOURS)
            .burst(at_min=60, minutes=15, ratio=0.10)
            .burst(at_min=9 * 60, minutes=5 * 60, ratio=0.01))


@pytest.fixture(scope="module")
def history() -> Traffic:
    return scenario()


def run(files: list[str], tr: Traffic) -> Replay:
    return replay(files, tr.store(), T0 + 10 * MIN, T0 + HOURS * HOUR - STEP, STEP)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sloth_rules(history: Traffic) -> Replay:
    return run([str(DATA / "sloth_api.rules.yml")], history)


def guardia_replay(name: str, tr: Traffic) -> Replay:
    slos, _ = load_file(DATA / name)
    return replay([as_rule_file(slos, name)], tr.store(), T0 + 10 * MIN, T0 + HOURS * HOUR - STEP, STEP)


@pytest.fixture(scope="module")
def from_sloth_file(history: Traffic) -> Replay:
    return guardia_replay("sloth_api.yml", history)


@pytest.mark.parametrize("severity", ["page", "ticket"])
def test_guardia_fires_and_resolves_when_sloths_rules_do(sloth_rules: Replay, from_sloth_file: Replay,
                                                        severity: str) -> None:
    want = sloth_rules.transitions(alertname="APIHighErrorRate", sloth_severity=severity)
    got = from_sloth_file.transitions(alertname="APIHighErrorRate", slo_severity=severity)
    assert len(want) >= 2  # the scenario exercises this severity
    assert got == want


def test_the_scenario_fires_every_pair(from_sloth_file: Replay) -> None:
    for long, short in (("1h", "5m"), ("6h", "30m"), ("1d", "2h"), ("3d", "6h")):
        assert any(from_sloth_file.active(slo_long_window=long, slo_short_window=short)), long


def test_guardia_keeps_the_files_labels_and_routes_by_severity(from_sloth_file: Replay) -> None:
    page = next(f for fs in from_sloth_file.firing for f in fs if f.labels["slo_severity"] == "page")
    assert page.labels["severity"] == "critical"
    assert page.labels["category"] == "availability"
    assert page.labels["owner"] == "backend"
    assert page.labels["slo_service"] == "api"
    assert page.annotations["summary"] == "High error rate on the API"


def backtest_of(name: str, tr: Traffic) -> list[tuple[str, int, int | None]]:
    (slo,), _ = load_file(DATA / name)
    rq, iq = engine_queries(Engine(), tr.store())
    res = backtest(slo, rq, iq, T0 + 10 * MIN, T0 + HOURS * HOUR - STEP, STEP)
    return [(f"{e.labels.get('slo_severity')} {e.labels.get('slo_long_window')}", e.fired_ms,
             e.resolved_ms) for e in res.episodes]


@pytest.mark.parametrize("name", ["sloth_api_k8s.yml", "pyrra_api.yml", "api.yml"])
def test_the_same_slo_in_every_format_gives_the_same_alerts(history: Traffic, name: str) -> None:
    want = backtest_of("sloth_api.yml", history)
    assert len(want) >= 4
    assert backtest_of(name, history) == want


def test_the_backtest_agrees_with_the_rules_guardia_serves(from_sloth_file: Replay,
                                                          history: Traffic) -> None:
    """The backtest evaluates the SLI inline over ranges; serving evaluates recordings then
    alerts one instant at a time: both must find the same episodes."""
    got = sorted(backtest_of("sloth_api.yml", history))
    want = []
    for long in ("1h", "6h", "1d", "3d"):
        sev = "page" if long in ("1h", "6h") else "ticket"
        on = from_sloth_file.transitions(slo_long_window=long)
        for i in range(0, len(on), 2):
            resolved = on[i + 1][0] if i + 1 < len(on) else None
            want.append((f"{sev} {long}", on[i][0], resolved))
    assert got == sorted(want)
