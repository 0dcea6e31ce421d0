"""The report over a real Prometheus (Debian's) through ``--url`` equals the report guardia
writes in-process from the same data: every figure, verdict and outage, alert and deployment.

The history is backfilled into Prometheus with ``promtool tsdb create-blocks-from
openmetrics``; samples sit 17 ms off the minute so none lies on a window's edge (Prometheus 2
includes a sample there, Prometheus 3 and guardia do not).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from guardia.promql import Engine
from guardia.reports import EngineSource, HttpSource, Report, ReportRequest, build_report
from tests.reports import synth

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None,
    reason="Debian's prometheus package (prometheus, promtool) is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    tmp = tmp_path_factory.mktemp("prom")
    (tmp / "history.om").write_text(_openmetrics(shifted[0]))
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(tmp / "history.om"),
                    str(tmp / "data")], check=True, capture_output=True, timeout=300)
    (tmp / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
    port = _free_port()
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=30d"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                r = httpx.get(url + "/api/v1/query", params={"query": "count(count_over_time(up[1d]))"},
                              timeout=2)
                if r.json()["data"]["result"]:
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("Prometheus did not load the backfilled blocks within 90s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


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
