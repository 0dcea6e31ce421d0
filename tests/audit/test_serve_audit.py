"""The continuous audit inside a real ``guardia serve``: after start, after a reload, as
``/api/v1/audit``, ``guardia_audit_problems`` on /metrics and the UI's Audit page; and
``guardia audit --url`` against that running guardia."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.test_serve import Serve

SRC = str(Path(__file__).resolve().parents[2] / "src")

CONFIG = """
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yml]
scrape_configs:
  - job_name: guardia
    static_configs: [{targets: ['127.0.0.1:PORT']}]
"""
BROKEN = """
groups:
  - name: g
    rules:
      - alert: SocketsHigh
        expr: websocket_connections_active > 1000
      - alert: GuardiaDown
        expr: up{job="guardia"} == 0
"""
FIXED = BROKEN.replace("websocket_connections_active > 1000", "prometheus_http_requests_total > 1e9")


def _audit(s: Serve, after: float, timeout: float = 30) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        data: dict[str, Any] = s.http.get("/api/v1/audit").json()["data"]
        if data["lastRun"] and data["lastRun"] > after:
            return data
        time.sleep(0.3)
    raise AssertionError(f"no audit after {after}:\n{s.log.read_text()[-3000:]}")


def test_serve_audits_after_start_and_reload(tmp_path: Path) -> None:
    os.environ["PYTHONPATH"] = SRC
    s = Serve(tmp_path, "--config.file", str(tmp_path / "guardia.yml"))
    (tmp_path / "guardia.yml").write_text(CONFIG.replace("PORT", str(s.port)))
    (tmp_path / "rules.yml").write_text(BROKEN)
    try:
        s.wait_ready()
        data = _audit(s, 0)
        bugs = [f for f in data["findings"] if f["severity"] == "Bug"]
        assert [(f["check"], f["rule"]) for f in bugs] == [("promql/series", "SocketsHigh")]
        assert bugs[0]["file"].endswith("rules.yml") and bugs[0]["line"] == 5
        assert {"check": "promql/series", "severity": "bug", "count": 1} in data["counts"]
        metrics = s.http.get("/metrics").text
        assert 'guardia_audit_problems{check="promql/series",severity="bug"} 1.0' in metrics
        page = s.http.get("/audit")
        assert page.status_code == 200 and 'data-check="promql/series"' in page.text
        assert "websocket_connections_active has never existed" in page.text
        only_bugs = s.http.get("/api/v1/audit", params={"severity": "bug"}).json()["data"]["findings"]
        assert [f["check"] for f in only_bugs] == ["promql/series"]
        bad = s.http.get("/api/v1/audit", params={"severity": "fatal"})
        assert bad.status_code == 400 and "severity must be one of" in bad.json()["error"]

        # guardia audit --url against this running guardia, from the same files
        res = subprocess.run([sys.executable, "-m", "guardia.cli.main", "audit",
                              str(tmp_path / "guardia.yml"), "--url", s.url, "--format", "json"],
                             capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PYTHONPATH": SRC})
        assert res.returncode == 1, res.stderr
        cli = [(f["check"], f["rule"]) for f in json.loads(res.stdout) if f["severity"] == "Bug"]
        assert cli == [("promql/series", "SocketsHigh")]

        (tmp_path / "rules.yml").write_text(FIXED)
        before = data["lastRun"]
        assert s.http.post("/-/reload").status_code == 200
        data = _audit(s, before)
        assert [f for f in data["findings"] if f["severity"] == "Bug"] == []
        assert 'severity="bug"' not in s.http.get("/metrics").text
    finally:
        s.stop()
