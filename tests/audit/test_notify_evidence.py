"""``guardia notify test`` outcomes as evidence: recorded by the CLI in a data directory and by a
running guardia (``--url``), read by ``guardia audit`` (receiver/failing) and ``guardia
readiness`` (delivery), against a real working sink and a real failing one (local HTTP servers).
A corrupt record file is reported line by line and costs nothing else."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.test_serve import Serve

SRC = str(Path(__file__).resolve().parents[2] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC}


class _Sink(http.server.BaseHTTPRequestHandler):
    """``/ok`` answers 200; ``/bad`` answers ``status["bad"]`` (404 until a test repairs it)."""

    status: ClassVar[dict[str, int]] = {}
    got: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.got.append(self.path)
        code = self.status.get(self.path.strip("/"), 200)
        assert json.loads(body)["alerts"][0]["labels"]["alertname"] == "GuardiaTestNotification"
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"no_service" if code >= 400 else b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[tuple[int, type[_Sink]]]:
    handler = type("Sink", (_Sink,), {"status": {"bad": 404}, "got": []})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_port, handler
    srv.shutdown()
    srv.server_close()


AM = """
route:
  receiver: team
  routes:
    - match: {severity: critical}
      receiver: pager
receivers:
  - name: team
    webhook_configs: [{url: 'http://127.0.0.1:SINK/ok'}]
  - name: pager
    webhook_configs: [{url: 'http://127.0.0.1:SINK/bad'}]
