"""`guardia slo backtest --url` against a real Prometheus (Debian's) holding the same history
as guardia's store: the same episodes and budget, through Prometheus's own query API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from guardia.promql import Engine
from guardia.slo import load_file
from guardia.slo.backtest import backtest, engine_queries
from tests.prometheus_backfill import backfilled_prometheus
from tests.slo.synth import MIN, Traffic

DATA = Path(__file__).parent / "data"
SRC = str(Path(__file__).resolve().parents[2] / "src")

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None,
    reason="Debian's prometheus package (prometheus, promtool) is not installed")


def history() -> Traffic:
    """Six hours ending a few minutes ago with a fast burn; samples 17 ms off the minute, so no
    sample sits on a window edge (Prometheus 2 includes one there, Prometheus 3 and guardia do
    not)."""
    now = int(time.time() * 1000)
    tr = Traffic.steady(6).burst(at_min=200, minutes=15, ratio=0.10).burst(at_min=280, minutes=40, ratio=0.01)
    tr.start_ms = now - now % MIN - 6 * 60 * MIN + 17
    return tr


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Traffic]]:
    tmp = tmp_path_factory.mktemp("prom")
    tr = history()
    err, total = tr.counters()
    lines = ["# TYPE http_requests counter"]
    for status, values in (("500", err), ("200", total - err)):
        for t, v in zip(tr.times().tolist(), np.asarray(values).tolist(), strict=True):
            lines.append(f'http_requests_total{{job="api",status="{status}"}} {v:.0f} {t / 1000:.3f}')
    lines.append("# EOF")
    with backfilled_prometheus(tmp, "\n".join(lines) + "\n", "count(http_requests_total)") as url:
        yield url, tr


def test_backtest_through_prometheus_finds_what_guardia_finds(prometheus: tuple[str, Traffic]) -> None:
    url, tr = prometheus
    env = {**os.environ, "PYTHONPATH": SRC}
    p = subprocess.run([sys.executable, "-m", "guardia.cli.main", "slo", "backtest", "requests-availability",
                        "--since", "6h", "--file", str(DATA / "api.yml"), "--url", url, "--json"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    (slo,), _ = load_file(DATA / "api.yml")
    rq, iq = engine_queries(Engine(), tr.store())
    want = backtest(slo, rq, iq, int(got["start"] * 1000), int(got["end"] * 1000)).to_json()
    assert len(want["alerts"]) >= 2
    assert got["alerts"] == want["alerts"]
    assert got["errorBudgetRemaining"] == pytest.approx(want["errorBudgetRemaining"], rel=1e-6)
