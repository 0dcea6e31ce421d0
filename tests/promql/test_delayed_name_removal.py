"""Prometheus 3's ``promql-delayed-name-removal``: guardia's own scripts for it, and every
conformance script, which must give the same answers with the feature on (Prometheus runs its
own test scripts that way)."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardia.promql import Engine, EngineOptions
from guardia.promql.scripttest import ScriptRunner
from tests.promql.test_conformance import ABSENT, FILES

CASES = sorted(Path(__file__).with_name("cases_delayed_names").glob("*.test"))


def _runner() -> ScriptRunner:
    return ScriptRunner(Engine(EngineOptions(timeout_s=60.0, delayed_name_removal=True)))


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_delayed_name_removal_script(path: Path) -> None:
    report = _runner().run_file(path)
    assert report.failed == 0, "\n".join(f"{f.line}: {f.query}\n{f.diff}" for f in report.failures)
    assert report.passed > 0


def test_the_same_cases_without_the_feature_drop_names_at_once() -> None:
    """Without the feature the label functions cannot see a dropped name (Prometheus 3's default)."""
    report = ScriptRunner().run_text(
        'load 5m\n  pedidos_total{tienda="norte"} 0 30 60\n\n'
        'eval instant at 10m label_replace(rate(pedidos_total[10m]), "origen", "$1", "__name__", "(.+)")\n'
        '  {tienda="norte"} 0.1\n')
    assert report.failed == 0 and report.passed == 1


def test_every_conformance_script_passes_with_delayed_name_removal() -> None:
    if not FILES:
        pytest.skip(ABSENT)
    failures = []
    total = 0
    for path in FILES:
        report = _runner().run_file(path)
        total += report.passed + report.failed
        failures += [f"{path.name}:{f.line}: {f.query}\n{f.diff}" for f in report.failures]
    assert not failures, "\n".join(failures[:20])
    assert total > 900
