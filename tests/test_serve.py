"""`guardia serve` as a real subprocess: quickstart, reload (SIGHUP and HTTP), clean SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    def __init__(self, tmp: Path, *args: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "serve.log"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "guardia.cli.main",
                "serve",
                "--web.listen-address",
                f"127.0.0.1:{self.port}",
                "--storage.tsdb.path",
                str(tmp / "data"),
                *args,
            ],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
        self.http = httpx.Client(base_url=self.url, timeout=5)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if self.http.get("/-/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.proc.kill()  # a test that fails here may hold no handle to stop it: do not leak it
        self.proc.wait()
        raise AssertionError(f"not ready in {timeout}s:\n{self.log.read_text()}")

    def wait_up(self, job: str, timeout: float = 20) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.http.get("/api/v1/query", params={"query": f'up{{job="{job}"}} == 1'}).json()
            if r["status"] == "success" and r["data"]["result"]:
                return
            time.sleep(0.25)
        raise AssertionError(f"up{{job={job!r}}} never became 1:\n{self.log.read_text()}")

    def query_until(self, expr: str, timeout: float = 20) -> list[dict[str, object]]:
        """The instant query's result once it is not empty: what a subsystem started by serve
        (probes, checks) writes appears after its first run, not at readiness."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.http.get("/api/v1/query", params={"query": expr}).json()
            if r["status"] == "success" and r["data"]["result"]:
                return list(r["data"]["result"])
            time.sleep(0.25)
        raise AssertionError(f"{expr} returned nothing:\n{self.log.read_text()}")

    def stop(self) -> float:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(15)
        self.http.close()
        return time.monotonic() - started


@contextlib.contextmanager
def serving(tmp: Path, config: str) -> Iterator[Serve]:
    """``guardia serve`` on ``config`` (written to tmp/guardia.yml), ready, stopped afterwards."""
    cfg = tmp / "guardia.yml"
    cfg.write_text(config)
    s = Serve(tmp, "--config.file", str(cfg))
    try:
        s.wait_ready()
        yield s
    finally:
        if s.proc.poll() is None:
            s.stop()


@pytest.fixture
def serve_factory(tmp_path: Path) -> Iterator[list[Serve]]:
    made: list[Serve] = []
    yield made
    for s in made:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


