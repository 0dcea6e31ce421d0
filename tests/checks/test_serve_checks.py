"""`guardia serve` with checks: series queryable, thresholds as rules in /api/v1/rules that fire,
/api/v1/checks, and a broken checks section refused on reload with the check's name."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_serve import Serve, serving

PLUGIN = Path(__file__).parent / "plugins" / "check_queue.sh"

CONFIG = """
global: {{evaluation_interval: 1s}}
scrape_configs: []
checks:
  - python: {{module: teamchecks}}
    interval: 2s
    timeout: 1s
  - name: queue
    interval: 2s
    command: {{argv: ["{plugin}", "warning"]}}
    labels: {{team: ops}}
  - name: dora
    interval: 1s
    dora: {{}}
"""

MODULE = """
import guardia.checks

@guardia.checks.check(warning="> 50000", critical="> 100000")
def session_table():
    return {(("table", "django_session"),): 60000}
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Serve]:
    (tmp_path / "teamchecks.py").write_text(MODULE)
    with serving(tmp_path, CONFIG.format(plugin=PLUGIN)) as s:
        yield s


def test_checks_in_a_running_guardia(served: Serve, tmp_path: Path) -> None:
    s = served
    [row] = s.query_until('guardia_check_value{check="queue", perfdata="age"}')
    assert row["metric"] == {"__name__": "guardia_check_value", "check": "queue", "team": "ops",  # type: ignore[comparison-overlap]
                             "perfdata": "age", "unit": "seconds"}
    assert s.query_until('guardia_check_status{check="queue"} == 1')
    assert s.query_until('guardia_check_success{check="session_table"} == 1')
    assert s.query_until("guardia_check_duration_seconds")
    groups = {g["name"]: g for g in s.http.get("/api/v1/rules").json()["data"]["groups"]}
    rules = groups["check:session_table"]["rules"]
    assert groups["check:session_table"]["file"] == "checks"
    assert [(r["name"], r["query"], r["labels"]["severity"]) for r in rules] == [
        ("session_table", 'guardia_check_value{check="session_table"} > 50000', "warning"),
        ("session_table", 'guardia_check_value{check="session_table"} > 100000', "critical"),
    ]
    [alert] = s.query_until('ALERTS{alertname="session_table", alertstate="firing"}')
    assert alert["metric"]["severity"] == "warning" and alert["metric"]["table"] == "django_session"  # type: ignore[index]
    listed = {c["name"]: c for c in s.http.get("/api/v1/checks").json()["data"]}
    assert listed["queue"]["status"] == "warning" and listed["queue"]["message"] == "QUEUE WARNING - 70 jobs"
    assert listed["session_table"]["thresholds"] == {"warning": "> 50000", "critical": "> 100000"}
    # deployments: the API records the contract's series, the DORA checks read them
    now = time.time()
    r = s.http.post("/api/v1/deployments", json={"service": "api", "version": "1.2.0", "status": "success",
                                                 "started": now - 300, "finished": now - 1, "commit": "abc"})
    assert r.status_code == 200 and r.json()["data"]["leadTimeSeconds"] == pytest.approx(299)
    [info] = s.query_until("count_over_time(guardia_deployment_info[1h])")
    assert info["metric"] == {"service": "api", "version": "1.2.0", "status": "success", "commit": "abc"}
    [lead] = s.query_until("last_over_time(guardia_deployment_lead_time_seconds[1h])")
    assert float(lead["value"][1]) == pytest.approx(299)  # type: ignore[index]
    assert s.query_until('guardia_check_value{check="dora_deployments", service="api"} == 1')
    bad = s.http.post("/api/v1/deployments", json={"service": "api", "version": "1", "status": "done"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("status 'done' must be one of")
    # a broken checks section is refused with file, line and the check's name; the old checks run on
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(cfg.read_text().replace("labels: {team: ops}", "labels: {team: ops}\n    warning: lots"))
    r = s.http.post("/-/reload")
    assert r.status_code == 500 and "guardia.yml:12" in r.text and "check 'queue'" in r.text, r.text
    assert s.http.get("/api/v1/checks/queue").json()["data"]["name"] == "queue"