"""


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "guardia.cli.main", *args], capture_output=True, text=True,
                          timeout=120, env=env or ENV)


def _json(res: subprocess.CompletedProcess[str]) -> Any:
    assert res.returncode in (0, 1), res.stderr
    return json.loads(res.stdout)


def _delivery(*args: str) -> dict[str, Any]:
    doc = _json(_cli("readiness", *args, "--format", "json"))
    return next(i for i in doc["items"] if i["id"] == "delivery")


def test_cli_records_outcomes_that_audit_and_readiness_read(tmp_path: Path,
                                                           sink: tuple[int, type[_Sink]]) -> None:
    port, handler = sink
    am = tmp_path / "alertmanager.yml"
    am.write_text(AM.replace("SINK", str(port)))
    data = tmp_path / "data"
    record = data / "alertmanager" / "notify_tests.jsonl"

    # without a data directory nothing is recorded, and the CLI says so
    res = _cli("notify", "test", "--config", str(am), "--receiver", "team")
    assert res.returncode == 0 and res.stdout.startswith("OK      team/webhook[0]")
    assert "not recorded: give --storage.tsdb.path" in res.stderr and not record.exists()

    before = time.time()
    ok = _cli("notify", "test", "--config", str(am), "--receiver", "team", "--storage.tsdb.path", str(data))
    bad = _cli("notify", "test", "--config", str(am), "--receiver", "pager", "--storage.tsdb.path", str(data))
    assert ok.returncode == 0 and bad.returncode == 1
    assert "FAILED  pager/webhook[0]: unexpected status code 404" in bad.stdout
    assert f"recorded in {record}" in bad.stderr
    assert handler.got == ["/ok", "/ok", "/bad"]
    recs = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(r["receiver"], r["integration"], r["ok"]) for r in recs] == [
        ("team", "webhook[0]", True), ("pager", "webhook[0]", False)]
    assert all(r["time"] >= before and r["by"].startswith("cli") for r in recs)
    assert "404" in recs[1]["error"] and "no_service" in recs[1]["error"]

    # the audit: the failing receiver, at its line in alertmanager.yml, with the test's error and time
    found = _json(_cli("audit", str(am), "--storage.tsdb.path", str(data), "--format", "json"))
    failing = [f for f in found if f["check"] == "receiver/failing"]
    assert [(f["arg"], f["line"], f["severity"]) for f in failing] == [("pager", 10, "Bug")]
    assert "failed its last test at" in failing[0]["message"] and "404" in failing[0]["message"]

    # readiness: FAIL, with each test as evidence (timestamp, receiver, result)
    item = _delivery(str(am), "--storage.tsdb.path", str(data))
    assert item["status"] == "FAIL" and "pager" in item["summary"]
    tests = [e for e in item["evidence"] if e["file"] == str(record)]
    assert {(e["value"], e["timestamp"] >= before) for e in tests} == {("ok", True), ("error", True)}
    assert any('receiver "pager"' in e["text"] and "FAILED" in e["text"] for e in tests)

    # repaired and tested again: the audit is quiet and delivery passes
    handler.status["bad"] = 200
    res = _cli("notify", "test", "--config", str(am), "--receiver", "pager", "--storage.tsdb.path", str(data))
    assert res.returncode == 0, res.stdout
    found = _json(_cli("audit", str(am), "--storage.tsdb.path", str(data), "--format", "json"))
    assert [f for f in found if f["check"] == "receiver/failing"] == []
    item = _delivery(str(am), "--storage.tsdb.path", str(data))
    assert item["status"] == "PASS", item
    # the government profile wants a test within 7 days: a test from 8 days ago does not count
    old = [{**r, "time": r["time"] - 8 * 86400} for r in map(json.loads, record.read_text().splitlines())]
    record.write_text("".join(json.dumps(r) + "\n" for r in old))
    item = _delivery(str(am), "--storage.tsdb.path", str(data), "--profile", "government")
    assert item["status"] == "FAIL" and "team" in item["summary"] and "pager" in item["summary"]


def test_a_corrupt_record_file_is_reported_and_loses_nothing_else(tmp_path: Path,
                                                                  sink: tuple[int, type[_Sink]]) -> None:
    port, _ = sink
    am = tmp_path / "alertmanager.yml"
    am.write_text(AM.replace("SINK", str(port)))
    data = tmp_path / "data"
    record = data / "alertmanager" / "notify_tests.jsonl"
    record.parent.mkdir(parents=True)
    good = json.dumps({"time": time.time() - 60, "receiver": "pager", "integration": "webhook[0]",
                       "ok": False, "error": "unexpected status code 404", "by": "cli:ana"})
    # a hand edit in the middle and a write torn by a crash at the end (no newline)
    record.write_text(good + "\nnot json at all\n" + '{"time": 17960')
    res = _cli("notify", "test", "--config", str(am), "--receiver", "team", "--storage.tsdb.path", str(data))
    assert res.returncode == 0, res.stderr
    lines = record.read_text().splitlines()
    assert lines[:3] == [good, "not json at all", '{"time": 17960']  # nothing rewritten
    assert json.loads(lines[3])["receiver"] == "team"  # the torn line did not swallow the new record

    found = _json(_cli("audit", str(am), "--storage.tsdb.path", str(data), "--format", "json"))
    problems = [(f["file"], f["line"]) for f in found if f["check"] == "audit/evidence"]
    assert problems == [(str(record), 2), (str(record), 3)]
    assert "not a notify test record" in next(f["message"] for f in found if f["check"] == "audit/evidence")
    # the good records around the bad lines still count: pager's failure, team's success
    assert [f["arg"] for f in found if f["check"] == "receiver/failing"] == ["pager"]
    item = _delivery(str(am), "--storage.tsdb.path", str(data))
    assert any('receiver "team"' in e["text"] and e["value"] == "ok" for e in item["evidence"])

    # a record path that cannot be written: a clear error, exit 1, and the test's result still shown
    record.unlink()
    record.mkdir()
    res = _cli("notify", "test", "--config", str(am), "--receiver", "team", "--storage.tsdb.path", str(data))
    assert res.returncode == 1 and res.stdout.startswith("OK      team/webhook[0]")
    assert f"error: the outcome was not recorded in {record}" in res.stderr
    found = _json(_cli("audit", str(am), "--storage.tsdb.path", str(data), "--format", "json"))
    evidence = [f for f in found if f["check"] == "audit/evidence"]
    assert len(evidence) == 1 and "cannot be read" in evidence[0]["message"]
    # a record that cannot be read proves nothing either way: UNKNOWN, never PASS or FAIL
    assert _delivery(str(am), "--storage.tsdb.path", str(data))["status"] == "UNKNOWN"


CONFIG = """
global: {scrape_interval: 1s, evaluation_interval: 1s}
alertmanager:
  route:
    receiver: team
    routes:
      - match: {severity: critical}
        receiver: pager
  receivers:
    - name: team
      webhook_configs: [{url: 'http://127.0.0.1:SINK/ok'}]
    - name: pager
      webhook_configs: [{url: 'http://127.0.0.1:SINK/bad'}]