def test_quickstart_scrapes_itself_and_the_demo_and_stops_cleanly(
    tmp_path: Path, serve_factory: list[Serve]
) -> None:
    s = Serve(tmp_path, "--web.enable-admin-api")
    serve_factory.append(s)
    s.wait_ready()
    s.wait_up("guardia")
    s.wait_up("demo-shop")
    snap = s.http.post("/api/v1/admin/tsdb/snapshot").json()
    assert snap["status"] == "success", snap
    assert (tmp_path / "data" / "snapshots" / snap["data"]["name"]).is_dir()
    assert s.http.get("/api/v1/status/tsdb").json()["data"]["headStats"]["numSeries"] > 10
    # a first self-scrape can come before guardia has answered any request (no
    # prometheus_http_requests_total yet): wait for the scrape that has them
    s.query_until('prometheus_http_requests_total{job="guardia"}', timeout=60)
    s.query_until('http_requests_total{job="demo-shop"}', timeout=60)
    names = s.http.get("/api/v1/label/__name__/values").json()["data"]
    assert "http_requests_total" in names and "prometheus_http_requests_total" in names
    targets = s.http.get("/api/v1/targets").json()["data"]["activeTargets"]
    assert {t["labels"]["job"] for t in targets} == {"guardia", "demo-shop"}
    assert s.http.get("/api/v1/status/config").json()["data"]["yaml"].count("job_name") == 2
    flags = s.http.get("/api/v1/status/flags").json()["data"]
    assert flags["web.listen-address"] == f"127.0.0.1:{s.port}"
    assert flags["storage.tsdb.retention.time"] == "15d"
    rt = s.http.get("/api/v1/status/runtimeinfo").json()["data"]
    assert rt["reloadConfigSuccess"] is True and rt["storageRetention"] == "15d"
    assert rt["CWD"] == str(tmp_path)
    metrics = s.http.get("/metrics").text
    for family in (
        "process_resident_memory_bytes",
        "prometheus_http_requests_total",
        "prometheus_target_scrape_pool_targets",
        "prometheus_tsdb_head_series",
        "prometheus_config_last_reload_successful 1.0",
        "prometheus_rule_evaluations_total",
    ):
        assert family in metrics, family
    fed = s.http.get("/federate", params={"match[]": '{job="demo-shop"}'})
    assert fed.status_code == 200 and 'http_requests_total{code="200"' in fed.text
    assert s.http.get("/federate").status_code == 400
    md = s.http.get("/api/v1/metadata", params={"metric": "http_requests_total"}).json()["data"]
    assert md["http_requests_total"][0]["type"] == "counter"
    tmd = s.http.get("/api/v1/targets/metadata", params={"match_target": '{job="demo-shop"}'}).json()["data"]
    assert any(e["metric"] == "http_request_duration_seconds" and e["type"] == "histogram" for e in tmd)
    # a second guardia on the same data directory is refused with the reason
    second = subprocess.run(
        [
            sys.executable,
            "-m",
            "guardia.cli.main",
            "serve",
            "--web.listen-address",
            f"127.0.0.1:{_free_port()}",
            "--storage.tsdb.path",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert second.returncode == 1 and "lock" in second.stderr.lower(), second.stderr

    seen_at = time.time()
    elapsed = s.stop()
    assert s.proc.returncode == 0, s.log.read_text()
    assert elapsed < 10
    assert "event=shutdown_complete" in s.log.read_text()

    # a restart on the same data directory still has what was scraped (WAL replay)
    again = Serve(tmp_path)
    serve_factory.append(again)
    again.wait_ready()
    r = again.http.get("/api/v1/query", params={"query": 'up{job="demo-shop"}', "time": seen_at}).json()
    assert r["data"]["result"], r
    assert again.stop() < 10


CONFIG = """
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: self
    basic_auth: {{username: monitor, password: hunter2-not-shown}}
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
{extra}
"""


def test_broken_config_on_reload_keeps_the_old_one(tmp_path: Path, serve_factory: list[Serve]) -> None:
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(CONFIG.format(port=_free_port(), extra=""))
    s = Serve(tmp_path, "--config", str(cfg))
    serve_factory.append(s)
    # the listen port was chosen by Serve; rewrite the config to scrape it, then reload
    cfg.write_text(CONFIG.format(port=s.port, extra=""))
    s.wait_ready()
    assert s.http.post("/-/reload").status_code == 200
    s.wait_up("self")
    shown = s.http.get("/api/v1/status/config").json()["data"]["yaml"]
    assert "hunter2-not-shown" not in shown and "<secret>" in shown and "monitor" in shown

    cfg.write_text("scrape_configs:\n  - job_name: self\n    scrape_interval: often\n")
    os.kill(s.proc.pid, signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline:
        info = s.http.get("/api/v1/status/runtimeinfo").json()["data"]
        if not info["reloadConfigSuccess"]:
            break
        time.sleep(0.1)
    assert info["reloadConfigSuccess"] is False
    assert "scrape_interval" in info["reloadConfigError"]
    r = s.http.post("/-/reload")
    assert r.status_code == 500 and "scrape_interval" in r.text
    # the old config still runs: same target, still scraped
    before = s.http.get("/api/v1/query", params={"query": 'timestamp(up{job="self"})'}).json()
    time.sleep(1.5)
    after = s.http.get("/api/v1/query", params={"query": 'timestamp(up{job="self"})'}).json()
    assert float(after["data"]["result"][0]["value"][1]) > float(before["data"]["result"][0]["value"][1])
    assert "prometheus_config_last_reload_successful 0.0" in s.http.get("/metrics").text

    extra = f'  - job_name: again\n    static_configs: [{{targets: ["127.0.0.1:{s.port}"]}}]'
    cfg.write_text(CONFIG.format(port=s.port, extra=extra))
    assert s.http.post("/-/reload").status_code == 200
    s.wait_up("again")
    assert s.http.get("/api/v1/status/runtimeinfo").json()["data"]["reloadConfigSuccess"] is True
    assert s.stop() < 10
    assert s.proc.returncode == 0


def test_broken_config_at_start_is_refused_with_the_reason(tmp_path: Path) -> None:
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("scrape_configs:\n  - job_name: x\n    static_configs: [{targets: ['nohostport/x']}]\n")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "guardia.cli.main",
            "serve",
            "--config",
            str(cfg),
            "--web.listen-address",
            f"127.0.0.1:{_free_port()}",
            "--storage.tsdb.path",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1
    assert "prometheus.yml" in out.stderr
    assert not (tmp_path / "d").exists()  # nothing created for a config that does not load


GUARDIA_YML = """
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [rules.yml]
scrape_configs:
  - job_name: self
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
alertmanager:
  route: {{receiver: team, group_wait: 1h}}
  receivers:
    - name: team
"""


RULES_YML = """
groups:
  - name: self
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: GuardiaScraped
        expr: up{job="self"} == 1
        labels: {severity: info}
        annotations: {summary: "{{ $labels.instance }} is up"}
"""


def test_rules_and_embedded_alertmanager(tmp_path: Path, serve_factory: list[Serve]) -> None:
    cfg = tmp_path / "guardia.yml"
    (tmp_path / "rules.yml").write_text(RULES_YML)
    cfg.write_text(GUARDIA_YML.format(port=_free_port()))
    s = Serve(tmp_path, "--config", str(cfg))
    serve_factory.append(s)
    s.wait_ready()
    cfg.write_text(GUARDIA_YML.format(port=s.port))
    assert s.http.post("/-/reload").status_code == 200
    s.wait_up("self")
    deadline = time.time() + 15
    fired: list[dict[str, object]] = []
    while time.time() < deadline and not fired:
        fired = [
            a for a in s.http.get("/api/v2/alerts").json() if a["labels"]["alertname"] == "GuardiaScraped"
        ]
        time.sleep(0.3)
    assert fired, s.log.read_text()
    assert fired[0]["annotations"]["summary"] == f"127.0.0.1:{s.port} is up"
    rules = s.http.get("/api/v1/rules").json()["data"]["groups"][0]["rules"]
    assert [r["name"] for r in rules] == ["job:up:sum", "GuardiaScraped"]
    assert rules[1]["state"] == "firing" and rules[1]["health"] == "ok"
    assert s.http.get("/api/v1/alerts").json()["data"]["alerts"][0]["labels"]["severity"] == "info"
    rec = s.http.get("/api/v1/query", params={"query": 'job:up:sum{job="self"}'}).json()["data"]["result"]
    assert rec and rec[0]["value"][1] == "1"
    status = s.http.get("/api/v2/status")
    assert status.status_code == 200, status.text
    r = s.http.post("/api/v2/alerts", json=[{"labels": {"alertname": "DiskFull", "severity": "page"}}])
    assert r.status_code == 200, r.text
    alerts = s.http.get("/api/v2/alerts").json()
    assert sorted(a["labels"]["alertname"] for a in alerts) == ["DiskFull", "GuardiaScraped"]
    assert s.http.get("/api/v2/receivers").json() == [{"name": "team"}]
    assert 'handler="/api/v2/alerts"' in s.http.get("/metrics").text
    assert s.stop() < 10


WIRING_YML = """
global: {scrape_interval: 1s, evaluation_interval: 1s, rule_query_offset: 10m}
rule_files: [wiring_rules.yml]
scrape_configs:
  - job_name: limited
    target_limit: 1
    static_configs: [{targets: ["127.0.0.1:1", "127.0.0.1:2"]}]
  - job_name: files
    file_sd_configs: [{files: [broken_sd.json]}]
alerting:
  alert_relabel_configs:
    - {target_label: team, replacement: infra}
    - {source_labels: [alertname], regex: Dropped, action: drop}
alertmanager:
  route: {receiver: team, group_wait: 1h}
  receivers:
    - name: team
"""

WIRING_RULES_YML = """
groups:
  - name: wiring
    rules:
      - record: eval_time
        expr: vector(time())
      - alert: Kept
        expr: vector(1)
      - alert: Dropped
        expr: vector(1)
"""


def test_query_offset_alert_relabel_and_held_back_targets(
    tmp_path: Path, serve_factory: list[Serve]
) -> None:
    (tmp_path / "wiring_rules.yml").write_text(WIRING_RULES_YML)
    (tmp_path / "broken_sd.json").write_text('[{"targets": ')
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(WIRING_YML)
    s = Serve(tmp_path, "--config", str(cfg))
    serve_factory.append(s)
    s.wait_ready()
    # global.rule_query_offset: rules evaluate (and record) 10 minutes in the past
    deadline = time.time() + 15
    lag: list[dict[str, object]] = []
    while time.time() < deadline and not lag:
        lag = s.http.get(
            "/api/v1/query", params={"query": "time() - last_over_time(eval_time[1h])"}
        ).json()["data"]["result"]
        time.sleep(0.3)
    assert lag, s.log.read_text()
    assert 595 <= float(lag[0]["value"][1]) <= 615  # type: ignore[index]
    # alerting.alert_relabel_configs: a label added, an alert dropped before Alertmanager
    deadline = time.time() + 15
    alerts: list[dict[str, object]] = []
    while time.time() < deadline and not alerts:
        alerts = s.http.get("/api/v2/alerts").json()
        time.sleep(0.3)
    assert [a["labels"] for a in alerts] == [{"alertname": "Kept", "team": "infra"}]
    # targets held back by target_limit are listed with the reason; discovery errors are warnings
    body = s.http.get("/api/v1/targets").json()
    limited = [t for t in body["data"]["activeTargets"] if t["scrapePool"] == "limited"]
    assert len(limited) == 2, body
    assert all(t["health"] == "down" and "target_limit exceeded" in t["lastError"] for t in limited)
    assert any(w.startswith('scrape pool "files": ') for w in body["warnings"]), body
    assert s.stop() < 10
