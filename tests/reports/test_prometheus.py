"""The report over a real Prometheus (Debian's) through ``--url`` equals the report guardia
writes in-process from the same data: every figure, verdict and outage, alert and deployment.

The history is backfilled into Prometheus with ``promtool tsdb create-blocks-from
openmetrics``; samples sit 17 ms off the minute so none lies on a window's edge (Prometheus 2
includes a sample there, Prometheus 3 and guardia do not).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import pytest

from guardia.promql import Engine
from guardia.reports import EngineSource, HttpSource, Report, ReportRequest, build_report
from tests.prometheus_backfill import backfilled_prometheus
from tests.reports import synth

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None,
    reason="Debian's prometheus package (prometheus, promtool) is not installed")


def _openmetrics(ds: synth.Dataset) -> str:
    lines = []
    for name in sorted({lb.name for lb in ds.series}):
        lines.append(f"# TYPE {name} unknown")
        for lb, (t, v) in ds.series.items():
            if lb.name != name:
                continue
            labels = ",".join(f'{k}="{val}"' for k, val in lb if k != "__name__")
            head = f"{name}{{{labels}}}" if labels else name
            lines.extend(f"{head} {val!r} {ts / 1000:.3f}"
                         for ts, val in zip(t.tolist(), v.tolist(), strict=True))
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def shifted() -> tuple[synth.Dataset, int]:
    """The synthetic history moved to end an hour ago, samples 17 ms off the minute."""
    now = int(time.time() * 1000)
    end = now - now % synth.HOUR - synth.HOUR
    return synth.shifted(synth.build(), end - synth.END + 17), end


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, shifted: tuple[synth.Dataset, int]) -> Iterator[str]:
    with backfilled_prometheus(tmp_path_factory.mktemp("prom"), _openmetrics(shifted[0]),
                               "count(count_over_time(up[1d]))") as url:
        yield url


def _close(a: object, b: object) -> bool:
    """Equal, floats within 1e-6 (two engines sum in different orders)."""
    if isinstance(a, float) and isinstance(b, float):
        return bool(a == pytest.approx(b, rel=1e-6, abs=1e-9))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[x], b[x]) for x in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _key(r: Report) -> dict[tuple[str, tuple[tuple[str, str], ...]], object]:
    return {(f.name, tuple(sorted(f.labels.items()))): f for f in r.figures()}


def test_the_report_over_prometheus_equals_guardias(prometheus: str,
                                                   shifted: tuple[synth.Dataset, int]) -> None:
    ds, end = shifted
    req = ReportRequest(synth.WINDOW, synth.BASELINE, end)
    local = build_report(EngineSource(Engine(), synth.load_memory(ds)), req)
    src = HttpSource(prometheus)
    try:
        remote = build_report(src, req)
    finally:
        src.close()
    ours, theirs = _key(local), _key(remote)
    assert set(ours) == set(theirs)
    for k, f in ours.items():
        g = theirs[k]
        assert g.verdict == f.verdict, k
        for attr in ("value", "baseline"):
            a, b = getattr(f, attr), getattr(g, attr)
            assert (a is None) == (b is None), (k, attr)
            if a is not None:
                assert b == pytest.approx(a, rel=1e-6, abs=1e-12), (k, attr)
        assert _close(g.details, f.details), (k, g.details, f.details)
        assert _close(g.test, f.test), (k, g.test, f.test)
    assert [n.name for n in remote.not_evaluated] == [n.name for n in local.not_evaluated]
    assert remote.score == local.score
    outages = remote.find("outages", metric="up", job="api")[0]
    assert outages.details[0]["duration_seconds"] == 1800
