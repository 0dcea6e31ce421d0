"""``guardia readiness`` from evidence: the team's files alone, a running guardia with and
without a snapshot and with a receiver that has and has not delivered, and a real Prometheus
behind TLS and basic auth (its web config file and its answers as the evidence)."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.audit.gad_peer import free_port
from tests.probes.certs import make_pki
from tests.test_serve import Serve

REPO = Path(__file__).resolve().parents[2]
SRC = str(REPO / "src")
TEAM = REPO / "examples" / "grupo-gad"


def _readiness(*args: str) -> tuple[int, dict[str, Any]]:
    res = subprocess.run([sys.executable, "-m", "guardia.cli.main", "readiness", *args, "--format", "json"],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": SRC})
    assert res.returncode in (0, 1), res.stderr
    return res.returncode, json.loads(res.stdout)


def _items(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["id"]: i for i in doc["items"]}


def test_team_files_alone_are_no_go_and_unknown_is_never_pass() -> None:
    code, doc = _readiness(str(TEAM / "prometheus.yml"), str(TEAM / "alertmanager.yml"))
    items = _items(doc)
    assert code == 1 and doc["verdict"] == "NO-GO"
    assert {k: v["status"] for k, v in items.items()} == {
        "coverage": "FAIL", "delivery": "FAIL", "retention": "UNKNOWN", "snapshots": "UNKNOWN",
        "slos": "UNKNOWN", "secrets": "FAIL", "auth-tls": "UNKNOWN", "audit": "FAIL"}
    secrets = items["secrets"]["evidence"]
    assert [(e["file"].endswith("alertmanager.yml"), e["line"]) for e in secrets] == [(True, 10), (True, 11)]
    assert [e["line"] for e in items["coverage"]["evidence"]] == [19, 52, 59]


def test_formats_and_usage_errors(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": SRC}
    run = [sys.executable, "-m", "guardia.cli.main", "readiness", str(TEAM / "alertmanager.yml")]
    md = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60).stdout
    assert md.startswith("# Readiness (small-team): **NO-GO**") and "| **FAIL** |" in md
    html = subprocess.run([*run, "--format", "html"], capture_output=True, text=True, env=env,
                          timeout=60).stdout
    assert html.startswith("<!doctype html>") and "<strong>UNKNOWN</strong>" in html
    bad = subprocess.run([*run, "--profile", "bank"], capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "--profile must be one of small-team, government" in bad.stderr


class _Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[int]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_port
    srv.shutdown()
    srv.server_close()


CONFIG = """
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yml]
scrape_configs:
  - job_name: guardia
    static_configs: [{targets: ['127.0.0.1:PORT']}]
alertmanager:
  route: {receiver: team, group_wait: 0s, group_interval: 1s}
  receivers:
    - name: team
      webhook_configs: [{url: 'http://127.0.0.1:SINK/hook'}]
"""
RULES = """
groups:
  - name: g
    rules:
      - alert: GuardiaDown
        expr: up{job="guardia"} == 0
        for: 1m
