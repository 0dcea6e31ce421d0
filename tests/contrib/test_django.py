"""A real Django project (examples/iact, seed 004's IACT call center) against a real guardia:
its signals and ERROR logs are pushed as alerts, its checks run in guardia with their
thresholds, and all of it comes out of a webhook receiver; ``manage.py guardia_checks`` runs the
checks once with Nagios exit codes."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.contrib.sink import Sink
from tests.test_serve import Serve

pytest.importorskip("django")

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "iact"
SRC = REPO / "src"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Sink, Serve]]:
    tmp = tmp_path_factory.mktemp("iact")
    shutil.copytree(EXAMPLE, tmp / "iact", ignore=shutil.ignore_patterns("db.sqlite3", "guardia-spool"))
    root = tmp / "iact"
    cfg_path = root / "guardia.yml"
    cfg = yaml.safe_load(cfg_path.read_text())
    # the example's schedule, made fast for a test
    cfg["global"]["evaluation_interval"] = "1s"
    cfg["alertmanager"]["route"].update(group_wait="0s", group_interval="1s")
    for c in cfg["checks"]:
        c["interval"], c["timeout"] = "2s", "2s"
    cfg_path.write_text(yaml.safe_dump(cfg))
    sink = Sink()
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{REPO}", "IACT_WEBHOOK_URL": f"{sink.url}/iact"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=root / "callcentersite", env=env,
                   check=True, capture_output=True)
    with sqlite3.connect(root / "callcentersite" / "db.sqlite3") as conn:  # 60K sessions: a warning
        conn.executemany("insert into django_session (session_key, session_data, expire_date) "
                         "values (?, '', ?)",
                         ((f"k{i}", "2030-01-01 00:00:00") for i in range(60_000)))
    old = os.environ.get("IACT_WEBHOOK_URL")
    os.environ["IACT_WEBHOOK_URL"] = env["IACT_WEBHOOK_URL"]
    try:
        s = Serve(root, "--config.file", str(cfg_path))
    finally:
        if old is None:
            os.environ.pop("IACT_WEBHOOK_URL")
        else:
            os.environ["IACT_WEBHOOK_URL"] = old
    try:
        s.wait_ready()
        yield root, sink, s
    finally:
        if s.proc.poll() is None:
            s.stop()
        sink.close()


def _manage(root: Path, s: Serve, *args: str, url: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{REPO}", "GUARDIA_URL": url or s.url,
           "GUARDIA_SPOOL_DIR": str(root / "spool")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=root / "callcentersite", env=env,
                          capture_output=True, text=True, timeout=120)


def _delivered(sink: Sink, timeout: float = 30, **labels: str) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for _, body in list(sink.bodies):
            for a in body.get("alerts", []):
                if all(a["labels"].get(k) == v for k, v in labels.items()):
                    return dict(a)
        time.sleep(0.2)
    raise AssertionError(f"no delivered alert with {labels}: {sink.bodies}")


SHELL = """
import logging
from dora_metrics.alerts import critical_alert, warning_alert
from guardia.contrib.django.settings import background
critical_alert.send(sender=None, message="No deployments in 7 days", context={"component": "dora", "days": 9})
warning_alert.send(sender=None, message="Change failure rate 25%", context={"component": "dora"})
log = logging.getLogger("dora_metrics.views")
try:
    1 / 0
except ZeroDivisionError:
    for _ in range(5):  # one alert: the rest are held back by the rate limit
        log.exception("report failed for %s", "agent-7")
assert background().join(20), "alerts not sent"
print("sent")
"""


def test_signals_and_error_logs_come_out_of_the_webhook(project: tuple[Path, Sink, Serve]) -> None:
    root, sink, s = project
    r = _manage(root, s, "shell", "-c", SHELL)
    assert r.returncode == 0 and "sent" in r.stdout, r.stderr
    crit = _delivered(sink, alertname="critical_alert")
    assert crit["labels"] == {"alertname": "critical_alert", "severity": "critical",
                              "service": "callcentersite", "component": "dora", "days": "9"}
    assert crit["annotations"]["summary"] == "No deployments in 7 days"
    warn = _delivered(sink, alertname="warning_alert")
    assert warn["labels"]["severity"] == "warning"
    err = _delivered(sink, alertname="DjangoError")
    assert err["labels"]["logger"] == "dora_metrics.views" and err["labels"]["level"] == "ERROR"
    assert err["annotations"]["summary"] == "report failed for agent-7"
    assert "ZeroDivisionError" in err["annotations"]["description"]
    listed = [a for a in s.http.get("/api/v2/alerts").json() if a["labels"]["alertname"] == "DjangoError"]
    assert len(listed) == 1  # five records, one alert (rate limited)


def test_checks_thresholds_reach_the_webhook(project: tuple[Path, Sink, Serve]) -> None:
    _, sink, s = project
    a = _delivered(sink, alertname="session_table", severity="warning")
    assert a["labels"]["service"] == "callcentersite" and a["labels"]["check"] == "session_table"
    checks = {c["name"]: c for c in s.http.get("/api/v1/checks").json()["data"]}
    assert checks["session_rows"]["values"] == [{"labels": {}, "value": 60000.0}]
    assert "dora_days_since_deployment" in checks


def test_manage_py_guardia_checks(project: tuple[Path, Sink, Serve]) -> None:
    root, _, s = project
    r = _manage(root, s, "guardia_checks", "--check", "session_table", "--check", "session_rows")
    # 60K sessions cross session_table's warning threshold: WARNING, exit status 1 (Nagios)
    assert r.returncode == 1, r.stderr
    assert sorted(r.stdout.splitlines()) == ["session_rows OK 60000", "session_table WARNING 60000 - 1 rows"]
    ok = _manage(root, s, "guardia_checks", "--check", "session_rows")
    assert ok.returncode == 0 and ok.stdout.strip() == "session_rows OK 60000"
    bad = _manage(root, s, "guardia_checks", "--check", "nope")
    assert bad.returncode == 1 and "no check named 'nope'" in bad.stderr
    # --push: the crossed threshold fired through the client, to an Alertmanager API stand-in
    am = Sink()
    try:
        pushed = _manage(root, s, "guardia_checks", "--check", "session_table", "--push", url=am.url)
        assert pushed.returncode == 1, pushed.stderr
        [(path, body)] = am.bodies
        alerts = {a["labels"]["severity"]: a for a in body}
        assert path == "/api/v2/alerts" and set(alerts) == {"warning", "critical"}
        assert alerts["warning"]["labels"]["check"] == "session_table" and "startsAt" in alerts["warning"]
        assert "endsAt" in alerts["critical"]  # not crossed: resolved
        assert alerts["warning"]["annotations"]["summary"] == "check session_table: 60000 > 50000"
    finally:
        am.close()
