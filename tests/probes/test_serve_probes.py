"""`guardia serve` with probes: series queryable, /probe as a Blackbox exporter, pushes, reloads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.probes.conftest import Targets
from tests.test_serve import Serve, serving

CONFIG = """
scrape_configs: []
probes:
  - name: api
    module: http_2xx
    targets: ["http://{http}/health"]
    interval: 1s
    conditions: ["[BODY].status == UP"]
  - name: backup
    heartbeat: {{token: nightly-backup-7f3a9c2e, period: 1h}}
"""


@pytest.fixture
def served(tmp_path: Path, targets: Targets) -> Iterator[Serve]:
    with serving(tmp_path, CONFIG.format(http=targets.http)) as s:
        yield s


def test_probe_series_pushes_and_reload(served: Serve, targets: Targets, tmp_path: Path) -> None:
    s = served
    [row] = s.query_until('probe_success{job="api"} == 1')
    assert row["metric"] == {"__name__": "probe_success", "job": "api",  # type: ignore[comparison-overlap]
                             "instance": f"http://{targets.http}/health"}
    assert s.query_until('probe_http_duration_seconds{job="api",phase="processing"}')
    # guardia as an external Prometheus's blackbox exporter
    text = s.http.get("/probe", params={"target": f"http://{targets.http}/health", "module": "http_2xx"}).text
    assert "probe_success 1" in text and 'probe_http_duration_seconds{phase="connect"}' in text
    assert s.http.get("/api/push/nightly-backup-7f3a9c2e", params={"msg": "ok"}).json() == {"ok": True}
    listed = {p["name"]: p for p in s.http.get("/api/v1/probes").json()["data"]}
    assert listed["backup"]["status"] == "up" and listed["api"]["status"] == "up"
    # a broken probes section is refused with file and line; the running probes keep going
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(cfg.read_text().replace("module: http_2xx", "module: http_2xxx"))
    r = s.http.post("/-/reload")
    assert r.status_code == 500 and "guardia.yml:5" in r.text and "http_2xxx" in r.text
    before = len(s.query_until('count_over_time(probe_success{job="api"}[1m])'))
    assert before == 1