"""


def test_through_a_running_guardia(tmp_path: Path, sink: tuple[int, type[_Sink]]) -> None:
    port, handler = sink
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(CONFIG.replace("SINK", str(port)))
    s = Serve(tmp_path, "--config.file", str(cfg))
    record = tmp_path / "data" / "alertmanager" / "notify_tests.jsonl"
    try:
        s.wait_ready()
        bad = _cli("notify", "test", "--url", s.url, "--receiver", "pager")
        assert bad.returncode == 1, bad.stderr
        assert "FAILED  pager/webhook[0]: unexpected status code 404" in bad.stdout
        assert f"recorded by {s.url} in {record}" in bad.stderr
        ok = _cli("notify", "test", "--url", s.url, "--receiver", "team")
        assert ok.returncode == 0 and ok.stdout.startswith("OK      team/webhook[0]"), ok
        assert handler.got == ["/bad", "/ok"]
        assert [json.loads(line)["by"] for line in record.read_text().splitlines()] == ["api", "api"]

        data = s.http.get("/api/v1/notify/tests").json()["data"]
        assert [(r["receiver"], r["ok"]) for r in data["records"]] == [("team", True), ("pager", False)]
        unknown = _cli("notify", "test", "--url", s.url, "--receiver", "nobody")
        assert unknown.returncode == 1 and 'receiver "nobody" is not defined' in unknown.stderr
        usage = _cli("notify", "test", "--url", s.url, "--receiver", "team", "--config", str(cfg))
        assert usage.returncode == 2 and "drop --config" in usage.stderr

        # the serve audit reads its own record (a reload makes it audit at once)
        before = s.http.get("/api/v1/audit").json()["data"]["lastRun"] or 0
        assert s.http.post("/-/reload").status_code == 200
        deadline = time.time() + 30
        while (view := s.http.get("/api/v1/audit").json()["data"])["lastRun"] in (None, before):
            assert time.time() < deadline, "no audit after the reload"
            time.sleep(0.3)
        failing = [f for f in view["findings"] if f["check"] == "receiver/failing"]
        assert [f["arg"] for f in failing] == ["pager"] and "failed its last test" in failing[0]["message"]

        # guardia audit / readiness --url read the records through the API
        found = _json(_cli("audit", str(cfg), "--url", s.url, "--format", "json"))
        assert [f["arg"] for f in found if f["check"] == "receiver/failing"] == ["pager"]
        item = _delivery(str(cfg), "--url", s.url)
        assert item["status"] == "FAIL"
        via_api = [e for e in item["evidence"] if e["file"].endswith("/api/v1/notify/tests")]
        assert {e["value"] for e in via_api} == {"ok", "error"}

        # the server's own checklist: FAIL with the failed test, PASS once pager is repaired and
        # tested again, each test its evidence (the record file, receiver, result, time)
        ready = s.http.get("/api/v1/readiness", timeout=60).json()["data"]
        item = next(i for i in ready["items"] if i["id"] == "delivery")
        assert item["status"] == "FAIL" and "pager" in item["summary"]
        handler.status["bad"] = 200
        assert _cli("notify", "test", "--url", s.url, "--receiver", "pager").returncode == 0
        ready = s.http.get("/api/v1/readiness", timeout=60).json()["data"]
        item = next(i for i in ready["items"] if i["id"] == "delivery")
        assert item["status"] == "PASS", item
        tests = [e for e in item["evidence"] if e["file"] == str(record)]
        got = sorted((e["text"].split('"')[1], e["value"]) for e in tests)
        assert got == [("pager", "ok"), ("team", "ok")]
        assert all(e["timestamp"] for e in tests)
    finally:
        s.stop()