"""


def _delivered(s: Serve, n: int) -> None:
    deadline = time.time() + 30
    q = 'sum(alertmanager_notifications_total{receiver_name="team"})'
    while time.time() < deadline:
        r = s.http.get("/api/v1/query", params={"query": q}).json()["data"]["result"]
        if r and float(r[0]["value"][1]) >= n:
            return
        time.sleep(0.3)
    raise AssertionError(f"guardia did not scrape {n} notifications to the team receiver")


def test_running_guardia_with_and_without_snapshot_and_delivery(tmp_path: Path, sink: int) -> None:
    os.environ["PYTHONPATH"] = SRC
    cfg = tmp_path / "guardia.yml"
    s = Serve(tmp_path, "--config.file", str(cfg), "--web.enable-admin-api",
              "--storage.tsdb.retention.time", "30d")
    cfg.write_text(CONFIG.replace("PORT", str(s.port)).replace("SINK", str(sink)))
    (tmp_path / "rules.yml").write_text(RULES)
    data = str(tmp_path / "data")
    try:
        s.wait_ready()
        s.wait_up("guardia")
        _, doc = _readiness(str(cfg), "--url", s.url, "--storage.tsdb.path", data)
        items = _items(doc)
        assert items["snapshots"]["status"] == "FAIL" and "no snapshot" in items["snapshots"]["summary"]
        assert items["delivery"]["status"] == "FAIL"
        assert items["delivery"]["evidence"][0]["value"] == "no data"
        assert items["retention"]["status"] == "PASS"
        assert items["retention"]["evidence"][0]["value"] == "30d"
        assert items["coverage"]["status"] == "PASS"
        assert items["secrets"]["status"] == "PASS"
        assert items["auth-tls"]["status"] == "FAIL"  # plain HTTP, and /api/v1/status/config answers anyone
        assert items["auth-tls"]["evidence"][-1]["value"] == "HTTP 200"

        # two notifications (the first only creates the counter, which increase() cannot see)
        for name in ("ReadinessOne", "ReadinessTwo"):
            s.http.post("/api/v2/alerts", json=[{"labels": {"alertname": name, "severity": "none"}}])
            _delivered(s, 1 if name == "ReadinessOne" else 2)
        time.sleep(2)
        snap = s.http.post("/api/v1/admin/tsdb/snapshot").json()
        assert snap["status"] == "success", snap
        _, doc = _readiness(str(cfg), "--url", s.url, "--storage.tsdb.path", data)
        items = _items(doc)
        assert items["snapshots"]["status"] == "PASS", items["snapshots"]
        assert "read back" in items["snapshots"]["evidence"][1]["text"]
        assert items["delivery"]["status"] == "PASS", items["delivery"]
        assert "increase(alertmanager_notifications_total[30d])" in items["delivery"]["evidence"][0]["query"]
        # the server's own checklist also sees its embedded Alertmanager's last delivery
        own = {i["id"]: i for i in s.http.get("/api/v1/readiness", timeout=60).json()["data"]["items"]}
        assert own["delivery"]["status"] == "PASS", own["delivery"]
        assert any(e["text"] == 'receiver "team": the running Alertmanager delivered a notification'
                   and e["timestamp"] for e in own["delivery"]["evidence"])

        # a snapshot that no longer restores fails, with the reason
        snapdir = Path(data) / "snapshots" / snap["data"]["name"]
        for block in snapdir.iterdir():
            if block.is_dir():
                (block / "index").write_bytes(b"garbage")
        _, doc = _readiness(str(cfg), "--url", s.url, "--storage.tsdb.path", data)
        assert _items(doc)["snapshots"]["status"] == "FAIL"
        assert "does not restore" in _items(doc)["snapshots"]["summary"]
    finally:
        s.stop()


# bcrypt of "secret" (cost 4), as Prometheus's web config wants it
BCRYPT_SECRET = "$2b$04$5fGchcZAN/A.sKG5L9zZAuhUsFUNblfrKR/5.8cWNsTohYjNTr3Ku"


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian's prometheus package is not installed")
def test_auth_and_tls_on_a_real_prometheus(tmp_path: Path) -> None:
    _, leaves = make_pki(tmp_path)
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {leaves['good'].cert}\n"
                   f"  key_file: {leaves['good'].key}\n"
                   f"basic_auth_users:\n  admin: '{BCRYPT_SECRET}'\n")
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 15s}\n")
    port = free_port()
    proc = subprocess.Popen(["/usr/bin/prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.config.file={web}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"https://localhost:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                r = httpx.get(url + "/-/ready", auth=("admin", "secret"), verify=False, timeout=2)
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        _, doc = _readiness("--url", url, "--web.config.file", str(web), "--profile", "government")
        item = _items(doc)["auth-tls"]
        assert item["status"] == "PASS", item
        assert [e["value"] for e in item["evidence"] if e["value"].startswith("HTTP")] == ["HTTP 401"]
        assert "serves the certificate of cert_file" in item["evidence"][-1]["text"]
        assert item["required"] is True
        # the same web config without users: authentication is off
        web.write_text(f"tls_server_config:\n  cert_file: {leaves['good'].cert}\n"
                       f"  key_file: {leaves['good'].key}\n")
        _, doc = _readiness("--web.config.file", str(web))
        assert _items(doc)["auth-tls"]["status"] == "FAIL"
        assert _items(doc)["auth-tls"]["summary"] == "authentication off"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
